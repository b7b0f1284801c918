"""Riders: shifts, location pings and the live geo index."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import structlog

from okada.kernel.clock import Clock
from okada.kernel.errors import Unavailable
from okada.services.delivery.application.clienttime import ClientTimePolicy
from okada.services.delivery.application.errors import (
    DeliveryInProgress,
    RiderDisabled,
    RiderOffShift,
    TransientConflict,
)
from okada.services.delivery.application.model import (
    BUSY,
    OFFLINE,
    ONLINE,
    Ping,
    PingOutcome,
    RiderRecord,
)
from okada.services.delivery.application.ports import DeliveryUnitOfWork, GeoIndex, PingWriter
from okada.services.delivery.application.publishing import publish_shift
from okada.services.delivery.application.retry import with_retries
from okada.services.delivery.domain.delivery import BEFORE_PICKUP
from okada.services.delivery.domain.errors import PingsRejected, PointOutsideCameroon
from okada.services.delivery.domain.geo import Point, in_cameroon

log = structlog.get_logger(__name__)

UowFactory = Callable[[], DeliveryUnitOfWork]


async def sync_index(index: GeoIndex, rider: RiderRecord) -> None:
    """Make the live index agree with a rider's state (after commit; best effort).

    The index only holds riders free for a job; a failure here is logged, the next ping of
    the rider repairs it, and dispatch re-checks every rider against the database anyway.
    """
    try:
        position = rider.position
        if rider.available and position is not None:
            await index.upsert(rider.rider_id, position)
        else:
            await index.remove(rider.rider_id)
    except Unavailable as exc:
        log.warning("delivery.geo_index_sync_failed", rider_id=str(rider.rider_id),
                    error=repr(exc))


@dataclass(frozen=True, slots=True)
class ShiftChange:
    """Command: a rider goes online, offline or busy (optionally with a position)."""

    rider_id: uuid.UUID
    shift: str
    lat: float | None = None
    lng: float | None = None


class RiderService:
    """Use cases of riders on their own account."""

    def __init__(
        self, *, uow_factory: UowFactory, clock: Clock, index: GeoIndex,
        times: ClientTimePolicy, stale_after: dt.timedelta = dt.timedelta(minutes=10),
        ping_writer: PingWriter | None = None,
    ) -> None:
        self._ping_writer = ping_writer
        self._uow = uow_factory
        self._clock = clock
        self._index = index
        self._times = times
        self.stale_after = stale_after

    async def get(self, rider_id: uuid.UUID) -> RiderRecord:
        """The rider's own record (created offline on first use)."""
        async with self._uow() as uow:
            rider = await uow.riders.ensure(rider_id, self._clock.now())
            await uow.commit()
        return rider

    async def set_shift(self, command: ShiftChange) -> RiderRecord:
        """Go online, offline or busy.

        Business rules:
            - Disabled accounts and users without the rider role cannot (403).
            - The same shift again changes nothing (idempotent).
            - A rider with a job stays ``busy``; going ``offline`` before pickup hands the
              job back to dispatch at once (another rider is offered it); after pickup the
              rider carries goods and must finish or fail the delivery first (409).
            - A position sent along is recorded as a ping of now; ``RiderShiftChanged`` is
              published, and the live index follows (free online riders only).
        """
        if command.lat is not None and command.lng is not None and not in_cameroon(
            Point(command.lat, command.lng)
        ):
            raise PointOutsideCameroon()
        rider = await with_retries(lambda: self._set_shift(command))
        await sync_index(self._index, rider)
        return rider

    async def expire_stale(self, *, limit: int = 100) -> int:
        """Set offline the on-shift riders silent for ``stale_after``; return how many.

        Business rules: a phone that stopped pinging (battery, no signal, app killed) must not
        keep a job nobody carries nor be offered new ones: the rider goes offline like on a
        tap of the app, so a job before pickup goes back to dispatch at once. A rider who
        carries goods is left busy (logged for operations) until they report or operations
        act. A ping landing meanwhile wins: the rider is re-checked in the transaction.
        """
        cutoff = self._clock.now() - self.stale_after
        async with self._uow() as uow:
            silent = await uow.riders.stale(cutoff, limit=limit)
        expired = 0
        for rider_id in silent:
            command = ShiftChange(rider_id=rider_id, shift=OFFLINE)
            try:
                rider = await with_retries(
                    partial(self._set_shift, command, silent_since=cutoff))
            except DeliveryInProgress:
                log.warning("delivery.silent_rider_with_goods", rider_id=str(rider_id))
                continue
            if rider.shift == OFFLINE:
                expired += 1
                await sync_index(self._index, rider)
        return expired

    async def _set_shift(
        self, command: ShiftChange, *, silent_since: dt.datetime | None = None
    ) -> RiderRecord:
        now = self._clock.now()
        async with self._uow() as uow:
            rider = await uow.riders.ensure(command.rider_id, now)
            if silent_since is not None:
                heard = rider.last_ping_at or rider.shift_changed_at
                if heard is not None and heard >= silent_since:
                    return rider  # it spoke up meanwhile
            elif rider.disabled or not rider.is_rider:
                raise RiderDisabled()
            if command.lat is not None and command.lng is not None:
                ping = Ping(at=now, lat=command.lat, lng=command.lng)
                await uow.pings.add_many(rider.rider_id, [ping], now)
                await uow.riders.move(rider.rider_id, ping)
                rider = await uow.riders.ensure(rider.rider_id, now)
            wanted = command.shift
            if rider.current_delivery_id is not None:
                if wanted != OFFLINE:
                    await uow.commit()
                    return rider  # a rider on a job is busy until it ends
                rider = await self._drop_job(uow, rider)
            if rider.shift == wanted:
                await uow.commit()
                return rider
            changed = await uow.riders.set_shift(
                rider.rider_id, expected_version=rider.shift_version, shift=wanted, now=now
            )
            if changed is None:
                raise TransientConflict()
            publish_shift(uow, changed, now)
            await uow.commit()
            return changed

    async def _drop_job(self, uow: DeliveryUnitOfWork, rider: RiderRecord) -> RiderRecord:
        now = self._clock.now()
        assert rider.current_delivery_id is not None
        delivery = await uow.deliveries.get(rider.current_delivery_id)
        if delivery is not None and delivery.rider_id == rider.rider_id:
            if delivery.status not in BEFORE_PICKUP:
                raise DeliveryInProgress()
            expected = delivery.version
            delivery.release_rider(now)
            if not await uow.deliveries.save(delivery, expected_version=expected):
                raise TransientConflict()
            log.info("delivery.rider_dropped_job", delivery_id=str(delivery.id),
                     rider_id=str(rider.rider_id))
        freed = await uow.riders.free(rider.rider_id, rider.current_delivery_id, now)
        if freed is None:
            raise TransientConflict()
        return freed

    async def ingest(self, rider_id: uuid.UUID, pings: Sequence[Ping]) -> PingOutcome:
        """Record a batch of position pings from a rider's phone.

        Business rules:
            - Only a rider on shift (online or busy) may send pings (409 otherwise).
            - Each ping is checked alone: a time in the future or older than the allowed
              age, or a point outside Cameroon, is rejected with its index and reason while
              the rest of the batch is kept; a batch with no usable ping at all is 422
              ``pings_rejected``.
            - Pings are keyed by (rider, client time): a re-sent batch stores nothing twice.
            - Late pings (older than the newest known one) go to the history only; the live
              position moves only forward in client time.
        """
        now = self._clock.now()
        rejected: list[dict[str, object]] = []
        valid: dict[object, Ping] = {}
        for i, ping in enumerate(pings):
            problem = self._times.problem(ping.at, now)
            if problem is None and not in_cameroon(Point(ping.lat, ping.lng)):
                problem = "outside_cameroon"
            if problem is not None:
                rejected.append({"index": i, "reason": problem})
                continue
            valid.setdefault(ping.at, ping)
        kept = sorted(valid.values(), key=lambda p: p.at)
        if not kept:
            # Nothing usable at all: a clear 422 rather than a 200 that stored nothing.
            raise PingsRejected(len(rejected), ", ".join(
                sorted({str(r["reason"]) for r in rejected})))
        # One conditional write: it stores nothing unless the rider may ping, and returns
        # the rider to tell why not. The hot path of tracking, so a faster writer (one
        # autocommit statement on PostgreSQL) is used when the adapters offer one.
        if self._ping_writer is not None:
            written = await self._ping_writer.record(rider_id, kept, now)
        else:
            async with self._uow() as uow:
                written = await uow.riders.record_pings(rider_id, kept, now)
                await uow.commit()
        rider = None if written is None else written.rider
        if rider is None or rider.shift not in (ONLINE, BUSY):
            raise RiderOffShift()
        if rider.disabled or not rider.is_rider:
            raise RiderDisabled()
        assert written is not None
        inserted, moved = written.inserted, written.moved
        if moved and rider.available:
            try:
                await self._index.upsert(rider_id, Point(kept[-1].lat, kept[-1].lng))
            except Unavailable as exc:
                log.warning("delivery.geo_index_upsert_failed", error=repr(exc))
        return PingOutcome(accepted=inserted, duplicates=len(pings) - len(rejected) - inserted,
                           rejected=rejected, live_updated=moved)
