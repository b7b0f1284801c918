"""Domain rules of stock items and reservations, without any database."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from okada.services.inventory.domain.errors import (
    InvalidBasket,
    InvalidQuantity,
    InvalidTtl,
    ReservationAlreadyConfirmed,
    ReservationExpired,
    ReservationReleased,
    StockBelowReserved,
)
from okada.services.inventory.domain.reservation import (
    Line,
    Reservation,
    ReservationConfirmed,
    ReservationEnded,
    ReservationHeld,
    ReservationPolicy,
    ReservationStatus,
    basket,
)
from okada.services.inventory.domain.stock import (
    AdjustmentKind,
    StockItem,
    crossed_low_threshold,
)

NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
A, B, C = sorted(uuid.uuid4() for _ in range(3))


def _held(ttl: int = 60) -> Reservation:
    return Reservation.hold(order_id=uuid.uuid4(), store_id=uuid.uuid4(),
                            lines=basket([(B, 1), (A, 2)]), now=NOW,
                            ttl=dt.timedelta(seconds=ttl))


def test_basket_merges_lines_per_product_and_sorts_them_into_the_lock_order() -> None:
    assert basket([(C, 1), (A, 2), (C, 3), (B, 1)]) == (Line(A, 2), Line(B, 1), Line(C, 4))


@pytest.mark.parametrize("quantity", [0, -3, 1000, True])
def test_basket_refuses_quantities_out_of_range(quantity: int) -> None:
    with pytest.raises(InvalidQuantity) as refused:
        basket([(A, 1), (B, quantity)])
    assert refused.value.product_id == B


def test_basket_refuses_empty_and_oversized_baskets_and_merged_overflow() -> None:
    with pytest.raises(InvalidBasket):
        basket([])
    with pytest.raises(InvalidBasket):
        basket([(uuid.uuid4(), 1) for _ in range(101)])
    with pytest.raises(InvalidQuantity):
        basket([(A, 500), (A, 500)])


def test_policy_defaults_to_15_minutes_and_bounds_requests() -> None:
    policy = ReservationPolicy()
    assert policy.ttl(None) == dt.timedelta(minutes=15)
    assert policy.ttl(1) == dt.timedelta(seconds=1)
    for bad in (0, -1, 1801):
        with pytest.raises(InvalidTtl):
            policy.ttl(bad)


def test_a_hold_ends_exactly_once() -> None:
    reservation = _held()
    assert [type(e) for e in reservation.collect_events()] == [ReservationHeld]
    assert reservation.confirm(NOW + dt.timedelta(seconds=59))
    assert not reservation.confirm(NOW + dt.timedelta(seconds=70))  # a retried confirm
    assert [type(e) for e in reservation.collect_events()] == [ReservationConfirmed]
    assert (reservation.status, reservation.version) == (ReservationStatus.CONFIRMED, 2)
    with pytest.raises(ReservationAlreadyConfirmed):
        reservation.release(NOW, "cancelled")
    assert not reservation.expire(NOW + dt.timedelta(hours=1))


def test_a_due_hold_cannot_be_confirmed_or_extended_but_can_expire_or_be_released() -> None:
    due = NOW + dt.timedelta(seconds=60)
    reservation = _held()
    assert not reservation.expire(due - dt.timedelta(microseconds=1))
    with pytest.raises(ReservationExpired):
        reservation.confirm(due)
    with pytest.raises(ReservationExpired):
        reservation.extend(due, dt.timedelta(seconds=60), ReservationPolicy())
    assert reservation.expire(due)
    assert reservation.collect_events()[-1] == ReservationEnded(reason="expired")
    assert not reservation.release(due, "late")  # already back on the shelf

    released = _held()
    assert released.release(due + dt.timedelta(seconds=5), "payment_failed")
    assert released.release_reason == "payment_failed"
    with pytest.raises(ReservationReleased):
        released.confirm(due)


def test_extend_never_shortens_and_stops_at_the_maximum_total_hold() -> None:
    policy = ReservationPolicy(max_hold_seconds=600)
    reservation = _held(ttl=300)
    reservation.extend(NOW + dt.timedelta(seconds=10), dt.timedelta(seconds=60), policy)
    assert reservation.expires_at == NOW + dt.timedelta(seconds=300)
    reservation.extend(NOW + dt.timedelta(seconds=200), dt.timedelta(seconds=1000), policy)
    assert reservation.expires_at == NOW + dt.timedelta(seconds=600)


def test_adjustments_move_the_shelf_count_but_never_below_reserved() -> None:
    item = StockItem(store_id=uuid.uuid4(), product_id=A, on_hand=10, reserved=4)
    receipt = item.plan_adjustment(AdjustmentKind.RECEIPT, 5)
    assert (receipt.on_hand_after, receipt.delta, receipt.absolute) == (15, 5, False)
    assert item.plan_adjustment(AdjustmentKind.RETURN, 1).on_hand_after == 11
    assert item.plan_adjustment(AdjustmentKind.DAMAGE, 6).on_hand_after == 4
    count = item.plan_adjustment(AdjustmentKind.COUNT, 4)
    assert (count.on_hand_after, count.delta, count.absolute) == (4, -6, True)
    assert receipt.rebased(12).on_hand_after == 17
    with pytest.raises(StockBelowReserved):
        item.plan_adjustment(AdjustmentKind.DAMAGE, 7)
    with pytest.raises(StockBelowReserved):
        item.plan_adjustment(AdjustmentKind.COUNT, 3)
    with pytest.raises(InvalidQuantity):
        item.plan_adjustment(AdjustmentKind.RECEIPT, 0)
    with pytest.raises(InvalidQuantity):
        item.plan_adjustment(AdjustmentKind.COUNT, 100_001)
    assert item.plan_adjustment(AdjustmentKind.COUNT, 4).on_hand_after == 4


def test_sellability_and_the_low_stock_crossing() -> None:
    item = StockItem(store_id=uuid.uuid4(), product_id=A, on_hand=5, reserved=2,
                     low_stock_threshold=3)
    assert item.can_reserve(3) and not item.can_reserve(4)
    assert crossed_low_threshold(5, item)  # 5 -> 3
    assert not crossed_low_threshold(3, item)  # already low: no second alert
    item.removed = True
    assert not item.sellable and not item.can_reserve(1)
