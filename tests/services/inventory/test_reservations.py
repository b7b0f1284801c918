"""Reservation life cycle, idempotency on the order id, expiry by concurrent sweepers."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest

from okada.contracts.catalog.v1 import offer_id
from okada.services.inventory.application.errors import ProductNotOffered
from okada.services.inventory.application.reservations import ReserveBasket
from okada.services.inventory.domain.errors import (
    InvalidQuantity,
    InvalidTtl,
    ReservationAlreadyConfirmed,
    ReservationExpired,
    ReservationMismatch,
    ReservationReleased,
)
from okada.services.inventory.domain.reservation import ReservationStatus
from tests.services.inventory.conftest import Inventory


def _basket(inv: Inventory, *lines: tuple[uuid.UUID, int], order_id: uuid.UUID | None = None,
            ttl: int | None = None) -> ReserveBasket:
    return ReserveBasket(order_id=order_id or uuid.uuid4(), store_id=inv.store_id,
                         lines=list(lines), ttl_seconds=ttl)


async def test_hold_confirm_publishes_every_event_through_the_outbox(inv: Inventory) -> None:
    # given an item with 5 units and a low-stock threshold of 2
    product = await inv.add_item(5, threshold=2)

    # when 3 are reserved (two lines of the same product, merged) and then confirmed
    held = await inv.reservations.reserve(_basket(inv, (product, 2), (product, 1)))
    confirmed = await inv.reservations.confirm(held.reservation.order_id)

    # then the goods left the shelf and nothing stays reserved
    assert [(x.product_id, x.quantity) for x in held.reservation.lines] == [(product, 3)]
    assert held.reservation.expires_at == inv.clock.now() + dt.timedelta(minutes=15)
    assert confirmed.status is ReservationStatus.CONFIRMED
    assert await inv.levels(product) == (2, 0)
    reserved = await inv.outbox("inventory.v1.StockReserved")
    assert reserved[0]["entity_id"] == str(held.reservation.order_id)
    assert (reserved[0]["version"], reserved[0]["state"]["status"]) == (1, "held")
    done = await inv.outbox("inventory.v1.ReservationConfirmed")
    assert (done[0]["version"], done[0]["state"]["status"]) == (2, "confirmed")
    levels = await inv.outbox("inventory.v1.StockLevelChanged")
    assert [(e["reason"], e["version"], e["state"]["on_hand"], e["state"]["reserved"],
             e["state"]["available"]) for e in levels] == [
        ("reservation", 2, 5, 3, 2), ("confirm", 3, 2, 0, 2)]
    assert {e["entity_id"] for e in levels} == {str(offer_id(inv.store_id, product))}
    low = await inv.outbox("inventory.v1.LowStock")
    assert [(e["version"], e["state"]["available"]) for e in low] == [(2, 2)]

    # and confirming again is a harmless repeat, releasing a confirmed one is refused
    assert (await inv.reservations.confirm(held.reservation.order_id)).version == 2
    with pytest.raises(ReservationAlreadyConfirmed):
        await inv.reservations.release(held.reservation.order_id, reason="late cancel")


async def test_release_returns_stock_once(inv: Inventory) -> None:
    product = await inv.add_item(4)
    held = await inv.reservations.reserve(_basket(inv, (product, 4)))
    order_id = held.reservation.order_id

    results = await asyncio.gather(
        *(inv.reservations.release(order_id, reason="payment_failed") for _ in range(5)))

    assert {r.status for r in results} == {ReservationStatus.RELEASED}
    assert await inv.levels(product) == (4, 0)
    released = await inv.outbox("inventory.v1.ReservationReleased")
    assert [(e["reason"], e["version"]) for e in released] == [("payment_failed", 2)]
    with pytest.raises(ReservationReleased):
        await inv.reservations.confirm(order_id)


async def test_reservation_is_idempotent_on_the_order_id(inv: Inventory) -> None:
    product, other = await inv.add_item(10), await inv.add_item(10)
    order_id = uuid.uuid4()
    request = _basket(inv, (product, 2), (other, 1), order_id=order_id)

    # the same request ten times at once, then once more in another line order
    results = await asyncio.gather(*(inv.reservations.reserve(request) for _ in range(10)))
    again = await inv.reservations.reserve(_basket(inv, (other, 1), (product, 2),
                                                   order_id=order_id))

    assert sorted(r.replayed for r in results) == [False] + [True] * 9
    assert again.replayed and again.reservation.lines == results[0].reservation.lines
    assert [await inv.levels(p) for p in (product, other)] == [(10, 2), (10, 1)]
    assert len(await inv.outbox("inventory.v1.StockReserved")) == 1
    with pytest.raises(ReservationMismatch):
        await inv.reservations.reserve(_basket(inv, (product, 3), order_id=order_id))
    await inv.reservations.release(order_id, reason="cancelled")
    with pytest.raises(ReservationReleased):
        await inv.reservations.reserve(request)


async def test_r3_two_sweepers_release_each_expired_reservation_exactly_once(
    inv: Inventory,
) -> None:
    # given 50 reservations held for 1 s and one reservation held for the default 15 min
    product = await inv.add_item(100)
    expiring = [(await inv.reservations.reserve(_basket(inv, (product, 1), ttl=1)))
                .reservation.order_id for _ in range(50)]
    lasting = (await inv.reservations.reserve(_basket(inv, (product, 1)))).reservation.order_id
    assert await inv.levels(product) == (100, 51)

    # when the time passes and two sweepers run at the same moment
    inv.clock.advance(seconds=1)
    first, second = inv.sweeper(), inv.sweeper()
    won = await asyncio.gather(first.sweep_once(), second.sweep_once())

    # then each reservation was expired by exactly one of them, stock back exactly once
    assert sum(won) == 50
    assert await inv.levels(product) == (100, 1)
    released = await inv.outbox("inventory.v1.ReservationReleased")
    assert len(released) == 50
    assert {e["entity_id"] for e in released} == {str(o) for o in expiring}
    assert {e["reason"] for e in released} == {"expired"}
    assert await first.sweep_once() == 0
    assert (await inv.reservations.get(lasting)).status is ReservationStatus.HELD

    # and confirming an expired reservation is refused cleanly, without touching stock
    with pytest.raises(ReservationExpired):
        await inv.reservations.confirm(expiring[0])
    with pytest.raises(ReservationExpired):
        await inv.reservations.extend(expiring[1], ttl_seconds=300)
    assert (await inv.reservations.release(expiring[2], reason="x")).status \
        is ReservationStatus.EXPIRED
    assert await inv.levels(product) == (100, 1)


async def test_confirm_after_the_hold_time_expires_it_even_before_the_sweeper(
    inv: Inventory,
) -> None:
    product = await inv.add_item(3)
    request = _basket(inv, (product, 2), ttl=1)
    order_id = (await inv.reservations.reserve(request)).reservation.order_id
    inv.clock.advance(seconds=2)

    with pytest.raises(ReservationExpired):  # a repeated request does not renew the hold
        await inv.reservations.reserve(request)
    with pytest.raises(ReservationExpired):
        await inv.reservations.confirm(order_id)

    assert (await inv.reservations.get(order_id)).status is ReservationStatus.EXPIRED
    assert await inv.levels(product) == (3, 0)
    assert await inv.sweeper().sweep_once() == 0
    assert len(await inv.outbox("inventory.v1.ReservationReleased")) == 1


async def test_extend_keeps_a_pending_payment_held_up_to_the_cap(inv: Inventory) -> None:
    product = await inv.add_item(3)
    created = inv.clock.now()
    order_id = (await inv.reservations.reserve(_basket(inv, (product, 1), ttl=60))) \
        .reservation.order_id

    inv.clock.advance(seconds=50)
    extended = await inv.reservations.extend(order_id, ttl_seconds=600)
    assert extended.expires_at == inv.clock.now() + dt.timedelta(seconds=600)
    shorter = await inv.reservations.extend(order_id, ttl_seconds=10)
    assert shorter.expires_at == extended.expires_at  # never shortens

    for _ in range(5):  # a payment pending for ever cannot hold the goods for ever
        inv.clock.advance(seconds=590)
        await inv.reservations.extend(order_id, ttl_seconds=1800)
    capped = await inv.reservations.get(order_id)
    assert capped.expires_at == created + dt.timedelta(hours=1)
    with pytest.raises(InvalidTtl):
        await inv.reservations.extend(order_id, ttl_seconds=1801)

    inv.clock.advance(seconds=3600)
    assert await inv.sweeper().sweep_once() == 1
    assert await inv.levels(product) == (3, 0)


async def test_lines_the_store_does_not_sell_are_named_and_nothing_is_held(
    inv: Inventory,
) -> None:
    sold = await inv.add_item(5)
    delisted = await inv.add_item(5, listed=False)
    unknown = uuid.uuid4()

    with pytest.raises(ProductNotOffered) as refused:
        await inv.reservations.reserve(_basket(inv, (sold, 1), (delisted, 1), (unknown, 1)))

    assert sorted((r.product_id, r.reason) for r in refused.value.lines) == sorted(
        [(delisted, "not_listed"), (unknown, "unknown")])
    assert await inv.levels(sold) == (5, 0)
    for bad in (0, -1, 1000):
        with pytest.raises(InvalidQuantity):
            await inv.reservations.reserve(_basket(inv, (sold, bad)))
    with pytest.raises(InvalidQuantity):  # 999 is the cap after merging lines too
        await inv.reservations.reserve(_basket(inv, (sold, 600), (sold, 400)))
