"""Identity migrations: the tables match the models, and 0002 keeps existing accounts."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from okada.infra.db.migrations import upgrade, version_table
from okada.services.identity import service
from okada.services.identity.adapters.orm import metadata, phones, users
from tests.support.databases import scratch_engine

USER_ID = uuid.UUID("0190f5d2-0000-7000-8000-00000000c0de")
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "dialect", ["sqlite", pytest.param("postgresql", marks=pytest.mark.distributed)]
)
async def test_head_matches_the_models_and_keeps_accounts(dialect: str, tmp_path: Path) -> None:
    async with scratch_engine(dialect, tmp_path) as engine:
        # Given an account created under revision 0001
        await upgrade(engine, service.migrations, "identity", "0001")
        async with engine.begin() as conn:
            await conn.execute(
                users.insert().values(
                    id=USER_ID,
                    language="fr",
                    roles=["customer"],
                    store_ids=[],
                    disabled=False,
                    created_at=NOW,
                    updated_at=NOW,
                    version=1,
                )
            )
            await conn.execute(
                phones.insert().values(
                    id=uuid.uuid4(),
                    user_id=USER_ID,
                    e164="+237677000001",
                    operator="mtn",
                    verified=True,
                    is_primary=True,
                    created_at=NOW,
                )
            )
        # When migrating to head
        await upgrade(engine, service.migrations, "identity")

        # Then the schema is exactly what the models describe, and the account is intact
        def differences(conn: Any) -> list[Any]:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "version_table": version_table("identity")}
            )
            return list(compare_metadata(context, metadata))

        async with engine.connect() as conn:
            assert await conn.run_sync(differences) == []
            row = (
                await conn.execute(
                    sa.select(phones.c.e164, phones.c.verified).where(phones.c.user_id == USER_ID)
                )
            ).one()
        assert tuple(row) == ("+237677000001", True)
        # and a second verified holder of the number is refused by the database itself
        with pytest.raises(sa.exc.IntegrityError):
            async with engine.begin() as conn:
                other = uuid.uuid4()
                await conn.execute(
                    users.insert().values(
                        id=other,
                        language="fr",
                        roles=[],
                        store_ids=[],
                        disabled=False,
                        created_at=NOW,
                        updated_at=NOW,
                        version=1,
                    )
                )
                await conn.execute(
                    phones.insert().values(
                        id=uuid.uuid4(),
                        user_id=other,
                        e164="+237677000001",
                        operator="mtn",
                        verified=True,
                        is_primary=True,
                        created_at=NOW,
                    )
                )
