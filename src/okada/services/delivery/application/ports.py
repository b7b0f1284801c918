"""What the delivery application needs from its database and its live geo index."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from types import TracebackType
from typing import Protocol, Self

from okada.contracts.base import IntegrationEvent
from okada.kernel.messages import Envelope
from okada.services.delivery.application.model import (
    OfferRecord,
    Ping,
    PingWrite,
    PlaceCorrection,
    RiderRecord,
    StoreRecord,
)
from okada.services.delivery.domain.delivery import Delivery
from okada.services.delivery.domain.geo import Point


class StoreRepository(Protocol):
    """Replica of catalog stores."""

    async def get(self, store_id: uuid.UUID) -> StoreRecord | None:
        """The store, None if never heard of."""
        ...

    async def upsert(self, store: StoreRecord, now: dt.datetime) -> bool:
        """Insert or replace when ``store.version`` is newer; False if not applied."""
        ...


class RiderRepository(Protocol):
    """Riders. Writes that decide something are single conditional statements."""

    async def get(self, rider_id: uuid.UUID) -> RiderRecord | None:
        """One rider."""
        ...

    async def get_many(self, rider_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, RiderRecord]:
        """Several riders by id (unknown ones left out)."""
        ...

    async def ensure(self, rider_id: uuid.UUID, now: dt.datetime) -> RiderRecord:
        """The rider, inserted offline first if unknown (signed-in riders before the replica)."""
        ...

    async def apply_user(
        self, rider_id: uuid.UUID, *, version: int, is_rider: bool, disabled: bool,
        now: dt.datetime,
    ) -> bool:
        """Apply a newer identity state; False when not newer."""
        ...

    async def apply_cash(
        self, rider_id: uuid.UUID, *, version: int, cash_in_hand_xaf: int,
        float_limit_xaf: int, now: dt.datetime,
    ) -> bool:
        """Apply a newer cash ledger state; False when not newer."""
        ...

    async def set_shift(
        self, rider_id: uuid.UUID, *, expected_version: int, shift: str, now: dt.datetime
    ) -> RiderRecord | None:
        """Compare-and-swap the shift on ``shift_version``; None if it moved meanwhile."""
        ...

    async def take_job(
        self, rider_id: uuid.UUID, delivery_id: uuid.UUID, now: dt.datetime, *,
        require_online: bool = True,
    ) -> RiderRecord | None:
        """Make a free rider busy with the job; None (nothing written) if not free."""
        ...

    async def free(
        self, rider_id: uuid.UUID, delivery_id: uuid.UUID, now: dt.datetime
    ) -> RiderRecord | None:
        """End the rider's job if it is this one; busy riders go back online."""
        ...

    async def move(self, rider_id: uuid.UUID, ping: Ping) -> bool:
        """Set the live position if ``ping`` is newer than the last one; False otherwise."""
        ...

    async def record_pings(
        self, rider_id: uuid.UUID, pings: Sequence[Ping], now: dt.datetime
    ) -> PingWrite | None:
        """Store a rider's pings and move the live position, if the rider may send them.

        Only for a rider on shift (online or busy) with an active rider account: the pings are
        inserted (ones already stored, same rider and time, are skipped) and the live position
        moves to the newest ping if it is newer than the last one. Otherwise nothing is
        written. Returns the rider as read before the write (the caller tells why it was
        refused), or None for an unknown rider. ``pings`` are sorted by time.
        """
        ...

    async def mark_offered(self, rider_ids: Sequence[uuid.UUID], now: dt.datetime) -> None:
        """Remember when these riders were last offered a job (fair rotation)."""
        ...

    async def stale(self, cutoff: dt.datetime, *, limit: int) -> list[uuid.UUID]:
        """On-shift riders not heard of (no ping, no shift change) since ``cutoff``."""
        ...


class PingRepository(Protocol):
    """The position history of riders."""

    async def add_many(
        self, rider_id: uuid.UUID, pings: Sequence[Ping], now: dt.datetime
    ) -> int:
        """Insert pings, skipping ones already stored (same rider and time); return inserted."""
        ...

    async def history(self, rider_id: uuid.UUID, *, limit: int) -> list[Ping]:
        """The newest pings first."""
        ...


class PingWriter(Protocol):
    """A faster way to run ``RiderRepository.record_pings`` in a transaction of its own."""

    async def record(
        self, rider_id: uuid.UUID, pings: Sequence[Ping], now: dt.datetime
    ) -> PingWrite | None:
        """Same contract as ``RiderRepository.record_pings``, committed on return."""
        ...


