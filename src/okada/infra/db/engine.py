"""Engines for PostgreSQL (asyncpg) and SQLite (aiosqlite) with the settings each needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool


def is_sqlite(url: str) -> bool:
    """Return whether ``url`` points at SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


class PoolSettings(BaseSettings):
    """PostgreSQL pool settings, from ``OKADA_DB_POOL_*`` environment variables.

    Attributes:
        size: Connections each engine keeps open (the pool never grows beyond it).
        timeout: Seconds a request waits for a free connection before failing.
        recycle: Seconds after which a connection is replaced when next checked out, so
            server-side memory growth and idle-connection killers stay bounded.
        pre_ping: Test each connection with a round trip on checkout (costs one round trip per
            transaction; only worth it behind something that silently drops idle connections).
    """

    model_config = SettingsConfigDict(env_prefix="OKADA_DB_POOL_", extra="ignore", frozen=True)

    size: int = Field(default=10, ge=1, le=200)
    timeout: float = Field(default=30.0, gt=0)
    recycle: int = Field(default=1800, ge=60, le=86_400)
    pre_ping: bool = False


def create_engine(
    url: str,
    *,
    pool_size: int | None = None,
    echo: bool = False,
    pool: PoolSettings | None = None,
) -> AsyncEngine:
    """Create an async engine configured for the dialect.

    SQLite: WAL journal so readers never block the writer, a busy timeout instead of instant
    "database is locked" errors, foreign keys on, and ``BEGIN IMMEDIATE`` for every
    transaction so two writers never deadlock upgrading read locks to write locks.

    PostgreSQL: a **fixed** pool (``max_overflow=0``). An overflow connection is closed as
    soon as it is returned to a full pool, so under fluctuating load a pool with overflow
    keeps starting and stopping server backends (each start costs a fork, authentication and
    catalog cache warm-up: long latency tails; see bench/results/w7_gateway.md). With a fixed
    pool, a burst beyond ``size`` concurrent transactions waits up to ``timeout`` seconds for
    a connection instead. Connections are recycled after ``recycle`` seconds; pre-ping is
    off by default (a dead connection fails one transaction, which the pool then replaces).

    Args:
        url: SQLAlchemy URL (``postgresql+asyncpg://`` or ``sqlite+aiosqlite://``).
        pool_size: Overrides the configured pool size.
        echo: Log SQL.
        pool: Pool settings; read from the environment when None.
    """
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            echo=echo,
            poolclass=NullPool if database in (None, "", ":memory:") else None,
            connect_args={"timeout": 30},
        )
        _configure_sqlite(engine)
        return engine
    settings = pool or PoolSettings()
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size or settings.size,
        max_overflow=0,
        pool_timeout=settings.timeout,
        pool_pre_ping=settings.pre_ping,
        pool_recycle=settings.recycle,
        connect_args={"timeout": 10, "command_timeout": 30},
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the driver so BEGIN IMMEDIATE below is honoured.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


async def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in ``url`` if it does not exist (no-op on SQLite)."""
    if is_sqlite(url):
        return
    import asyncpg  # type: ignore[import-untyped]

    parsed = make_url(url)
    name = parsed.database
    if not name:
        return
    admin = parsed.set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False), timeout=10)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            quoted = '"' + name.replace('"', '""') + '"'
            try:
                await conn.execute(f"CREATE DATABASE {quoted}")
            except asyncpg.DuplicateDatabaseError:
                pass  # another process created it between our check and our CREATE
    finally:
        await conn.close()
