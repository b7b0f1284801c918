"""The sync database on both dialects: migrations match the models, and the change counter
is commit ordered (a pull never skips a change committed late)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from okada.infra.db.migrations import upgrade, version_table
from okada.services.sync import service
from okada.services.sync.adapters.orm import metadata
from tests.services.sync.conftest import SyncEnv
from tests.support.databases import scratch_engine


@pytest.mark.parametrize(
    "dialect", ["sqlite", pytest.param("postgresql", marks=pytest.mark.distributed)])
async def test_head_matches_the_models(dialect: str, tmp_path: Path) -> None:
    async with scratch_engine(dialect, tmp_path) as engine:
        await upgrade(engine, service.migrations, "sync")

        def differences(conn: Any) -> list[Any]:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "version_table": version_table("sync")})
            return list(compare_metadata(context, metadata))

        async with engine.connect() as conn:
            assert await conn.run_sync(differences) == []


async def test_concurrent_writers_never_hide_behind_the_cursor(env: SyncEnv) -> None:
    """Pushes of many devices race with a device that keeps pulling: it ends with every row,
    and each timestamp it got is at least the previous one."""
    user = uuid.uuid4()
    reader = env.device(user, "reader")
    await reader.sync()
    writers = [env.device(user, f"w{i}") for i in range(4)]
    for w in writers:
        await w.sync()

    async def write(index: int) -> None:
        device = writers[index]
        for n in range(5):
            device.create("cart_items", f"w{index}n{n}", store_id="s", product_id="p",
                          quantity=n + 1)
            await device.sync()

    stamps: list[int] = []

    async def read() -> None:
        for _ in range(15):
            answer = await reader.sync(with_push=False)
            stamps.append(answer["timestamp"])
            await asyncio.sleep(0)

    await asyncio.gather(*(write(i) for i in range(len(writers))), read())
    await reader.sync()
    assert len(reader.live("cart_items")) == 20
    assert reader.live("cart_items") == await env.server_rows(user, "cart_items")
    assert stamps == sorted(stamps)
    assert reader.diagnostics == []
