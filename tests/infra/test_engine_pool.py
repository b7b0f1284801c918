"""PostgreSQL engines use a fixed pool; SQLite keeps its own settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.pool import NullPool, QueuePool

from okada.infra.db.engine import PoolSettings, create_engine
from tests.support.services import require_postgres

PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


async def test_postgres_pool_is_fixed_with_bounded_recycle_and_no_pre_ping() -> None:
    engine = create_engine(PG_URL)
    try:
        pool = engine.sync_engine.pool
        assert isinstance(pool, QueuePool)
        assert pool.size() == 10
        assert pool._max_overflow == 0  # no overflow: backends are never churned
        assert pool._recycle == 1800
        assert pool._pre_ping is False
        assert pool._timeout == 30.0
    finally:
        await engine.dispose()


async def test_pool_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKADA_DB_POOL_SIZE", "4")
    monkeypatch.setenv("OKADA_DB_POOL_RECYCLE", "600")
    monkeypatch.setenv("OKADA_DB_POOL_PRE_PING", "true")
    engine = create_engine(PG_URL)
    explicit = create_engine(PG_URL, pool_size=7, pool=PoolSettings(recycle=900))
    try:
        pool = engine.sync_engine.pool
        assert isinstance(pool, QueuePool)
        assert (pool.size(), pool._max_overflow, pool._recycle, pool._pre_ping) == (
            4, 0, 600, True,
        )
        other = explicit.sync_engine.pool
        assert isinstance(other, QueuePool)
        assert (other.size(), other._max_overflow, other._recycle) == (7, 0, 900)
    finally:
        await engine.dispose()
        await explicit.dispose()


def test_unbounded_recycle_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKADA_DB_POOL_RECYCLE", "0")
    with pytest.raises(ValueError):
        PoolSettings()


async def test_a_burst_beyond_the_pool_waits_instead_of_opening_backends() -> None:
    require_postgres()
    import asyncio

    engine = create_engine(PG_URL, pool_size=2)
    try:
        async def one() -> int:
            async with engine.connect() as conn:
                pid: int = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                await asyncio.sleep(0.05)
                return pid

        pids = await asyncio.gather(*(one() for _ in range(8)))
        assert len(set(pids)) == 2
        assert engine.sync_engine.pool.checkedin() == 2  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def test_sqlite_keeps_its_settings(tmp_path: Path) -> None:
    memory = create_engine("sqlite+aiosqlite:///:memory:")
    file = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x' / 'db.sqlite'}")
    try:
        assert isinstance(memory.sync_engine.pool, NullPool)
        async with file.begin() as conn:
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
        assert mode == "wal"
    finally:
        await memory.dispose()
        await file.dispose()
