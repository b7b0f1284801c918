"""Alembic per service: own folder, own version table, batch mode on SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


def version_table(service: str) -> str:
    """The Alembic version table of ``service``."""
    return f"alembic_version_{service}"


def alembic_config(migrations: Path, service: str) -> Config:
    """An Alembic config pointing at a service's migrations folder."""
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.set_main_option("path_separator", "os")
    config.attributes["service"] = service
    return config


async def upgrade(
    engine: AsyncEngine, migrations: Path, service: str, revision: str = "head"
) -> None:
    """Upgrade ``service``'s database to ``revision``.

    On PostgreSQL a transaction-scoped advisory lock keeps two replicas starting together
    from migrating at the same time.
    """
    config = alembic_config(migrations, service)
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:n))"), {"n": service})
        await conn.run_sync(_run, config, "upgrade", revision)


async def downgrade(engine: AsyncEngine, migrations: Path, service: str, revision: str) -> None:
    """Downgrade ``service``'s database to ``revision``."""
    config = alembic_config(migrations, service)
    async with engine.begin() as conn:
        await conn.run_sync(_run, config, "downgrade", revision)


def _run(connection: Connection, config: Config, action: str, revision: str) -> None:
    config.attributes["connection"] = connection
    getattr(command, action)(config, revision)


def run_env(target_metadata: MetaData) -> None:
    """Body of every service's ``env.py``: migrate the connection handed over by the runner."""
    from alembic import context

    config = context.config
    service: str = config.attributes["service"]
    connection: Any = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through 'okada migrate', which supplies a connection")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=version_table(service),
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
