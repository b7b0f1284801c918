"""Rider shifts and location pings: batches, duplicates, late pings, bad pings."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from okada.contracts.identity.v1 import UserDisabled, UserState
from okada.kernel.clock import FrozenClock
from okada.services.delivery.adapters.geoindex import MemoryGeoIndex
from okada.services.delivery.application.errors import RiderDisabled, RiderOffShift
from okada.services.delivery.application.model import Ping
from okada.services.delivery.application.riders import ShiftChange
from okada.services.delivery.domain.delivery import Status
from okada.services.delivery.domain.errors import PingsRejected
from okada.services.delivery.domain.geo import Point
from tests.services.delivery.conftest import AKWA, NOON, Harness, make_settings


def pings(start: dt.datetime, count: int, *, step_s: int = 5) -> list[Ping]:
    return [Ping(at=start + dt.timedelta(seconds=i * step_s), lat=AKWA[0] + 0.0001 * i,
                 lng=AKWA[1]) for i in range(count)]


async def live(h: Harness, rider: uuid.UUID) -> tuple[float | None, float | None]:
    record = await h.services.riders.get(rider)
    return record.last_lat, record.last_lng


async def test_a_batch_is_stored_once_and_moves_the_live_position(h: Harness) -> None:
    rider = await h.rider(*AKWA)
    h.clock.advance(minutes=5)
    start = h.clock.now() - dt.timedelta(minutes=2)
    batch = pings(start, 10)
    first = await h.services.riders.ingest(rider, batch)
    assert (first.accepted, first.duplicates, first.rejected, first.live_updated) == (
        10, 0, [], True)
    assert await live(h, rider) == (batch[-1].lat, batch[-1].lng)
    # the phone did not get the answer and sends the same batch again
    again = await h.services.riders.ingest(rider, batch)
    assert (again.accepted, again.duplicates, again.live_updated) == (0, 10, False)
    async with h.uow() as uow:
        assert len(await uow.pings.history(rider, limit=100)) == 10 + 1  # + the shift's own
    # the live index follows the newest ping of a free rider
    ((found, distance),) = await h.index.nearby(Point(batch[-1].lat, batch[-1].lng),
                                                radius_m=50, limit=5)
    assert found == rider and distance < 1


async def test_late_pings_after_a_loss_of_signal_go_to_history_only(h: Harness) -> None:
    rider = await h.rider(*AKWA)
    h.clock.advance(minutes=30)
    now = h.clock.now()
    await h.services.riders.ingest(rider, [Ping(at=now, lat=4.06, lng=9.71)])
    # pings queued 20 minutes ago arrive now: older than the newest known one
    late = pings(now - dt.timedelta(minutes=20), 5)
    outcome = await h.services.riders.ingest(rider, late)
    assert (outcome.accepted, outcome.live_updated) == (5, False)
    assert await live(h, rider) == (4.06, 9.71)
    async with h.uow() as uow:
        history = await uow.pings.history(rider, limit=100)
    assert len(history) == 6 + 1  # the late ones, the live one and the shift's position


async def test_bad_pings_are_rejected_one_by_one(h: Harness) -> None:
    rider = await h.rider(*AKWA)
    now = h.clock.now()
    batch = [
        Ping(at=now - dt.timedelta(seconds=10), lat=4.05, lng=9.70),
        Ping(at=now + dt.timedelta(hours=2), lat=4.05, lng=9.70),  # phone clock ahead
        Ping(at=now - dt.timedelta(days=2), lat=4.05, lng=9.70),  # far too old
        Ping(at=now - dt.timedelta(seconds=5), lat=48.85, lng=2.35),  # not in Cameroon
    ]
    outcome = await h.services.riders.ingest(rider, batch)
    assert outcome.accepted == 1
    assert outcome.rejected == [{"index": 1, "reason": "future"},
                                {"index": 2, "reason": "too_old"},
                                {"index": 3, "reason": "outside_cameroon"}]
    # a batch with nothing usable is refused as a whole, and nothing is stored
    with pytest.raises(PingsRejected) as refused:
        await h.services.riders.ingest(rider, batch[1:])
    assert refused.value.params == {"count": 3,
                                    "reasons": "future, outside_cameroon, too_old"}
    async with h.uow() as uow:
        assert len(await uow.pings.history(rider, limit=100)) == 2  # shift + the good one


async def test_pings_need_a_shift_and_an_active_account(h: Harness) -> None:
    rider = await h.rider(*AKWA, online=False)
    with pytest.raises(RiderOffShift):
        await h.services.riders.ingest(rider, pings(h.clock.now(), 1))
    await h.services.riders.set_shift(ShiftChange(rider_id=rider, shift="online"))
    assert (await h.services.riders.ingest(rider, pings(h.clock.now(), 1))).accepted == 1
    await h.deliver(UserDisabled(entity_id=rider, version=2, state=UserState(
        name="Rider", language="fr", roles=["rider"], store_ids=[], phones=[], disabled=True,
        created_at=h.clock.now())))
    with pytest.raises(RiderDisabled):
        await h.services.riders.ingest(rider, pings(h.clock.now(), 1))
    with pytest.raises(RiderDisabled):
        await h.services.riders.set_shift(ShiftChange(rider_id=rider, shift="online"))


async def test_shift_changes_are_idempotent_and_published(h: Harness) -> None:
    rider = await h.rider(*AKWA)
    same = await h.services.riders.set_shift(ShiftChange(rider_id=rider, shift="online"))
    assert same.shift == "online"
    paused = await h.services.riders.set_shift(ShiftChange(rider_id=rider, shift="busy"))
    assert paused.shift == "busy"
    assert await h.index.nearby(Point(*AKWA), radius_m=1000, limit=5) == []
    await h.services.riders.set_shift(ShiftChange(rider_id=rider, shift="offline"))
    events = await h.outbox("delivery.v1.RiderShiftChanged")
    assert [(e["state"]["shift"], e["version"]) for e in events] == [
        ("online", 1), ("busy", 2), ("offline", 3)]


async def test_silent_riders_go_offline_and_their_job_is_handed_over(h: Harness) -> None:
    store = await h.store(prep_minutes=0)
    silent = await h.rider(AKWA[0] + 0.001, AKWA[1])
    chatty = await h.rider(AKWA[0] + 0.010, AKWA[1])  # another 500 m bucket: second choice
    _, job = await h.order(store)
    ((offer_id, rider),) = await h.dispatch_offers()
    assert rider == silent
    await h.services.dispatch.accept(silent, offer_id)
    stale = h.services.riders.stale_after
    h.clock.advance(seconds=stale.total_seconds() - 60)
    await h.services.riders.ingest(chatty, pings(h.clock.now(), 1))
    assert await h.services.riders.expire_stale() == 0  # nobody silent long enough yet
    h.clock.advance(seconds=120)
    assert await h.services.riders.expire_stale() == 1  # the chatty one pinged recently
    assert (await h.services.riders.get(silent)).shift == "offline"
    assert (await h.services.riders.get(chatty)).shift == "online"
    back = await h.get(job.id)
    assert (back.status, back.rider_id) == (Status.SEARCHING, None)
    assert [r for _, r in await h.dispatch_offers()] == [chatty]


async def test_batches_are_idempotent_on_both_databases(
    dialect_engine: tuple[str, AsyncEngine],
) -> None:
    dialect, engine = dialect_engine
    h = Harness(dialect, engine, FrozenClock(NOON), MemoryGeoIndex(), make_settings())
    rider = await h.rider(*AKWA)
    h.clock.advance(minutes=5)
    batch = pings(h.clock.now() - dt.timedelta(minutes=1), 12)
    first, again = (await h.services.riders.ingest(rider, batch),
                    await h.services.riders.ingest(rider, batch[6:] + pings(h.clock.now(), 1)))
    assert (first.accepted, first.duplicates, first.live_updated) == (12, 0, True)
    assert (again.accepted, again.duplicates, again.live_updated) == (1, 6, True)


async def test_ping_rules_hold_on_both_databases(
    dialect_engine: tuple[str, AsyncEngine],
) -> None:
    # The ping write is one statement on PostgreSQL: its guards must match the generic path.
    dialect, engine = dialect_engine
    h = Harness(dialect, engine, FrozenClock(NOON), MemoryGeoIndex(), make_settings())
    off = await h.rider(*AKWA, online=False)
    with pytest.raises(RiderOffShift):
        await h.services.riders.ingest(off, pings(h.clock.now(), 2))
    with pytest.raises(RiderOffShift):
        await h.services.riders.ingest(uuid.uuid4(), pings(h.clock.now(), 1))
    rider = await h.rider(*AKWA)
    h.clock.advance(minutes=30)
    now = h.clock.now()
    assert (await h.services.riders.ingest(rider, [Ping(at=now, lat=4.06, lng=9.71)])
            ).live_updated
    late = await h.services.riders.ingest(rider, pings(now - dt.timedelta(minutes=20), 3))
    assert (late.accepted, late.duplicates, late.live_updated) == (3, 0, False)
    assert await live(h, rider) == (4.06, 9.71)
    await h.deliver(UserDisabled(entity_id=rider, version=2, state=UserState(
        name="Rider", language="fr", roles=["rider"], store_ids=[], phones=[], disabled=True,
        created_at=h.clock.now())))
    with pytest.raises(RiderDisabled):
        await h.services.riders.ingest(rider, pings(now + dt.timedelta(seconds=30), 1))
    async with h.uow() as uow:
        assert len(await uow.pings.history(off, limit=10)) == 0
        assert len(await uow.pings.history(rider, limit=10)) == 1 + 1 + 3  # shift, live, late
    assert await live(h, rider) == (4.06, 9.71)
