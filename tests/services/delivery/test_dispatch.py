"""Dispatch: best rider, fair rotation, float limit, expiry, decline, dropouts, operations."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from okada.contracts.orders.v1 import OrderCancelled
from okada.contracts.payments.v1 import PaymentCaptured, PaymentState
from okada.services.delivery.application.errors import (
    DeliveryInProgress,
    OfferExpired,
    OfferNotFound,
    OfferTaken,
    RiderBusy,
)
from okada.services.delivery.application.riders import ShiftChange
from okada.services.delivery.domain.delivery import RiderUpdate, Status
from okada.services.delivery.domain.errors import InvalidTransition
from okada.services.delivery.domain.geo import Point
from tests.services.delivery.conftest import AKWA, Harness

# ~0.0045 degree of latitude is about 500 m
NEAR = (AKWA[0] + 0.002, AKWA[1])  # ~220 m from the store
MID = (AKWA[0] + 0.010, AKWA[1])  # ~1.1 km
FAR = (AKWA[0] + 0.025, AKWA[1])  # ~2.8 km


async def test_the_nearest_free_rider_gets_the_offer_and_only_after_preparation(
    h: Harness,
) -> None:
    store = await h.store(prep_minutes=20)
    far = await h.rider(*FAR)
    near = await h.rider(*NEAR)
    await h.rider(*MID, online=False)  # offline riders are never offered
    _, job = await h.order(store)
    assert job.status is Status.SEARCHING and len(job.pin) == 4 and job.pin.isdigit()

    # prep 20 min, lead 5 min: nobody is disturbed before 15 minutes
    assert await h.dispatch_offers() == []
    h.clock.advance(minutes=15)
    offers = await h.dispatch_offers()
    assert [rider for _, rider in offers] == [near]
    assert far not in [rider for _, rider in offers]
    listed = await h.services.dispatch.offers_for(near)
    assert [o.id for o, _ in listed] == [offers[0][0]]
    # still waiting for the answer: no second offer on the next scan
    assert await h.dispatch_offers() == []


async def test_an_order_ready_early_is_dispatched_at_once(h: Harness) -> None:
    store = await h.store(prep_minutes=30)
    rider = await h.rider(*NEAR)
    order_id, job = await h.order(store)
    assert await h.dispatch_offers() == []
    await h.mark_ready(order_id, store, job.customer_id)
    assert [r for _, r in await h.dispatch_offers()] == [rider]


async def test_equals_take_turns_fair_rotation(h: Harness) -> None:
    store = await h.store(prep_minutes=0)
    # two riders in the same 500 m bucket, one slightly nearer
    a = await h.rider(AKWA[0] + 0.0010, AKWA[1])
    b = await h.rider(AKWA[0] + 0.0015, AKWA[1])
    _, _first = await h.order(store)
    (offer_1,) = await h.dispatch_offers()
    h.clock.advance(seconds=1)
    _, _second = await h.order(store)
    (offer_2,) = await h.dispatch_offers()
    # both never offered before: stable order by id; then the other one's turn
    assert {offer_1[1], offer_2[1]} == {a, b}
    h.clock.advance(seconds=1)
    _, _third = await h.order(store)
    (offer_3,) = await h.dispatch_offers()
    assert offer_3[1] == offer_1[1]  # the one offered longest ago goes next


async def test_cash_orders_respect_the_float_limit(h: Harness) -> None:
    store = await h.store(prep_minutes=0)
    loaded = await h.rider(*NEAR, cash_xaf=48_000, float_limit_xaf=50_000)
    light = await h.rider(*FAR)
    _, cash_job = await h.order(store, method="cash", payable_xaf=6_500)
    assert cash_job.cash_to_collect_xaf == 6_500
    assert [r for _, r in await h.dispatch_offers()] == [light]
    # a prepaid order goes to the nearest rider whatever cash they carry
    _, _prepaid = await h.order(store, method="mtn_momo")
    assert [r for _, r in await h.dispatch_offers()] == [loaded]


async def test_an_expired_offer_moves_to_the_next_rider(h: Harness) -> None:
    store = await h.store(prep_minutes=0)
    first = await h.rider(*NEAR)
    second = await h.rider(*MID)
    _, job = await h.order(store)
    ((offer_id, rider),) = await h.dispatch_offers()
    assert rider == first

    h.clock.advance(seconds=h.settings.offer_timeout_seconds - 1)
    assert await h.dispatch_offers() == []  # not yet
    h.clock.advance(seconds=2)
    ((_, next_rider),) = await h.dispatch_offers()
    assert next_rider == second
    with pytest.raises(OfferExpired):
        await h.services.dispatch.accept(first, offer_id)
    assert (await h.get(job.id)).status is Status.SEARCHING


async def test_a_declined_offer_goes_to_the_next_rider_at_once(h: Harness) -> None:
    store = await h.store(prep_minutes=0)
    first = await h.rider(*NEAR)
    second = await h.rider(*MID)
    await h.order(store)
    ((offer_id, _),) = await h.dispatch_offers()
    await h.services.dispatch.decline(first, offer_id)
    await h.services.dispatch.decline(first, offer_id)  # a repeat changes nothing
    assert [r for _, r in await h.dispatch_offers()] == [second]
    with pytest.raises(OfferNotFound):  # not this rider's offer
        await h.services.dispatch.decline(second, offer_id)


async def test_accepting_makes_the_rider_busy_and_others_cannot_take_the_job(
    h: Harness,
) -> None:
    store = await h.store(prep_minutes=0)
    rider = await h.rider(*NEAR)
    _, job = await h.order(store)
    ((offer_id, _),) = await h.dispatch_offers()
    taken = await h.services.dispatch.accept(rider, offer_id)
    assert (taken.status, taken.rider_id) == (Status.ASSIGNED, rider)
    again = await h.services.dispatch.accept(rider, offer_id)  # idempotent
    assert again.version == taken.version
    me = await h.services.riders.get(rider)
    assert (me.shift, me.current_delivery_id) == ("busy", job.id)
    assert await h.index.nearby(Point(*AKWA), radius_m=5000, limit=10) == []
    assigned = await h.outbox("delivery.v1.RiderAssigned")
    assert [e["state"]["rider_id"] for e in assigned] == [str(rider)]
    shifts = [e["state"]["shift"] for e in await h.outbox("delivery.v1.RiderShiftChanged")]
    assert shifts[-1] == "busy"
    # a busy rider is not offered another job
    await h.order(store)
    assert await h.dispatch_offers() == []


async def test_a_rider_going_offline_mid_job_is_replaced(h: Harness) -> None:
    store = await h.store(prep_minutes=0)
    quitter = await h.rider(*NEAR)
    stand_in = await h.rider(*MID)
    _, job = await h.order(store)
    ((offer_id, _),) = await h.dispatch_offers()
    await h.services.dispatch.accept(quitter, offer_id)
    await h.services.deliveries.rider_report(
        quitter, job.id, RiderUpdate(status=Status.AT_STORE, at=h.clock.now()))

    gone = await h.services.riders.set_shift(ShiftChange(rider_id=quitter, shift="offline"))
    assert (gone.shift, gone.current_delivery_id) == ("offline", None)
    back = await h.get(job.id)
    assert (back.status, back.rider_id) == (Status.SEARCHING, None)
    ((offer_2, rider_2),) = await h.dispatch_offers()
    assert rider_2 == stand_in
    replaced = await h.services.dispatch.accept(stand_in, offer_2)
    assert replaced.rider_id == stand_in
    # the new rider cannot go offline once the goods are with them
    order = await h.by_order(job.order_id)
    await h.mark_ready(order.order_id, store, order.customer_id)
    await h.services.deliveries.rider_report(
        stand_in, job.id, RiderUpdate(status=Status.PICKED_UP, at=h.clock.now()))
    with pytest.raises(DeliveryInProgress):
        await h.services.riders.set_shift(ShiftChange(rider_id=stand_in, shift="offline"))


async def test_with_nobody_free_the_job_waits_and_is_retried(h: Harness) -> None:
    store = await h.store(prep_minutes=0)
    _, job = await h.order(store)
    assert await h.dispatch_offers() == []
    waiting = await h.get(job.id)
    assert waiting.dispatch_due_at is not None and waiting.dispatch_due_at > h.clock.now()
    rider = await h.rider(*NEAR)
    assert await h.dispatch_offers() == []  # not due yet
    h.clock.advance(seconds=h.settings.dispatch_retry_seconds)
    assert [r for _, r in await h.dispatch_offers()] == [rider]


async def test_operations_assign_and_reassign_by_hand(h: Harness) -> None:
    store = await h.store(prep_minutes=0)
    first = await h.rider(*NEAR)
    second = await h.rider(*MID, online=False)  # reached by phone
    _, job = await h.order(store)
    await h.dispatch_offers()

    assigned = await h.services.dispatch.assign(job.id, first, reason="VIP order")
    assert (assigned.status, assigned.rider_id) == (Status.ASSIGNED, first)
    assert await h.services.dispatch.offers_for(first) == []  # open offers withdrawn
    moved = await h.services.dispatch.assign(job.id, second, reason="first rider broke down")
    assert moved.rider_id == second
    freed = await h.services.riders.get(first)
    assert (freed.shift, freed.current_delivery_id) == ("online", None)
    assert [e["state"]["rider_id"] for e in await h.outbox("delivery.v1.RiderAssigned")] == [
        str(first), str(second)]

    # a rider already on another job cannot be given this one
    _, other = await h.order(store)
    with pytest.raises(RiderBusy):
        await h.services.dispatch.assign(other.id, second, reason="try")
    # after pickup the job is the carrier's
    order = await h.by_order(job.order_id)
    await h.mark_ready(order.order_id, store, order.customer_id)
    await h.services.deliveries.rider_report(
        second, job.id, RiderUpdate(status=Status.PICKED_UP, at=h.clock.now()))
    with pytest.raises(InvalidTransition):
        await h.services.dispatch.assign(job.id, first, reason="too late")


async def test_a_cancelled_order_cancels_the_job_and_frees_the_rider(h: Harness) -> None:
    store = await h.store(prep_minutes=0)
    rider = await h.rider(*NEAR)
    order_id, job = await h.order(store)
    ((offer_id, _),) = await h.dispatch_offers()
    await h.services.dispatch.accept(rider, offer_id)
    state = h.order_state(store, customer_id=job.customer_id, status="CANCELLED")
    await h.deliver(OrderCancelled(entity_id=order_id, version=9, state=state,
                                   reason="customer_changed_mind"))
    cancelled = await h.get(job.id)
    assert cancelled.status is Status.CANCELLED
    freed = await h.services.riders.get(rider)
    assert (freed.shift, freed.current_delivery_id) == ("online", None)
    # the winner's replay shows the job as it is now; a new claim on it is refused
    replay = await h.services.dispatch.accept(rider, offer_id)
    assert replay.status is Status.CANCELLED
    _, next_job = await h.order(store)
    ((next_offer, offered),) = await h.dispatch_offers()
    await h.deliver(OrderCancelled(entity_id=next_job.order_id, version=9, state=h.order_state(
        store, customer_id=next_job.customer_id, status="CANCELLED")))
    with pytest.raises(OfferTaken):
        await h.services.dispatch.accept(offered, next_offer)


async def test_a_cash_order_paid_by_mobile_money_at_the_door_has_no_cash_to_collect(
        h: Harness) -> None:
    store = await h.store(prep_minutes=0)
    order_id, job = await h.order(store, method="cash", payable_xaf=6_500)
    assert job.cash_to_collect_xaf == 6_500

    def captured(method: str) -> PaymentCaptured:
        return PaymentCaptured(entity_id=uuid.uuid4(), version=3, state=PaymentState(
            order_id=order_id, customer_id=job.customer_id, method=method,
            provider=None if method == "cash" else method, status="captured",
            amount_xaf=6_500, captured_xaf=6_500, refunded_xaf=0,
            payer_phone_masked=None, updated_at=dt.datetime.now(dt.UTC)))

    await h.deliver(captured("cash"))  # cash collected at the door changes nothing here
    assert (await h.by_order(order_id)).cash_to_collect_xaf == 6_500
    await h.deliver(captured("mtn_momo"))  # switched to MoMo at the door
    after = await h.by_order(order_id)
    assert after.cash_to_collect_xaf == 0
    assert after.version == job.version + 1
