"""Dispatch: offering jobs to riders, atomic claims, expiry, hand assignment by operations."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import structlog

from okada.kernel.clock import Clock
from okada.kernel.errors import Unavailable
from okada.kernel.ids import new_id
from okada.services.delivery.application.errors import (
    DeliveryNotFound,
    OfferExpired,
    OfferNotFound,
    OfferTaken,
    RiderBusy,
    RiderDisabled,
    RiderNotFound,
    TransientConflict,
)
from okada.services.delivery.application.model import OfferRecord, RiderRecord
from okada.services.delivery.application.ports import DeliveryUnitOfWork, GeoIndex
from okada.services.delivery.application.publishing import (
    publish_delivery_events,
    publish_offer,
    publish_shift,
)
from okada.services.delivery.application.retry import with_retries
from okada.services.delivery.application.riders import sync_index
from okada.services.delivery.domain.delivery import Delivery, Status
from okada.services.delivery.domain.dispatch import Candidate, rank
from okada.services.delivery.domain.geo import Point

log = structlog.get_logger(__name__)

UowFactory = Callable[[], DeliveryUnitOfWork]


@dataclass(frozen=True, slots=True)
class DispatchPolicy:
    """How dispatch looks for riders (from settings)."""

    search_radius_m: int = 5000
    candidate_limit: int = 30
    rotation_bucket_m: int = 500
    offer_timeout: dt.timedelta = dt.timedelta(seconds=30)
    offer_fanout: int = 1
    retry_after: dt.timedelta = dt.timedelta(seconds=20)
    reoffer_after: dt.timedelta = dt.timedelta(minutes=5)
    default_float_limit_xaf: int = 50_000
    batch_size: int = 100


class DispatchService:
    """Offers, claims and assignments.

    Business rules:
        - A searching job whose dispatch time has come is offered to the best free riders
          near the store (see :func:`okada.services.delivery.domain.dispatch.rank`), one at a
          time by default (``offer_fanout``), each offer open for ``offer_timeout``.
        - An offer that lapses or is declined moves the job to the next rider; a rider is not
          offered the same job again for ``reoffer_after``; with nobody available the job is
          retried after ``retry_after`` (operations see it searching and may assign by hand).
        - A claim is atomic: the job's status and version are compared and swapped in one
          statement, so of riders accepting at once exactly one wins; the others get 409
          ``offer_taken``. The winner becomes busy with the job in the same transaction.
    """

    def __init__(
        self, *, uow_factory: UowFactory, clock: Clock, index: GeoIndex, policy: DispatchPolicy
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._index = index
        self.policy = policy

    # -- the worker -------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Expire lapsed offers, then offer every due job; return the offers made."""
        now = self._clock.now()
        async with self._uow() as uow:
            await uow.offers.expire_due(now, limit=self.policy.batch_size)
            await uow.commit()
        async with self._uow() as uow:
            due = await uow.deliveries.due(now, limit=self.policy.batch_size)
        made = 0
        for delivery_id in due:
            try:
                made += await with_retries(partial(self._dispatch, delivery_id))
            except Exception as exc:  # one bad job must not stop the others
                log.warning("delivery.dispatch_failed", delivery_id=str(delivery_id),
                            error=repr(exc))
        return made

    async def _dispatch(self, delivery_id: uuid.UUID) -> int:
        now = self._clock.now()
        async with self._uow() as uow:
            delivery = await uow.deliveries.get(delivery_id)
            if delivery is None or not delivery.offer_due(now):
                return 0
            expected = delivery.version
            open_offers = await uow.offers.pending_for_delivery(delivery_id, now)
            if open_offers:  # still waiting for an answer: look again when they lapse
                delivery.schedule(min(o.expires_at for o in open_offers), now)
                return await self._save(uow, delivery, expected, 0)
            chosen = await self._choose(uow, delivery, now)
            if not chosen:
                delivery.schedule(now + self.policy.retry_after, now)
                log.info("delivery.no_rider_available", delivery_id=str(delivery_id))
                return await self._save(uow, delivery, expected, 0)
            expires = now + self.policy.offer_timeout
            delivery.schedule(expires, now)
            offers = [OfferRecord(id=new_id(), delivery_id=delivery.id, rider_id=c.rider_id,
                                  status="pending", created_at=now, expires_at=expires)
                      for c in chosen]
            for offer in offers:
                await uow.offers.add(offer)
                publish_offer(uow, delivery, offer)
            await uow.riders.mark_offered([c.rider_id for c in chosen], now)
            return await self._save(uow, delivery, expected, len(offers))

    async def _save(
        self, uow: DeliveryUnitOfWork, delivery: Delivery, expected: int, made: int
    ) -> int:
        if not await uow.deliveries.save(delivery, expected_version=expected):
            raise TransientConflict()
        await uow.commit()
        return made

    async def _choose(
        self, uow: DeliveryUnitOfWork, delivery: Delivery, now: dt.datetime
    ) -> list[Candidate]:
        excluded = await uow.offers.offered_riders(delivery.id,
                                                   since=now - self.policy.reoffer_after)
        try:
            nearby = await self._index.nearby(
                _point(delivery), radius_m=self.policy.search_radius_m,
                limit=self.policy.candidate_limit + len(excluded),
            )
        except Unavailable as exc:
            log.warning("delivery.geo_index_unavailable", error=repr(exc))
            return []
        ids = [rider for rider, _ in nearby if rider not in excluded]
        records = await uow.riders.get_many(ids)
        candidates = []
        for rider_id, distance in nearby:
            record = records.get(rider_id)
            # The index is a view: the database decides who is really free.
            if record is None or rider_id in excluded or not record.available:
                continue
            candidates.append(Candidate(
                rider_id=rider_id, distance_m=distance, last_offered_at=record.last_offered_at,
                cash_in_hand_xaf=record.cash_in_hand_xaf,
                float_limit_xaf=(record.float_limit_xaf if record.float_limit_xaf is not None
                                 else self.policy.default_float_limit_xaf),
            ))
        ranked = rank(candidates, cash_to_collect_xaf=delivery.cash_to_collect_xaf,
                      bucket_m=self.policy.rotation_bucket_m)
        return ranked[: max(1, self.policy.offer_fanout)]

    # -- riders answering -------------------------------------------------------------------

    async def offers_for(self, rider_id: uuid.UUID) -> list[tuple[OfferRecord, Delivery]]:
        """A rider's open offers with their jobs."""
        now = self._clock.now()
        async with self._uow() as uow:
            found = []
            for offer in await uow.offers.pending_for_rider(rider_id, now):
                delivery = await uow.deliveries.get(offer.delivery_id)
                if delivery is not None and delivery.status is Status.SEARCHING:
                    found.append((offer, delivery))
        return found

    async def accept(self, rider_id: uuid.UUID, offer_id: uuid.UUID) -> Delivery:
        """Claim the job of an offer; exactly one of concurrent claimers wins (409 for others).

        Accepting again after winning returns the job (idempotent).
        """
        delivery, rider = await with_retries(lambda: self._accept(rider_id, offer_id))
        await sync_index(self._index, rider)
        return delivery

    async def _accept(
        self, rider_id: uuid.UUID, offer_id: uuid.UUID
    ) -> tuple[Delivery, RiderRecord]:
        now = self._clock.now()
        async with self._uow() as uow:
            offer = await uow.offers.get(offer_id)
            if offer is None or offer.rider_id != rider_id:
                raise OfferNotFound()
            delivery = await uow.deliveries.get(offer.delivery_id)
            if delivery is None:
                raise OfferNotFound()
            rider = await uow.riders.ensure(rider_id, now)
            if offer.status == "accepted" and delivery.rider_id == rider_id:
                return delivery, rider
            if offer.status == "expired" or (offer.status == "pending"
                                             and offer.expires_at <= now):
                raise OfferExpired()
            if offer.status != "pending" or delivery.status is not Status.SEARCHING:
                raise OfferTaken()
            if rider.disabled or not rider.is_rider:
                raise RiderDisabled()
            expected = delivery.version
            delivery.assign(rider_id, now)
            # The guard: the job is written only if nobody changed it since we read it.
            if not await uow.deliveries.save(delivery, expected_version=expected):
                raise TransientConflict()  # re-read: most likely another rider won
            if not await uow.offers.respond(offer_id, rider_id, status="accepted", now=now):
                raise TransientConflict()  # the offer lapsed meanwhile: re-read says so
            busy = await uow.riders.take_job(rider_id, delivery.id, now)
            if busy is None:
                raise RiderBusy()
            await uow.offers.withdraw(delivery.id, now)
            publish_delivery_events(uow, delivery)
            publish_shift(uow, busy, now)
            await uow.commit()
            return delivery, busy

    async def decline(self, rider_id: uuid.UUID, offer_id: uuid.UUID) -> OfferRecord:
        """Refuse an offer: the job goes to the next rider at once (a repeat is a no-op)."""
        return await with_retries(lambda: self._decline(rider_id, offer_id))

    async def _decline(self, rider_id: uuid.UUID, offer_id: uuid.UUID) -> OfferRecord:
        now = self._clock.now()
        async with self._uow() as uow:
            offer = await uow.offers.get(offer_id)
            if offer is None or offer.rider_id != rider_id:
                raise OfferNotFound()
            if offer.status == "declined":
                return offer
            if not await uow.offers.respond(offer_id, rider_id, status="declined", now=now):
                if offer.status == "pending" and offer.expires_at > now:
                    raise TransientConflict()
                raise OfferExpired() if offer.status in ("pending", "expired") else OfferTaken()
            delivery = await uow.deliveries.get(offer.delivery_id)
            if delivery is not None and delivery.status is Status.SEARCHING and not (
                await uow.offers.pending_for_delivery(delivery.id, now)
            ):
                expected = delivery.version
                delivery.schedule(now, now)
                if not await uow.deliveries.save(delivery, expected_version=expected):
                    raise TransientConflict()
            await uow.commit()
            return OfferRecord(offer.id, offer.delivery_id, offer.rider_id, "declined",
                               offer.created_at, offer.expires_at, now)

    # -- operations -------------------------------------------------------------------------

    async def assign(self, delivery_id: uuid.UUID, rider_id: uuid.UUID, *, reason: str
                     ) -> Delivery:
        """Operations give a job to a rider by hand (also to take it from another).

        Business rules: only before pickup (409 after); the rider must be a known, enabled
        rider without another job (online or not: operations may have phoned them); the
        previous rider, if any, is freed; open offers are withdrawn; ``RiderAssigned`` is
        published with the new rider.
        """
        delivery, riders = await with_retries(
            lambda: self._assign(delivery_id, rider_id, reason))
        for rider in riders:
            await sync_index(self._index, rider)
        return delivery

    async def _assign(
        self, delivery_id: uuid.UUID, rider_id: uuid.UUID, reason: str
    ) -> tuple[Delivery, list[RiderRecord]]:
        now = self._clock.now()
        async with self._uow() as uow:
            delivery = await uow.deliveries.get(delivery_id)
            if delivery is None:
                raise DeliveryNotFound()
            rider = await uow.riders.get(rider_id)
            if rider is None:
                raise RiderNotFound()
            if rider.disabled or not rider.is_rider:
                raise RiderDisabled()
            expected = delivery.version
            previous = delivery.assign(rider_id, now, reason=reason[:200])
            if delivery.version == expected:  # already this rider's job
                return delivery, []
            if not await uow.deliveries.save(delivery, expected_version=expected):
                raise TransientConflict()
            busy = await uow.riders.take_job(rider_id, delivery.id, now, require_online=False)
            if busy is None:
                raise RiderBusy()
            changed = [busy]
            if previous is not None and previous != rider_id:
                freed = await uow.riders.free(previous, delivery.id, now)
                if freed is not None:
                    changed.append(freed)
            await uow.offers.withdraw(delivery.id, now)
            publish_delivery_events(uow, delivery)
            for record in changed:
                publish_shift(uow, record, now)
            await uow.commit()
            return delivery, changed


def _point(delivery: Delivery) -> Point:
    return Point(delivery.store_lat, delivery.store_lng)
