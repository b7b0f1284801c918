"""Inventory on a migrated scratch database of each dialect, driven through its application."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

import okada.services.inventory as inventory_package
from okada.infra.db.migrations import upgrade
from okada.kernel.clock import FrozenClock
from okada.services.inventory.adapters.orm import metadata, stock_items
from okada.services.inventory.adapters.repositories import InventoryUoW
from okada.services.inventory.application.reservations import ExpirySweeper, ReservationService
from okada.services.inventory.application.stock import StockService
from okada.services.inventory.domain.reservation import ReservationPolicy
from okada.services.inventory.domain.stock import StockItem
from tests.support.databases import scratch_engine

PLATFORM_TABLES = {name: metadata.tables[name] for name in
                   ("outbox", "inbox", "idempotency_keys", "dead_letters")}


@dataclass
class Inventory:
    """The inventory application on one database, with its parts exposed to tests."""

    dialect: str
    engine: AsyncEngine
    clock: FrozenClock
    reservations: ReservationService
    stock: StockService
    store_id: uuid.UUID

    def uow(self) -> InventoryUoW:
        return InventoryUoW(
            service="inventory",
            sessions=async_sessionmaker(self.engine, expire_on_commit=False),
            tables=PLATFORM_TABLES,
            clock=self.clock,
        )

    def sweeper(self) -> ExpirySweeper:
        return ExpirySweeper(uow_factory=self.uow, clock=self.clock)

    async def add_item(self, on_hand: int, *, threshold: int = 2, listed: bool = True,
                       product_id: uuid.UUID | None = None) -> uuid.UUID:
        product_id = product_id or uuid.uuid4()
        async with self.uow() as uow:
            await uow.stock.add(StockItem(store_id=self.store_id, product_id=product_id,
                                          on_hand=on_hand, reserved=0,
                                          low_stock_threshold=threshold, listed=listed))
            await uow.commit()
        return product_id

    async def levels(self, product_id: uuid.UUID) -> tuple[int, int]:
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                sa.select(stock_items.c.on_hand, stock_items.c.reserved).where(
                    stock_items.c.store_id == self.store_id,
                    stock_items.c.product_id == product_id))).one()
        return int(row.on_hand), int(row.reserved)

    async def outbox(self, schema: str) -> list[dict[str, Any]]:
        outbox = PLATFORM_TABLES["outbox"]
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(outbox.c.envelope).where(
                outbox.c.schema == schema).order_by(outbox.c.seq))).all()
        return [dict(r.envelope["payload"]) for r in rows]


def build_inventory(dialect: str, engine: AsyncEngine) -> Inventory:
    clock = FrozenClock()
    holder: dict[str, Inventory] = {}

    def uow() -> InventoryUoW:
        return holder["inv"].uow()

    inv = Inventory(
        dialect=dialect,
        engine=engine,
        clock=clock,
        reservations=ReservationService(uow_factory=uow, clock=clock,
                                        policy=ReservationPolicy()),
        stock=StockService(uow_factory=uow, clock=clock),
        store_id=uuid.uuid4(),
    )
    holder["inv"] = inv
    return inv


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.distributed)])
async def inv(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Inventory]:
    """Inventory on a freshly migrated database (PostgreSQL: a pool of 20 connections)."""
    async with scratch_engine(request.param, tmp_path) as scratch:
        await upgrade(scratch, inventory_package.service.migrations, "inventory")
        if request.param == "sqlite":
            yield build_inventory("sqlite", scratch)
            return
        engine = create_async_engine(scratch.url, pool_size=20, max_overflow=0, pool_timeout=60)
        try:
            yield build_inventory("postgresql", engine)
        finally:
            await engine.dispose()
