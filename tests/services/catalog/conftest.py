"""The catalog in an embedded platform (catalog only, seeded), with callers of every role.

Public reads go through the gateway (routing, anonymous access, response cache). Merchant calls
go to the catalog app with the signed principal header the gateway would send: the gateway does
not route ``/v1/merchant/stores/`` yet, and this is the same trust path.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import func, select

from okada.infra.bus.policy import FAST_TEST_POLICY
from okada.infra.security.internal import PRINCIPAL_HEADER
from okada.infra.settings import Mode, PlatformSettings
from okada.kernel.authz import Principal, Role
from okada.kernel.clock import Clock, FrozenClock
from okada.runtime.embedded import create_embedded_app

SEED_FILE = Path(__file__).resolve().parents[3] / "src/okada/services/catalog/seed/catalog.json"
SEED: dict[str, Any] = orjson.loads(SEED_FILE.read_bytes())
FRIDAY_2230_DOUALA = dt.datetime(2026, 1, 9, 21, 30, tzinfo=dt.UTC)
"""Friday 9 January 2026, 22:30 in Douala (UTC+1): Akwa is open late, the others closed."""


def store_id(slug: str) -> uuid.UUID:
    """Id of a seeded store."""
    return uuid.UUID(next(s["id"] for s in SEED["stores"] if s["slug"] == slug))


def product(sku: str) -> dict[str, Any]:
    """A seeded product entry."""
    return next(p for p in SEED["products"] if p["sku"] == sku)


def seeded_offers(slug: str) -> list[dict[str, Any]]:
    """Seeded offers of a store."""
    sid = str(store_id(slug))
    return [o for o in SEED["offers"] if o["store_id"] == sid]


class Catalog:
    """One running platform: the gateway client, and direct clients per role."""

    def __init__(self, platform: FastAPI, gateway: httpx.AsyncClient) -> None:
        self.platform = platform
        self.gateway = gateway
        self.host = platform.state.host
        self.runtime = self.host.runtimes["catalog"]
        self._service = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.runtime.app), base_url="http://catalog"
        )

    def headers(
        self,
        *roles: Role,
        stores: tuple[uuid.UUID, ...] = (),
        language: str = "en",
    ) -> dict[str, str]:
        """Headers of a caller with ``roles`` (none: anonymous)."""
        headers = {"accept-language": language}
        if roles:
            principal = Principal(
                user_id=uuid.uuid4(), roles=frozenset(roles), store_ids=frozenset(stores)
            )
            headers[PRINCIPAL_HEADER] = self.host.ctx.codec.encode(principal)
        return headers

    def staff(self, slug: str, language: str = "en") -> dict[str, str]:
        """Merchant staff of one store."""
        return self.headers(Role.MERCHANT_STAFF, stores=(store_id(slug),), language=language)

    def ops(self, language: str = "en") -> dict[str, str]:
        """Operations staff."""
        return self.headers(Role.OPERATIONS, language=language)

    @property
    def service(self) -> httpx.AsyncClient:
        """A client calling the catalog app directly (no gateway cache in between)."""
        return self._service

    async def items(self, slug: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a store's product list, following cursors (read from the service)."""
        language = params.pop("language", "en")
        found: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {"limit": 100, **params, **({"cursor": cursor} if cursor else {})}
            response = await self.service.get(
                f"/v1/catalog/stores/{store_id(slug)}/products",
                params=query,
                headers={"accept-language": language},
            )
            assert response.status_code == 200, response.text
            page = response.json()
            found.extend(page["data"])
            cursor = page["next_cursor"]
            if not page["has_more"]:
                assert cursor is None
                return found

    async def outbox(self, schema: str | None = None) -> list[dict[str, Any]]:
        """Envelopes in the catalog outbox, oldest first."""
        table = self.runtime.metadata.tables["outbox"]
        query = select(table.c.envelope).order_by(table.c.seq)
        if schema is not None:
            query = query.where(table.c.schema == schema)
        async with self.host.ctx.engine("catalog").connect() as conn:
            return [row.envelope for row in (await conn.execute(query)).all()]

    async def drain(self, timeout: float = 20.0) -> None:
        """Wait until the relay delivered every outbox row (consumers applied them)."""
        table = self.runtime.metadata.tables["outbox"]
        query = select(func.count()).select_from(table).where(table.c.published_at.is_(None))
        async with asyncio.timeout(timeout):
            while True:
                async with self.host.ctx.engine("catalog").connect() as conn:
                    if not await conn.scalar(query):
                        return
                await asyncio.sleep(0.02)

    async def aclose(self) -> None:
        await self._service.aclose()


@asynccontextmanager
async def running_catalog(data_dir: Path, clock: Clock | None = None) -> AsyncIterator[Catalog]:
    """Start the embedded platform with only the catalog hosted (and seeded)."""
    settings = PlatformSettings(mode=Mode.EMBEDDED, data_dir=data_dir, log_json=True)
    app = create_embedded_app(
        settings,
        services=["catalog"],
        clock=clock,
        policy=FAST_TEST_POLICY,
        configure_logs=False,
    )
    async with LifespanManager(app, startup_timeout=120, shutdown_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=("203.0.113.9", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://okada.test") as client:
            catalog = Catalog(app, client)
            try:
                yield catalog
                # Stop only once the bus is idle: a consumer cancelled in the middle of a
                # delivery can miss the cancellation (asyncio.wait_for race in Python 3.11)
                # and hang the shutdown.
                await catalog.drain()
            finally:
                await catalog.aclose()


@pytest.fixture
async def catalog(tmp_path: Path) -> AsyncIterator[Catalog]:
    """A fresh seeded catalog for tests that change it."""
    async with running_catalog(tmp_path) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_catalog(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Catalog]:
    """One seeded catalog for a module of read-only tests, its clock frozen on a Friday night."""
    async with running_catalog(
        tmp_path_factory.mktemp("catalog"), FrozenClock(FRIDAY_2230_DOUALA)
    ) as running:
        yield running
