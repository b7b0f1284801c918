"""Delivery on a migrated scratch database of each dialect, driven through its application.

Events of other services (catalog, identity, orders, payments) are fed as contract envelopes
through the service's own bus handler (the idempotent consumer), exactly as a bus delivers
them; orders and payments need not exist.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

import okada.services.delivery as delivery_package
from okada.contracts.base import IntegrationEvent
from okada.contracts.catalog.v1 import OpeningSlot, StoreState, StoreUpdated
from okada.contracts.identity.v1 import PhoneState, UserRegistered, UserState
from okada.contracts.orders.v1 import (
    DeliveryAddressState,
    OrderAccepted,
    OrderLineState,
    OrderPaymentState,
    OrderReady,
    OrderState,
)
from okada.contracts.payments.v1 import CashCollected, CashLedgerState
from okada.infra.db.migrations import upgrade
from okada.infra.db.uow import idempotent_consumer
from okada.kernel.clock import FrozenClock
from okada.kernel.messages import Envelope
from okada.services.delivery.adapters.gazetteer_file import read_gazetteer
from okada.services.delivery.adapters.geoindex import MemoryGeoIndex
from okada.services.delivery.adapters.orm import metadata
from okada.services.delivery.adapters.ping_writer import PgPingWriter
from okada.services.delivery.adapters.repositories import DeliveryUoW
from okada.services.delivery.application.consumers import CONSUMER, HANDLED
from okada.services.delivery.application.riders import ShiftChange
from okada.services.delivery.bootstrap import assemble
from okada.services.delivery.domain.delivery import Delivery
from okada.services.delivery.entrypoints.api import Services
from okada.services.delivery.settings import DeliverySettings
from tests.support.databases import scratch_engine

PLATFORM_TABLES = {name: metadata.tables[name] for name in
                   ("outbox", "inbox", "idempotency_keys", "dead_letters")}
GAZETTEER = read_gazetteer()
# Monday 5 January 2026, 12:00 in Douala (11:00 UTC): day speed, not rush hour.
NOON = dt.datetime(2026, 1, 5, 11, 0, tzinfo=dt.UTC)
AKWA = (4.0500, 9.7000)
BONAMOUSSADI = (4.0900, 9.7450)


@dataclass
class Harness:
    """The delivery application on one database, with helpers to feed it events."""

    dialect: str
    engine: AsyncEngine
    clock: FrozenClock
    index: MemoryGeoIndex
    settings: DeliverySettings
    services: Services = field(init=False)
    _handler: Any = field(init=False)
    _versions: dict[uuid.UUID, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # As bootstrap wires it: the one-statement ping writer on PostgreSQL.
        writer = PgPingWriter(self.engine) if self.dialect == "postgresql" else None
        self.services, handlers = assemble(uow_factory=self.uow, clock=self.clock,
                                           index=self.index, gazetteer=GAZETTEER,
                                           settings=self.settings, ping_writer=writer)
        self._handler = idempotent_consumer(CONSUMER, self.uow, handlers, dict(HANDLED))

    def uow(self) -> DeliveryUoW:
        return DeliveryUoW(service="delivery", sessions=self.sessions, tables=PLATFORM_TABLES,
                           clock=self.clock)

    def _version(self, entity: uuid.UUID) -> int:
        self._versions[entity] = self._versions.get(entity, 0) + 1
        return self._versions[entity]

    async def deliver(self, event: IntegrationEvent) -> None:
        """Hand an event to delivery's consumer as the bus would."""
        await self._handler(Envelope(schema=event.schema_name, payload=event.to_payload(),
                                     producer="test"))

    async def store(self, *, lat: float = AKWA[0], lng: float = AKWA[1],
                    radius_m: int | None = 8000,
                    polygon: list[tuple[float, float]] | None = None,
                    prep_minutes: int = 10, status: str = "open",
                    opening_hours: list[OpeningSlot] | None = None) -> uuid.UUID:
        store_id = uuid.uuid4()
        await self.deliver(StoreUpdated(
            entity_id=store_id, version=self._version(store_id),
            state=StoreState(name="Okada Akwa", kind="dark_store", city="Douala",
                             quartier="Akwa", landmark=None, lat=lat, lng=lng,
                             delivery_radius_m=radius_m, delivery_polygon=polygon,
                             opening_hours=opening_hours or [], status=status,
                             prep_minutes=prep_minutes)))
        return store_id

    async def rider(self, lat: float, lng: float, *, online: bool = True,
                    cash_xaf: int = 0, float_limit_xaf: int = 50_000) -> uuid.UUID:
        rider_id = uuid.uuid4()
        await self.deliver(UserRegistered(
            entity_id=rider_id, version=1,
            state=UserState(name="Rider", language="fr", roles=["rider"], store_ids=[],
                            phones=[PhoneState(e164="+237677000111", operator="mtn",
                                               verified=True, primary=True)],
                            disabled=False, created_at=self.clock.now())))
        if cash_xaf:
            await self.deliver(CashCollected(
                entity_id=rider_id, version=1, order_id=uuid.uuid4(), amount_xaf=cash_xaf,
                state=CashLedgerState(rider_id=rider_id, cash_in_hand_xaf=cash_xaf,
                                      float_limit_xaf=float_limit_xaf,
                                      updated_at=self.clock.now())))
        if online:
            await self.services.riders.set_shift(
                ShiftChange(rider_id=rider_id, shift="online", lat=lat, lng=lng))
        return rider_id

    def order_state(self, store_id: uuid.UUID, *, customer_id: uuid.UUID,
                    **fields: Any) -> OrderState:
        return order_state(store_id, customer_id=customer_id, now=self.clock.now(), **fields)

    async def order(self, store_id: uuid.UUID, *, customer_id: uuid.UUID | None = None,
                    ready: bool = False, **state: Any) -> tuple[uuid.UUID, Delivery]:
        """The store accepted an order (and marked it ready): delivery creates the job."""
        order_id = uuid.uuid4()
        customer = customer_id or uuid.uuid4()
        await self.deliver(OrderAccepted(entity_id=order_id, version=self._version(order_id),
                                         state=self.order_state(store_id, customer_id=customer,
                                                                **state)))
        if ready:
            await self.mark_ready(order_id, store_id, customer)
        delivery = await self.by_order(order_id)
        return order_id, delivery

    async def mark_ready(self, order_id: uuid.UUID, store_id: uuid.UUID,
                         customer_id: uuid.UUID) -> None:
        await self.deliver(OrderReady(
            entity_id=order_id, version=self._version(order_id),
            state=self.order_state(store_id, customer_id=customer_id,
                                   status="READY_FOR_PICKUP")))

    async def by_order(self, order_id: uuid.UUID) -> Delivery:
        async with self.uow() as uow:
            found = await uow.deliveries.by_order(order_id)
        assert found is not None
        return found

    async def get(self, delivery_id: uuid.UUID) -> Delivery:
        return await self.services.deliveries.get(delivery_id)

    async def outbox(self, schema: str) -> list[dict[str, Any]]:
        outbox = PLATFORM_TABLES["outbox"]
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(outbox.c.envelope).where(
                outbox.c.schema == schema).order_by(outbox.c.seq))).all()
        return [dict(r.envelope["payload"]) for r in rows]

    async def dispatch_offers(self) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """Run the dispatcher once; return (offer id, rider id) of the offers it made."""
        outbox = PLATFORM_TABLES["outbox"]
        async with self.engine.connect() as conn:
            before = (await conn.execute(sa.select(sa.func.max(outbox.c.seq)))).scalar() or 0
        await self.services.dispatch.run_once()
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(outbox.c.envelope).where(
                outbox.c.seq > before, outbox.c.schema == "delivery.v1.DeliveryOffered"
            ).order_by(outbox.c.seq))).all()
        made = [r.envelope["payload"] for r in rows]
        return [(uuid.UUID(e["offer_id"]), uuid.UUID(e["offered_rider_id"])) for e in made]


