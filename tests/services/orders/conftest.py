"""Orders and inventory hosted together (SQLite files or scratch PostgreSQL databases).

The harness builds the two real services on one host context with a frozen clock, starts the
in-process bus (so catalog, identity, payment and delivery events published by a test reach
the consumers) but no background worker: tests run the saga worker and inventory's sweeper
themselves, one pass at a time, after moving the clock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from okada.contracts.base import IntegrationEvent
from okada.contracts.catalog.v1 import (
    OfferState,
    OpeningSlot,
    PriceChanged,
    ProductState,
    ProductUpserted,
    StoreState,
    StoreUpdated,
    Text,
    offer_id,
)
from okada.contracts.identity.v1 import PhoneState, PlaceChanged, PlaceState, UserState, UserUpdated
from okada.infra.bus.inprocess import InProcessBus
from okada.infra.bus.policy import FAST_TEST_POLICY
from okada.infra.cache.memory import MemoryCache
from okada.infra.security.internal import PRINCIPAL_HEADER
from okada.infra.settings import Mode, PlatformSettings
from okada.kernel.authz import Principal, Role
from okada.kernel.clock import FrozenClock
from okada.kernel.messages import Envelope
from okada.runtime.host import ServiceHost, build_context
from tests.support.databases import scratch_engine

# Thursday 1 January 2026, 10:00 in Douala.
START = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)
DOUALA_CENTRE = (4.0511, 9.7679)
MTN_PHONE = "+237677123456"
ORANGE_PHONE = "+237691234567"


@dataclass
class Harness:
    """Orders + inventory, a frozen clock and helpers to drive them like their peers would."""

    host: ServiceHost
    clock: FrozenClock
    store_id: uuid.UUID = field(default_factory=uuid.uuid4)
    products: list[uuid.UUID] = field(default_factory=list)
    _clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    @property
    def ctx(self) -> Any:
        return self.host.ctx

    def client(self, service: str) -> httpx.AsyncClient:
        if service not in self._clients:
            transport = httpx.ASGITransport(app=self.host.runtimes[service].app)
            self._clients[service] = httpx.AsyncClient(
                transport=transport, base_url=f"http://{service}.test", timeout=60.0)
        return self._clients[service]

    @property
    def orders(self) -> httpx.AsyncClient:
        return self.client("orders")

    def auth(self, user_id: uuid.UUID, *roles: Role, stores: frozenset[uuid.UUID] = frozenset(),
             lang: str = "en") -> dict[str, str]:
        principal = Principal(user_id=user_id, roles=frozenset(roles or {Role.CUSTOMER}),
                              store_ids=stores)
        return {PRINCIPAL_HEADER: self.ctx.codec.encode(principal, ttl=3600),
                "accept-language": lang}

    def customer(self, user_id: uuid.UUID, lang: str = "en") -> dict[str, str]:
        return self.auth(user_id, Role.CUSTOMER, lang=lang)

    def merchant(self, store_id: uuid.UUID | None = None) -> dict[str, str]:
        return self.auth(uuid.uuid4(), Role.MERCHANT_STAFF,
                         stores=frozenset({store_id or self.store_id}))

    def operations(self) -> dict[str, str]:
        return self.auth(uuid.uuid4(), Role.OPERATIONS)

    def service(self) -> dict[str, str]:
        return self.ctx.service_principal_header("orders-tests")  # type: ignore[no-any-return]

    async def publish(self, *events: IntegrationEvent, producer: str = "tests") -> None:
        """Deliver contract events to the consumers (returns once they are applied)."""
        await self.ctx.bus.publish([
            Envelope(schema=e.schema_name, payload=e.to_payload(), producer=producer)
            for e in events])

    async def seed_store(self, *, stock: int = 100, products: int = 3, price: int = 500,
                         status: str = "open", hours: bool = True,
                         radius_m: int | None = 8000) -> None:
        """A store in Douala with ``products`` offers, each with ``stock`` units on the shelf."""
        slots = [OpeningSlot(weekday=d, opens="07:00", closes="22:00") for d in range(7)]
        await self.publish(StoreUpdated(entity_id=self.store_id, version=1, state=StoreState(
            name="Okada Akwa", kind="dark_store", city="Douala", quartier="Akwa",
            landmark="Carrefour Soudanaise", lat=DOUALA_CENTRE[0], lng=DOUALA_CENTRE[1],
            delivery_radius_m=radius_m, delivery_polygon=None,
            opening_hours=slots if hours else [], status=status, prep_minutes=10)))
        for index in range(products):
            product_id = uuid.uuid4()
            self.products.append(product_id)
            await self.publish(
                ProductUpserted(entity_id=product_id, version=1, state=ProductState(
                    sku=f"SKU-{index}", category_id=uuid.uuid4(),
                    name=Text(fr=f"Produit {index}", en=f"Product {index}"), description=None,
                    brand=None, unit=Text(fr="pièce", en="piece"), barcode=None, images=[],
                    tags=[], sold_by_weight=False)),
                PriceChanged(entity_id=offer_id(self.store_id, product_id), version=1,
                             state=OfferState(store_id=self.store_id, product_id=product_id,
                                              price_xaf=price * (index + 1), listed=True)),
            )
            if stock:
                await self.receive(product_id, stock)

    async def receive(self, product_id: uuid.UUID, quantity: int) -> None:
        response = await self.client("inventory").post(
            f"/v1/merchant/stores/{self.store_id}/stock/adjustments",
            json={"product_id": str(product_id), "kind": "receipt", "quantity": quantity},
            headers=self.operations())
        assert response.status_code == 201, response.text

    async def levels(self, product_id: uuid.UUID) -> tuple[int, int]:
        """(on_hand, reserved) of a product."""
        response = await self.client("inventory").get(
            f"/v1/inventory/stores/{self.store_id}/stock",
            params={"product_ids": str(product_id)}, headers=self.service())
        assert response.status_code == 200, response.text
        row = response.json()["data"][0]
        return int(row["on_hand"]), int(row["reserved"])

    async def reservation(self, reservation_id: uuid.UUID | str) -> dict[str, Any] | None:
        response = await self.client("inventory").get(
            f"/v1/inventory/reservations/{reservation_id}", headers=self.service())
        return None if response.status_code == 404 else dict(response.json())

    async def set_user(self, user_id: uuid.UUID, *, language: str = "fr",
                       phone: str = MTN_PHONE, version: int = 1) -> None:
        await self.publish(UserUpdated(entity_id=user_id, version=version, state=UserState(
            name="Awa", language=language, roles=["customer"], store_ids=[],
            phones=[PhoneState(e164=phone, operator="mtn", verified=True, primary=True)],
            disabled=False, created_at=START)))

    async def add_place(self, user_id: uuid.UUID, *, lat: float = 4.0530,
                        lng: float = 9.7700) -> uuid.UUID:
        place_id = uuid.uuid4()
        await self.publish(PlaceChanged(entity_id=place_id, version=1, state=PlaceState(
            user_id=user_id, label="Maison", city="Douala", quartier="Bonapriso",
            landmark="Derrière la pharmacie", directions=None, lat=lat, lng=lng,
            plus_code=None, contact_phone=MTN_PHONE, is_default=True)))
        return place_id

    def body(self, *, lines: list[tuple[uuid.UUID, int]] | None = None, method: str = "cash",
             phone: str | None = None, order_id: uuid.UUID | None = None,
             **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "store_id": str(self.store_id),
            "lines": [{"product_id": str(p), "quantity": q}
                      for p, q in (lines if lines is not None
                                   else [(self.products[0], 2), (self.products[1], 1)])],
            "address": {"city": "Douala", "quartier": "Bonapriso",
                        "landmark": "Derrière la pharmacie", "lat": 4.0530, "lng": 9.7700,
                        "contact_phone": MTN_PHONE},
            "payment": {"method": method, "phone": phone},
        }
        if order_id is not None:
            body["id"] = str(order_id)
        body.update(extra)
        return body

    async def checkout(self, customer: uuid.UUID, body: dict[str, Any] | None = None, *,
                       key: str | None = None, lang: str = "en") -> httpx.Response:
        return await self.orders.post(
            "/v1/orders", json=body or self.body(),
            headers={**self.customer(customer, lang), "Idempotency-Key": key or uuid.uuid4().hex})

    async def run_saga(self) -> int:
        """One pass of the saga worker (steps due now)."""
        return int(await self.host.runtimes["orders"].app.state.saga.run_once())

    async def sweep_inventory(self) -> int:
        return int(await self.host.runtimes["inventory"].app.state.sweeper.sweep_once())

    async def rows(self, table: str, where: str = "", **params: Any) -> list[dict[str, Any]]:
        query = f"SELECT * FROM {table} {where}"
        async with self.ctx.engine("orders").connect() as conn:
            result = await conn.execute(sa.text(query), params)
            return [dict(r._mapping) for r in result]

    async def outbox(self, schema: str) -> list[dict[str, Any]]:
        rows = await self.rows("outbox", "WHERE schema = :s ORDER BY seq", s=schema)
        return [r["envelope"] if isinstance(r["envelope"], dict) else json.loads(r["envelope"])
                for r in rows]

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        await self.host.stop()


@contextlib.asynccontextmanager
async def harness_on(dialect: str, tmp_path: Path, **overrides: Any) -> AsyncIterator[Harness]:
    """Orders + inventory on fresh databases of ``dialect``."""
    clock = FrozenClock(START)
    settings = PlatformSettings(mode=Mode.EMBEDDED, data_dir=tmp_path, log_json=True,
                                seed_demo_data=False)
    ctx = build_context(settings, bus=InProcessBus(FAST_TEST_POLICY), cache=MemoryCache(),
                        clock=clock, overrides=overrides)
    async with contextlib.AsyncExitStack() as stack:
        if dialect == "postgresql":
            for name in ("orders", "inventory"):
                scratch = await stack.enter_async_context(
                    scratch_engine("postgresql", tmp_path / name))
                engine = create_async_engine(scratch.url, pool_size=40, max_overflow=0,
                                             pool_timeout=60)
                stack.push_async_callback(engine.dispose)
                ctx.engines[name] = engine
        host = ServiceHost(ctx, ["inventory", "orders"])
        await host.build()
        await host.migrate()
        for runtime in host.runtimes.values():
            for sub in runtime.subscriptions:
                ctx.bus.subscribe(sub.consumer, sub.schemas, sub.handler,
                                  dead_letter=runtime.dead_letter)
        await ctx.bus.start()
        harness = Harness(host=host, clock=clock)
        try:
            yield harness
        finally:
            await harness.aclose()


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    """Orders + inventory on SQLite with a store of three products (100 units each)."""
    async with harness_on("sqlite", tmp_path) as harness:
        await harness.seed_store()
        yield harness
