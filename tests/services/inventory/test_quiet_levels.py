"""Quiet stock levels: order flow publishes ``StockLevelChanged`` only on availability changes.

The service runs with ``INVENTORY_STOCK_LEVEL_EVENTS=availability`` (the default): holds,
confirmations, releases and expiries publish an item's level only when its availability
crossed zero or its low-stock threshold, so a busy item costs no event per order line while
catalog, sync and the gateway cache still see every change of what they show.
"""

from __future__ import annotations

import uuid

from okada.services.inventory.application.reservations import (
    ExpirySweeper,
    ReservationService,
    ReserveBasket,
)
from okada.services.inventory.domain.reservation import ReservationPolicy
from okada.services.inventory.settings import InventorySettings
from tests.services.inventory.conftest import Inventory


def _quiet(inv: Inventory) -> ReservationService:
    return ReservationService(uow_factory=inv.uow, clock=inv.clock, policy=ReservationPolicy(),
                              quiet_levels=True)


def _basket(inv: Inventory, product: uuid.UUID, quantity: int) -> ReserveBasket:
    return ReserveBasket(order_id=uuid.uuid4(), store_id=inv.store_id,
                         lines=[(product, quantity)], ttl_seconds=None)


async def _levels(inv: Inventory) -> list[tuple[str, int, int]]:
    return [(e["reason"], e["version"], e["state"]["available"])
            for e in await inv.outbox("inventory.v1.StockLevelChanged")]


def test_the_service_defaults_to_quiet_levels() -> None:
    assert InventorySettings().stock_level_events == "availability"


async def test_holds_publish_only_threshold_and_zero_crossings(inv: Inventory) -> None:
    # given 10 units with a low-stock threshold of 3
    product = await inv.add_item(10, threshold=3)
    service = _quiet(inv)

    # when 2 + 2 (still above), 3 (crosses the threshold) and 3 (sold out) are held
    for quantity in (2, 2, 3, 3):
        await service.reserve(_basket(inv, product, quantity))

    # then only the crossings were published, with the item's own versions
    assert await _levels(inv) == [("reservation", 4, 3), ("reservation", 5, 0)]
    low = await inv.outbox("inventory.v1.LowStock")
    assert [(e["version"], e["state"]["available"]) for e in low] == [(4, 3)]
    assert len(await inv.outbox("inventory.v1.StockReserved")) == 4
    assert await inv.levels(product) == (10, 10)


async def test_release_and_expiry_publish_when_the_item_is_back_on_sale(
        inv: Inventory) -> None:
    # given a sold-out item (2 units held by two orders) and a roomy one
    product = await inv.add_item(2, threshold=0)
    roomy = await inv.add_item(100, threshold=5)
    service = _quiet(inv)
    first = await service.reserve(_basket(inv, product, 1))
    await service.reserve(_basket(inv, product, 1))
    busy = await service.reserve(_basket(inv, roomy, 1))
    before = len(await _levels(inv))

    # when one hold is released and the roomy item's hold expires
    await service.release(first.reservation.order_id, reason="cancelled")
    inv.clock.advance(hours=1)
    sweeper = ExpirySweeper(uow_factory=inv.uow, clock=inv.clock, quiet_levels=True)
    assert await sweeper.sweep_once() == 2

    # then only the sold-out item coming back (0 -> 1) was published; the other changes
    # moved nothing a consumer shows
    assert (await _levels(inv))[before:] == [("release", 4, 1)]
    assert busy.reservation.order_id != first.reservation.order_id
    assert await inv.levels(product) == (2, 0)
    assert await inv.levels(roomy) == (100, 0)


async def test_confirm_never_changes_availability_so_it_is_quiet(inv: Inventory) -> None:
    product = await inv.add_item(20, threshold=2)
    service = _quiet(inv)
    held = await service.reserve(_basket(inv, product, 5))

    await service.confirm(held.reservation.order_id)

    assert await _levels(inv) == []
    assert len(await inv.outbox("inventory.v1.ReservationConfirmed")) == 1
    assert await inv.levels(product) == (15, 0)
