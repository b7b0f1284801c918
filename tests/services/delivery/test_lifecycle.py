"""The delivery lifecycle: rider reports, PIN, photo proof, failure, client times, guards."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from okada.services.delivery.application.errors import DeliveryNotFound
from okada.services.delivery.domain.delivery import Delivery, RiderUpdate, Status
from okada.services.delivery.domain.errors import (
    ClientTimeInvalid,
    InvalidTransition,
    OrderNotReady,
    PinLocked,
    ProofRequired,
    ReasonRequired,
    WrongPin,
)
from tests.services.delivery.conftest import AKWA, Harness

NEAR = (AKWA[0] + 0.002, AKWA[1])


async def assigned_job(h: Harness, **order: object) -> tuple[uuid.UUID, Delivery]:
    store = await h.store(prep_minutes=0)
    rider = await h.rider(*NEAR)
    _order_id, job = await h.order(store, **order)  # type: ignore[arg-type]
    ((offer_id, _),) = await h.dispatch_offers()
    await h.services.dispatch.accept(rider, offer_id)
    return rider, job


async def report(h: Harness, rider: uuid.UUID, job: Delivery, status: Status,
                 **extra: object) -> Delivery:
    at = extra.pop("at", h.clock.now())
    return await h.services.deliveries.rider_report(
        rider, job.id, RiderUpdate(status=status, at=at, **extra))  # type: ignore[arg-type]


async def test_the_happy_path_with_the_customers_pin(h: Harness) -> None:
    rider, job = await assigned_job(h, method="cash", payable_xaf=6500)
    await report(h, rider, job, Status.AT_STORE)
    with pytest.raises(OrderNotReady):  # the store has not packed it yet
        await report(h, rider, job, Status.PICKED_UP)
    await h.mark_ready(job.order_id, job.store_id, job.customer_id)
    picked = await report(h, rider, job, Status.PICKED_UP)
    assert picked.eta_at is not None and picked.eta_at > h.clock.now()
    await report(h, rider, job, Status.ARRIVING)
    with pytest.raises(ProofRequired):
        await report(h, rider, job, Status.DELIVERED)
    door = (4.0903, 9.7449)
    done = await report(h, rider, job, Status.DELIVERED, pin=job.pin, lat=door[0], lng=door[1])
    assert (done.status, done.proof) == (Status.DELIVERED, "pin")
    assert (done.drop_lat, done.drop_lng) == door  # the rider's corrected drop point

    schemas = ["RiderAssigned", "RiderAtStore", "DeliveryPickedUp", "RiderArriving",
               "DeliveryCompleted"]
    events = {s: await h.outbox(f"delivery.v1.{s}") for s in schemas}
    assert all(len(e) == 1 for e in events.values()), {k: len(v) for k, v in events.items()}
    completed = events["DeliveryCompleted"][0]
    assert completed["state"]["proof"] == "pin"
    assert completed["state"]["cash_to_collect_xaf"] == 6500
    assert (completed["state"]["drop_lat"], completed["state"]["drop_lng"]) == door
    assert completed["state"]["customer_phone_masked"] == "+2376****3456"
    assert "pin" not in completed["state"]
    versions = [events[s][0]["version"] for s in schemas]
    assert versions == sorted(versions)  # every event newer than the one before
    freed = await h.services.riders.get(rider)
    assert (freed.shift, freed.current_delivery_id) == ("online", None)


async def test_reports_are_idempotent_and_may_arrive_late(h: Harness) -> None:
    rider, job = await assigned_job(h)
    await h.mark_ready(job.order_id, job.store_id, job.customer_id)
    signal_lost_at = h.clock.now()
    h.clock.advance(minutes=40)  # the phone was offline; it syncs its queue now
    first = await report(h, rider, job, Status.AT_STORE, at=signal_lost_at)
    again = await report(h, rider, job, Status.AT_STORE, at=signal_lost_at)
    assert again.version == first.version
    await report(h, rider, job, Status.PICKED_UP)
    late_replay = await report(h, rider, job, Status.AT_STORE, at=signal_lost_at)
    assert late_replay.status is Status.PICKED_UP  # an older report changes nothing
    at_store = await h.outbox("delivery.v1.RiderAtStore")
    assert len(at_store) == 1
    assert dt.datetime.fromisoformat(at_store[0]["at"]) == signal_lost_at
    with pytest.raises(ClientTimeInvalid):
        await report(h, rider, job, Status.ARRIVING, at=h.clock.now() + dt.timedelta(hours=1))
    with pytest.raises(ClientTimeInvalid):
        await report(h, rider, job, Status.ARRIVING, at=h.clock.now() - dt.timedelta(days=3))


async def test_wrong_pins_are_counted_and_locked_then_photo_proof(h: Harness) -> None:
    rider, job = await assigned_job(h)
    await h.mark_ready(job.order_id, job.store_id, job.customer_id)
    await report(h, rider, job, Status.PICKED_UP)
    wrong = "0000" if job.pin != "0000" else "1111"
    for left in (4, 3, 2, 1, 0):
        with pytest.raises(WrongPin) as refused:
            await report(h, rider, job, Status.DELIVERED, pin=wrong)
        assert refused.value.params == {"attempts_left": left}
    assert (await h.get(job.id)).pin_attempts == 5  # each attempt was committed
    with pytest.raises(PinLocked):  # even the right PIN now: brute force is over
        await report(h, rider, job, Status.DELIVERED, pin=job.pin)
    done = await report(h, rider, job, Status.DELIVERED, photo_upload_id="upl_door_photo_1")
    assert (done.status, done.proof) == (Status.DELIVERED, "photo")


async def test_a_failed_delivery_needs_a_reason(h: Harness) -> None:
    rider, job = await assigned_job(h)
    with pytest.raises(InvalidTransition):  # not before pickup
        await report(h, rider, job, Status.FAILED, reason="customer unreachable")
    await h.mark_ready(job.order_id, job.store_id, job.customer_id)
    await report(h, rider, job, Status.PICKED_UP)
    with pytest.raises(ReasonRequired):
        await report(h, rider, job, Status.FAILED, reason="  ")
    failed = await report(h, rider, job, Status.FAILED,
                          reason="customer unreachable after 3 calls")
    assert (failed.status, failed.failure_reason) == (Status.FAILED,
                                                     "customer unreachable after 3 calls")
    (event,) = await h.outbox("delivery.v1.DeliveryFailed")
    assert event["state"]["failure_reason"] == "customer unreachable after 3 calls"
    with pytest.raises(InvalidTransition):  # terminal: no way back to delivered
        await report(h, rider, job, Status.DELIVERED, pin=job.pin)


async def test_only_the_assigned_rider_may_report(h: Harness) -> None:
    rider, job = await assigned_job(h)
    intruder = await h.rider(*NEAR)
    with pytest.raises(DeliveryNotFound):
        await report(h, intruder, job, Status.AT_STORE)
    with pytest.raises(DeliveryNotFound):
        await h.services.deliveries.rider_report(
            rider, uuid.uuid4(), RiderUpdate(status=Status.AT_STORE, at=h.clock.now()))
    assert (await h.get(job.id)).status is Status.ASSIGNED
    with pytest.raises(InvalidTransition):  # skipping the pickup is not allowed
        await report(h, rider, job, Status.ARRIVING)


async def test_a_text_only_address_is_geocoded_for_the_job(h: Harness) -> None:
    store = await h.store(prep_minutes=0)
    _, job = await h.order(store, drop=None, quartier="Bépanda",
                           landmark="face stade de la Réunification")
    assert job.drop_source == "geocoded"
    assert job.drop_lat is not None and abs(job.drop_lat - 4.064) < 0.01
