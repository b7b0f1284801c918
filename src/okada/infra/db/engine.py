"""Engines for PostgreSQL (asyncpg) and SQLite (aiosqlite) with the settings each needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool


def is_sqlite(url: str) -> bool:
    """Return whether ``url`` points at SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """Create an async engine configured for the dialect.

    SQLite: WAL journal so readers never block the writer, a busy timeout instead of instant
    "database is locked" errors, foreign keys on, and ``BEGIN IMMEDIATE`` for every
    transaction so two writers never deadlock upgrading read locks to write locks.
    PostgreSQL: a bounded pool with pre-ping so connections killed by a failover are
    replaced instead of failing a request.
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
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
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
