"""The order aggregate alone: the transition matrix, guards, replay and checkout rules."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import pytest

from okada.services.orders.domain import checkout as rules
from okada.services.orders.domain import order as o
from okada.services.orders.domain.errors import (
    IllegalTransition,
    InvalidLineQuantity,
    LastLineUnavailable,
    OrderNotFound,
    OutsideDeliveryArea,
    PayerPhoneInvalid,
    PayerPhoneRequired,
    ReasonRequired,
    StoreClosed,
    TooManyLines,
    TransitionNotAllowed,
    UnsupportedPaymentMethod,
)

NOW = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)
CUSTOMER = uuid.uuid4()
STORE = uuid.uuid4()
RIDER = uuid.uuid4()

# The path that reaches each status from a fresh mobile-money order (system moves first).
PATHS = {
    o.PENDING_PAYMENT: [],
    o.CONFIRMED: [o.CONFIRMED],
    o.ACCEPTED: [o.CONFIRMED, o.ACCEPTED],
    o.PREPARING: [o.CONFIRMED, o.ACCEPTED, o.PREPARING],
    o.READY_FOR_PICKUP: [o.CONFIRMED, o.ACCEPTED, o.PREPARING, o.READY_FOR_PICKUP],
    o.PICKED_UP: [o.CONFIRMED, o.ACCEPTED, o.PREPARING, o.READY_FOR_PICKUP, o.PICKED_UP],
    o.DELIVERED: [o.CONFIRMED, o.ACCEPTED, o.PREPARING, o.READY_FOR_PICKUP, o.PICKED_UP,
                  o.DELIVERED],
    o.CANCELLED: [o.CANCELLED],
    o.EXPIRED: [o.EXPIRED],
    o.DELIVERY_FAILED: [o.CONFIRMED, o.ACCEPTED, o.PREPARING, o.READY_FOR_PICKUP, o.PICKED_UP,
                        o.DELIVERY_FAILED],
}


def actors() -> dict[str, o.Actor]:
    return {
        o.CUSTOMER: o.Actor(CUSTOMER, o.CUSTOMER),
        o.MERCHANT: o.Actor(uuid.uuid4(), o.MERCHANT, frozenset({STORE})),
        o.RIDER: o.Actor(RIDER, o.RIDER),
        o.SYSTEM: o.SYSTEM_ACTOR,
    }


def new_order(method: str = "mtn_momo", lines: int = 2) -> o.Order:
    draft = o.Order(
        id=uuid.uuid4(), customer_id=CUSTOMER, store_id=STORE, status="",
        lines=[o.OrderLine(uuid.uuid4(), f"P{i}", "piece", 1, 500, 500) for i in range(lines)],
        subtotal_xaf=500 * lines, delivery_fee_xaf=1000, total_xaf=500 * lines + 1000,
        payable_xaf=500 * lines + 1000, payment_method=method, payer_phone=None,
        payment_status="", address={"city": "Douala", "quartier": "Akwa"}, placed_at=NOW,
        updated_at=NOW, reservation_id=uuid.uuid4())
    order = o.Order.place(draft, o.Actor(CUSTOMER, o.CUSTOMER), NOW)
    order.collect()
    order.rider_id = RIDER  # assigned, so the rider may act on it
    return order


def at_status(status: str) -> o.Order:
    order = new_order()
    for step in PATHS[status]:
        assert order.transition(step, o.SYSTEM_ACTOR if step not in (
            o.ACCEPTED, o.PREPARING, o.READY_FOR_PICKUP) else actors()[o.MERCHANT], NOW)
    assert order.status == status
    order.collect()
    return order


@pytest.mark.parametrize(("current", "target"),
                         list(itertools.product(o.STATUSES, o.EVENT_BY_STATUS)))
def test_transition_matrix(current: str, target: str) -> None:
    """Every (status, target, role): legal moves apply once then are no-ops, others refuse."""
    for role, actor in actors().items():
        order = at_status(current)
        before = order.version
        allowed = role in o.LEGAL.get((current, target), frozenset())
        needs_reason = target == o.CANCELLED and role == o.MERCHANT
        if current == target:
            assert order.transition(target, actor, NOW, reason="again") is False
            assert order.version == before
        elif allowed:
            assert order.transition(target, actor, NOW, reason="why" if needs_reason else None)
            assert (order.status, order.version) == (target, before + 1)
            # Repeating a transition already made is a no-op returning the current state.
            assert order.transition(target, actor, NOW, reason="why") is False
            assert order.version == before + 1
            events = order.collect()
            assert len(events) == 1
            event = events[0][0]
            assert (event.actor_id, event.actor_role, event.at) == (actor.id, role, NOW)
        else:
            # 403 only when others may make this move now and this role never makes it;
            # otherwise the status is what forbids it: 409.
            expected = (TransitionNotAllowed
                        if (current, target) in o.LEGAL and not o.role_makes(role, target)
                        else IllegalTransition)
            with pytest.raises(expected):
                order.transition(target, actor, NOW, reason="why")
            assert (order.status, order.version) == (current, before)


def test_role_guards() -> None:
    order = at_status(o.PICKED_UP)
    store = actors()[o.MERCHANT]
    with pytest.raises(TransitionNotAllowed):  # a store cannot mark an order delivered
        order.transition(o.DELIVERED, store, NOW)
    with pytest.raises(OrderNotFound):  # a rider only moves orders assigned to them
        order.transition(o.DELIVERED, o.Actor(uuid.uuid4(), o.RIDER), NOW)
    with pytest.raises(OrderNotFound):  # another customer does not see the order at all
        at_status(o.CONFIRMED).transition(o.CANCELLED, o.Actor(uuid.uuid4(), o.CUSTOMER), NOW)
    with pytest.raises(OrderNotFound):  # staff of another store neither
        at_status(o.CONFIRMED).transition(
            o.ACCEPTED, o.Actor(uuid.uuid4(), o.MERCHANT, frozenset({uuid.uuid4()})), NOW)
    with pytest.raises(ReasonRequired):  # a store rejection needs a reason
        at_status(o.CONFIRMED).transition(o.CANCELLED, store, NOW)
    assert order.transition(o.DELIVERED, actors()[o.RIDER], NOW)


def test_operations_force_with_reason_only_out_of_non_terminal() -> None:
    ops = o.Actor(uuid.uuid4(), o.OPERATIONS)
    order = at_status(o.CONFIRMED)
    with pytest.raises(ReasonRequired):
        order.transition(o.DELIVERED, ops, NOW)
    assert order.transition(o.DELIVERED, ops, NOW, reason="delivered by phone, app down")
    event = order.collect()[0][0]
    assert (event.actor_role, event.reason) == (o.OPERATIONS, "delivered by phone, app down")
    with pytest.raises(IllegalTransition):  # terminal stays terminal
        order.transition(o.CANCELLED, ops, NOW, reason="too late")


def test_replay_and_snapshot_give_the_same_state() -> None:
    draft = new_order()
    draft.rider_id = None
    order = o.Order.place(draft, o.Actor(CUSTOMER, o.CUSTOMER), NOW)
    events = [e for e, _ in order.collect()]
    snapshot: dict[str, object] | None = None
    for target in PATHS[o.DELIVERED]:
        actor = actors()[o.MERCHANT] if target in (o.ACCEPTED, o.PREPARING,
                                                   o.READY_FOR_PICKUP) else o.SYSTEM_ACTOR
        order.transition(target, actor, NOW)
        events += [e for e, _ in order.collect()]
        if target == o.ACCEPTED:
            snapshot = order.to_data()
    assert [e.version for e in events] == list(range(1, len(events) + 1))
    replayed = o.Order.replay(order.id, events)
    assert replayed.to_data() == order.to_data()
    assert snapshot is not None
    from_snapshot = o.Order.replay(order.id, [e for e in events if e.version > 3], snapshot)
    assert from_snapshot.to_data() == order.to_data()
    assert order.status == o.DELIVERED


def test_payment_reactions_and_late_capture() -> None:
    failed = new_order()
    assert failed.payment_failed("NOT_ENOUGH_FUNDS", NOW)
    assert (failed.status, failed.cancelled_by, failed.cancel_reason) == (
        o.CANCELLED, "system", "NOT_ENOUGH_FUNDS")
    expired = new_order()
    assert expired.payment_failed("EXPIRED", NOW)
    assert expired.status == o.EXPIRED
    assert expired.payment_captured(NOW) == "late"
    assert expired.payment_captured(NOW) == ""  # the same capture again changes nothing
    rid = uuid.uuid4()
    assert expired.late_confirm(rid, NOW)
    assert (expired.status, expired.reservation_id) == (o.CONFIRMED, rid)
    paid = new_order()
    assert paid.payment_captured(NOW) == "confirmed"
    assert (paid.status, paid.payment_status) == (o.CONFIRMED, "captured")
    assert not paid.expire_unpaid(NOW)


def test_line_unavailable_recomputes_and_refunds_captured_money() -> None:
    order = new_order(lines=2)
    order.payment_captured(NOW)
    order.collect()
    store = actors()[o.MERCHANT]
    line = order.lines[0]
    assert order.mark_unavailable(line.product_id, store, NOW)
    event = order.collect()[0][0]
    assert event.data["refund_xaf"] == line.line_total_xaf
    assert order.payable_xaf == order.total_xaf - line.line_total_xaf
    assert not order.mark_unavailable(line.product_id, store, NOW)  # a repeat
    with pytest.raises(LastLineUnavailable):
        order.mark_unavailable(order.lines[1].product_id, store, NOW)
    with pytest.raises(TransitionNotAllowed):
        order.mark_unavailable(order.lines[1].product_id, o.Actor(CUSTOMER, o.CUSTOMER), NOW)


def store(**changes: object) -> rules.StoreInfo:
    values: dict[str, object] = {
        "id": STORE, "city": "Douala", "lat": 4.0511, "lng": 9.7679,
        "delivery_radius_m": 5000, "delivery_polygon": None,
        "opening_hours": [{"weekday": 3, "opens": "07:00", "closes": "22:00"}],
        "timezone": "Africa/Douala", "status": "open", "prep_minutes": 10}
    values.update(changes)
    return rules.StoreInfo(**values)  # type: ignore[arg-type]


def test_opening_hours_are_douala_local_time() -> None:
    thursday_0559_utc = dt.datetime(2026, 1, 1, 5, 59, tzinfo=dt.UTC)  # 06:59 in Douala
    with pytest.raises(StoreClosed):
        rules.ensure_open(store(), thursday_0559_utc)
    rules.ensure_open(store(), thursday_0559_utc + dt.timedelta(minutes=1))
    with pytest.raises(StoreClosed):
        rules.ensure_open(store(status="closed"), NOW)
    late = store(opening_hours=[{"weekday": 3, "opens": "18:00", "closes": "02:00"}])
    rules.ensure_open(late, dt.datetime(2026, 1, 2, 0, 30, tzinfo=dt.UTC))  # Fri 01:30 local
    with pytest.raises(StoreClosed):
        rules.ensure_open(late, dt.datetime(2026, 1, 2, 1, 30, tzinfo=dt.UTC))


def test_delivery_area_radius_and_polygon() -> None:
    assert rules.ensure_serves(store(), 4.0530, 9.7700, "Douala") is not None
    with pytest.raises(OutsideDeliveryArea):
        rules.ensure_serves(store(), 3.8480, 11.5021, "Yaoundé")
    square = [(4.0, 9.7), (4.0, 9.8), (4.1, 9.8), (4.1, 9.7)]
    assert rules.ensure_serves(store(delivery_polygon=square), 4.05, 9.75, "Douala") is not None
    with pytest.raises(OutsideDeliveryArea):
        rules.ensure_serves(store(delivery_polygon=square), 4.05, 9.85, "Douala")
    with pytest.raises(OutsideDeliveryArea):
        rules.ensure_serves(store(), None, None, "Yaoundé")


def test_basket_and_payment_rules() -> None:
    p = uuid.uuid4()
    assert rules.basket([(p, 2), (p, 3)], max_quantity=50, max_lines=100) == [(p, 5)]
    with pytest.raises(InvalidLineQuantity):
        rules.basket([(p, 30), (p, 30)], max_quantity=50, max_lines=100)
    with pytest.raises(TooManyLines):
        rules.basket([(uuid.uuid4(), 1) for _ in range(3)], max_quantity=50, max_lines=2)
    assert rules.payer_phone("mtn_momo", "6 77 12 34 56") == "+237677123456"
    assert rules.payer_phone("orange_money", "+237 691 23 45 67") == "+237691234567"
    assert rules.payer_phone("cash", None) is None
    with pytest.raises(PayerPhoneInvalid):
        rules.payer_phone("orange_money", "677123456")  # an MTN number for Orange Money
    with pytest.raises(PayerPhoneRequired):
        rules.payer_phone("mtn_momo", None)
    with pytest.raises(UnsupportedPaymentMethod):
        rules.payer_phone("bitcoin", None)