def order_state(store_id: uuid.UUID, *, customer_id: uuid.UUID, now: dt.datetime,
                status: str = "ACCEPTED", method: str = "mtn_momo", payable_xaf: int = 6500,
                drop: tuple[float, float] | None = BONAMOUSSADI, quartier: str = "Bonamoussadi",
                landmark: str | None = "carrefour Eto'o") -> OrderState:
    """An order's state as orders.v1 carries it (paid by mobile money unless told)."""
    return OrderState(
        customer_id=customer_id, store_id=store_id, status=status,
        lines=[OrderLineState(product_id=uuid.uuid4(), name="Riz", unit="1 kg", quantity=2,
                              unit_price_xaf=3000, line_total_xaf=6000)],
        subtotal_xaf=6000, delivery_fee_xaf=500, total_xaf=6500, payable_xaf=payable_xaf,
        payment=OrderPaymentState(method=method, status="captured"),
        address=DeliveryAddressState(city="Douala", quartier=quartier, landmark=landmark,
                                     lat=drop[0] if drop else None,
                                     lng=drop[1] if drop else None,
                                     contact_phone="+237677123456"),
        placed_at=now, updated_at=now)


def make_settings(**overrides: Any) -> DeliverySettings:
    return DeliverySettings(**overrides)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.distributed)])
async def dialect_engine(request: pytest.FixtureRequest,
                         tmp_path: Path) -> AsyncIterator[tuple[str, AsyncEngine]]:
    """A freshly migrated delivery database (PostgreSQL: a pool of 20 connections)."""
    async with scratch_engine(request.param, tmp_path) as scratch:
        await upgrade(scratch, delivery_package.service.migrations, "delivery")
        if request.param == "sqlite":
            yield "sqlite", scratch
            return
        engine = create_async_engine(scratch.url, pool_size=20, max_overflow=0, pool_timeout=60)
        try:
            yield "postgresql", engine
        finally:
            await engine.dispose()


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated SQLite delivery database (for the tests whose logic is dialect-free)."""
    async with scratch_engine("sqlite", tmp_path) as scratch:
        await upgrade(scratch, delivery_package.service.migrations, "delivery")
        yield scratch


@pytest.fixture
async def h(sqlite_engine: AsyncEngine) -> Harness:
    return Harness("sqlite", sqlite_engine, FrozenClock(NOON), MemoryGeoIndex(),
                   make_settings())