class DeliveryRepository(Protocol):
    """Deliveries; saves are compare-and-swap on the version read."""

    async def get(self, delivery_id: uuid.UUID) -> Delivery | None:
        """One delivery."""
        ...

    async def by_order(self, order_id: uuid.UUID) -> Delivery | None:
        """The delivery of an order."""
        ...

    async def add(self, delivery: Delivery) -> bool:
        """Insert; False when the order already has a delivery."""
        ...

    async def save(self, delivery: Delivery, *, expected_version: int) -> bool:
        """Write the delivery if its stored version is still ``expected_version``."""
        ...

    async def due(self, now: dt.datetime, *, limit: int) -> list[uuid.UUID]:
        """Searching deliveries whose dispatch is due, oldest due first."""
        ...


class OfferRepository(Protocol):
    """Offers of jobs to riders."""

    async def add(self, offer: OfferRecord) -> None:
        """Insert an offer."""
        ...

    async def get(self, offer_id: uuid.UUID) -> OfferRecord | None:
        """One offer."""
        ...

    async def pending_for_rider(self, rider_id: uuid.UUID, now: dt.datetime) -> list[OfferRecord]:
        """A rider's offers still open at ``now``."""
        ...

    async def pending_for_delivery(
        self, delivery_id: uuid.UUID, now: dt.datetime
    ) -> list[OfferRecord]:
        """A job's offers still open at ``now``."""
        ...

    async def offered_riders(self, delivery_id: uuid.UUID, *, since: dt.datetime
                             ) -> set[uuid.UUID]:
        """Riders this job was offered to since ``since``."""
        ...

    async def respond(
        self, offer_id: uuid.UUID, rider_id: uuid.UUID, *, status: str, now: dt.datetime
    ) -> bool:
        """Close an open, unexpired offer of this rider with ``status``; False if it was not."""
        ...

    async def expire_due(self, now: dt.datetime, *, limit: int) -> list[uuid.UUID]:
        """Mark offers past their time expired; return the ids of their deliveries."""
        ...

    async def withdraw(self, delivery_id: uuid.UUID, now: dt.datetime) -> int:
        """Close every open offer of a job (assigned or cancelled); return how many."""
        ...


class PlaceCorrectionRepository(Protocol):
    """Corrected drop points waiting to reach identity (rows with a due time)."""

    async def add(self, correction: PlaceCorrection) -> None:
        """Insert (once per delivery)."""
        ...

    async def due(self, now: dt.datetime, *, limit: int) -> list[PlaceCorrection]:
        """Pending corrections due by ``now``."""
        ...

    async def record(
        self, correction: PlaceCorrection, *, status: str, attempts: int,
        next_attempt_at: dt.datetime, error: str | None, now: dt.datetime,
    ) -> bool:
        """Store an attempt's outcome if nobody recorded one since ``correction`` was read."""
        ...


class DeliveryUnitOfWork(Protocol):
    """One transaction over the delivery database, outbox included."""

    stores: StoreRepository
    riders: RiderRepository
    pings: PingRepository
    deliveries: DeliveryRepository
    offers: OfferRepository
    place_corrections: PlaceCorrectionRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def publish(self, event: IntegrationEvent, *, aggregate_id: str | None = None) -> Envelope:
        """Queue an integration event for the outbox of this transaction."""
        ...

    async def commit(self) -> None:
        """Commit state and outbox together."""
        ...

    async def rollback(self) -> None:
        """Discard the transaction."""
        ...


class GeoIndex(Protocol):
    """Live positions of the riders free for a job (Redis GEO or memory, one contract).

    The index is a fast, rebuildable view: the database stays the truth, every choice made
    from the index is checked against it, and every ping of a free rider re-adds them.
    """

    async def upsert(self, rider_id: uuid.UUID, point: Point) -> None:
        """Add or move a rider."""
        ...

    async def remove(self, rider_id: uuid.UUID) -> None:
        """Drop a rider (offline, busy)."""
        ...

    async def nearby(
        self, point: Point, *, radius_m: float, limit: int
    ) -> list[tuple[uuid.UUID, float]]:
        """Riders within ``radius_m`` of ``point``, nearest first, with distances in metres."""
        ...


class PlaceUpdateFailed(Exception):
    """Identity could not be reached or refused for a reason worth retrying."""


class CustomerPlaces(Protocol):
    """The customer's saved places (owned by identity), edited on the customer's behalf."""

    async def move_pin(
        self, customer_id: uuid.UUID, place_id: uuid.UUID, lat: float, lng: float
    ) -> bool:
        """Set the place's pin; False if the place no longer exists.

        Raises:
            PlaceUpdateFailed: Try again later.
        """
        ...
