"""Throwaway databases for port contract tests: a SQLite file or a fresh PostgreSQL database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import AsyncEngine

from okada.infra.db.engine import create_engine, ensure_database
from tests.support.services import require_postgres

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432"


@asynccontextmanager
async def scratch_engine(dialect: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """Yield an engine on an empty database of ``dialect``, dropped afterwards."""
    if dialect == "sqlite":
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}")
        try:
            yield engine
        finally:
            await engine.dispose()
        return
    require_postgres()
    name = f"okada_test_{uuid.uuid4().hex[:10]}"
    url = f"{POSTGRES_URL}/{name}"
    await ensure_database(url)
    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()
        conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres", timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
