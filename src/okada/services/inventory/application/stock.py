"""Stock levels and merchant adjustments with their audit trail."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from okada.kernel.clock import Clock
from okada.kernel.errors import ConcurrencyConflict
from okada.kernel.ids import new_id
from okada.services.inventory.application.errors import StockItemNotFound
from okada.services.inventory.application.model import AdjustmentRecord, Page
from okada.services.inventory.application.ports import InventoryUnitOfWork
from okada.services.inventory.application.publishing import publish_level_change
from okada.services.inventory.application.retry import with_retries
from okada.services.inventory.domain.stock import (
    DEFAULT_LOW_STOCK_THRESHOLD,
    AdjustmentKind,
    StockItem,
)

UowFactory = Callable[[], InventoryUnitOfWork]

MAX_NOTE_LENGTH = 500
CAS_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class AdjustStock:
    """Command: a merchant changes the shelf count of one product."""

    store_id: uuid.UUID
    product_id: uuid.UUID
    kind: AdjustmentKind
    quantity: int
    actor_id: uuid.UUID
    note: str | None = None


@dataclass(frozen=True, slots=True)
class SeedRow:
    """One item of the demo data set."""

    store_id: uuid.UUID
    product_id: uuid.UUID
    on_hand: int
    low_stock_threshold: int = DEFAULT_LOW_STOCK_THRESHOLD


class StockService:
    """Reads of stock levels and merchant adjustments."""

    def __init__(self, *, uow_factory: UowFactory, clock: Clock) -> None:
        self._uow = uow_factory
        self._clock = clock

    async def levels(
        self, store_id: uuid.UUID, product_ids: Sequence[uuid.UUID]
    ) -> list[StockItem]:
        """The store's items of these products, in the order asked (unknown ones left out)."""
        async with self._uow() as uow:
            items = await uow.stock.get_many(store_id, list(dict.fromkeys(product_ids)))
        return [items[p] for p in dict.fromkeys(product_ids) if p in items]

    async def list_store(
        self, store_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
    ) -> list[StockItem]:
        """A page of a store's items by product id."""
        async with self._uow() as uow:
            return await uow.stock.list_store(store_id, after=after, limit=limit)

    async def adjust(self, command: AdjustStock) -> tuple[StockItem, AdjustmentRecord]:
        """Apply a receipt, count, damage or return and record it in the audit trail.

        Business rules:
            - ``receipt``/``return`` add, ``damage`` removes, ``count`` sets the shelf count.
            - ``on_hand`` never drops below ``reserved`` (409 ``stock_below_reserved``): units
              promised to orders stay on the shelf.
            - The write is one guarded statement: receipts, returns and damage add their delta
              to whatever is on the shelf (never below ``reserved``); a count swaps the shelf
              count only if it is still the one read. Reservations landing in between are
              never overwritten; a count that lost a race is planned again from fresh levels
              (3 attempts, then 409 ``concurrency_conflict``).
            - The audit row (who, when, kind, quantity, delta, before/after, note) commits with
              the change, and ``StockLevelChanged`` (plus ``LowStock`` on crossing the
              threshold) goes out through the outbox.
        """
        note = (command.note or "").strip()[:MAX_NOTE_LENGTH] or None

        async def attempt() -> tuple[StockItem, AdjustmentRecord]:
            for _ in range(CAS_ATTEMPTS):
                async with self._uow() as uow:
                    done = await self._adjust_once(uow, command, note)
                    if done is not None:
                        return done
            raise ConcurrencyConflict()

        return await with_retries(attempt)

    async def _adjust_once(
        self, uow: InventoryUnitOfWork, command: AdjustStock, note: str | None
    ) -> tuple[StockItem, AdjustmentRecord] | None:
        items = await uow.stock.get_many(command.store_id, [command.product_id])
        item = items.get(command.product_id)
        if item is None:
            raise StockItemNotFound(command.product_id)
        plan = item.plan_adjustment(command.kind, command.quantity)
        if plan.absolute:
            after = await uow.stock.replace_on_hand(
                command.store_id, command.product_id,
                expected=plan.on_hand_before, on_hand=plan.on_hand_after,
            )
        else:
            after = await uow.stock.add_to_on_hand(
                command.store_id, command.product_id, plan.delta
            )
        if after is None:
            return None  # the levels moved since we read them: plan again from fresh ones
        if not plan.absolute:
            # Other adjustments may have landed between our read and our write; the audit
            # records the shelf count this very statement changed.
            plan = plan.rebased(after.on_hand - plan.delta)
        record = AdjustmentRecord(
            id=new_id(),
            store_id=command.store_id,
            product_id=command.product_id,
            kind=command.kind,
            quantity=command.quantity,
            delta=plan.delta,
            on_hand_before=plan.on_hand_before,
            on_hand_after=plan.on_hand_after,
            reserved=after.reserved,
            note=note,
            actor_id=command.actor_id,
            created_at=self._clock.now(),
            stock_version=after.version,
        )
        await uow.adjustments.add(record)
        publish_level_change(uow, after, reason=command.kind.value,
                             before_available=after.available - plan.delta)
        await uow.commit()
        return after, record

    async def adjustments(
        self,
        store_id: uuid.UUID,
        *,
        product_id: uuid.UUID | None,
        before: tuple[dt.datetime, uuid.UUID] | None,
        limit: int,
    ) -> Page[AdjustmentRecord]:
        """A store's audit trail, newest first."""
        async with self._uow() as uow:
            rows = await uow.adjustments.page(
                store_id, product_id=product_id, before=before, limit=limit + 1
            )
        more = len(rows) > limit
        rows = rows[:limit]
        cursor = (rows[-1].created_at, rows[-1].id) if more and rows else None
        return Page(items=rows, next_after=cursor)

    async def seed(self, rows: Sequence[SeedRow]) -> int:
        """Load the demo stock if there is none yet; return the items written.

        Business rules: seeding only ever fills an empty table, so restarting a demo never
        overwrites the stock people changed. Items seeded empty are announced
        (``StockLevelChanged``) so the catalog marks them out of stock; the catalog assumes
        in stock for items it has heard nothing about, so the others need no event.
        """
        async with self._uow() as uow:
            if await uow.stock.count() > 0:
                return 0
            unique = {(r.store_id, r.product_id): r for r in rows}
            items = [
                StockItem(
                    store_id=r.store_id,
                    product_id=r.product_id,
                    on_hand=r.on_hand,
                    reserved=0,
                    low_stock_threshold=r.low_stock_threshold,
                )
                for r in unique.values()
            ]
            await uow.stock.add_many(items)
            for item in items:
                if item.on_hand == 0:
                    publish_level_change(uow, item, reason="count", before_available=0)
            await uow.commit()
            return len(unique)

