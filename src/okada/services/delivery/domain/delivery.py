"""The delivery of one order: its status machine, its rider and its handover PIN."""

from __future__ import annotations

import datetime as dt
import enum
import hmac
import secrets
import uuid
from dataclasses import dataclass, field

from okada.services.delivery.domain.errors import (
    InvalidTransition,
    OrderNotReady,
    PinLocked,
    ProofRequired,
    ReasonRequired,
    WrongPin,
)


class Status(enum.StrEnum):
    """Delivery statuses (strings on the wire, as in delivery.v1)."""

    SEARCHING = "SEARCHING"
    ASSIGNED = "ASSIGNED"
    AT_STORE = "AT_STORE"
    PICKED_UP = "PICKED_UP"
    ARRIVING = "ARRIVING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


TERMINAL = frozenset({Status.DELIVERED, Status.FAILED, Status.CANCELLED})
WITH_RIDER = frozenset({Status.ASSIGNED, Status.AT_STORE, Status.PICKED_UP, Status.ARRIVING})
BEFORE_PICKUP = frozenset({Status.SEARCHING, Status.ASSIGNED, Status.AT_STORE})
_RANK = {
    Status.SEARCHING: 0,
    Status.ASSIGNED: 1,
    Status.AT_STORE: 2,
    Status.PICKED_UP: 3,
    Status.ARRIVING: 4,
    Status.DELIVERED: 5,
    Status.FAILED: 5,
    Status.CANCELLED: 6,
}
RIDER_MOVES: dict[Status, frozenset[Status]] = {
    # AT_STORE and ARRIVING are courtesy steps a rider may skip (lost signal, tiny ride);
    # PICKED_UP never is: orders confirms the stock and payments the cash on it.
    Status.ASSIGNED: frozenset({Status.AT_STORE, Status.PICKED_UP}),
    Status.AT_STORE: frozenset({Status.PICKED_UP}),
    Status.PICKED_UP: frozenset({Status.ARRIVING, Status.DELIVERED, Status.FAILED}),
    Status.ARRIVING: frozenset({Status.DELIVERED, Status.FAILED}),
}
READY_ORDER_STATUSES = frozenset({"READY_FOR_PICKUP", "PICKED_UP"})


def new_pin() -> str:
    """A random 4-digit handover PIN (leading zeros kept)."""
    return f"{secrets.randbelow(10_000):04d}"


@dataclass(frozen=True, slots=True)
class StatusReached:
    """Domain event: the delivery reached ``status`` (``at`` is the rider's clock, if any)."""

    status: Status
    at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class RiderUpdate:
    """A rider's status report."""

    status: Status
    at: dt.datetime
    pin: str | None = None
    photo_upload_id: str | None = None
    reason: str | None = None
    lat: float | None = None
    lng: float | None = None


@dataclass
class Delivery:
    """One order's delivery.

    Business rules:
        - Created ``SEARCHING`` when the store accepts the order, with a 4-digit PIN only the
          customer sees; a rider's acceptance (or operations) makes it ``ASSIGNED``.
        - The assigned rider moves it ``AT_STORE → PICKED_UP → ARRIVING → DELIVERED`` (or
          ``FAILED`` with a reason, after pickup); see :data:`RIDER_MOVES`.
        - Leaving the store needs the order ready (when the policy says so).
        - ``DELIVERED`` needs the customer's PIN or a photo proof; wrong PINs are counted and
          locked after the limit (photo proof then).
        - Reports are idempotent: the current or an earlier status is a replay and changes
          nothing, so a phone resending after a lost answer is harmless.
    """

    id: uuid.UUID
    order_id: uuid.UUID
    store_id: uuid.UUID
    customer_id: uuid.UUID
    status: Status
    pin: str
    store_name: str | None
    store_lat: float
    store_lng: float
    drop_lat: float | None
    drop_lng: float | None
    created_at: dt.datetime
    updated_at: dt.datetime
    rider_id: uuid.UUID | None = None
    pin_attempts: int = 0
    drop_quartier: str | None = None
    drop_landmark: str | None = None
    drop_source: str | None = None  # "pin", "plus_code", "geocoded" or None
    drop_corrected: bool = False
    place_id: uuid.UUID | None = None
    customer_phone_masked: str | None = None
    cash_to_collect_xaf: int = 0
    fee_xaf: int = 0
    order_status: str = "ACCEPTED"
    order_version: int = 0
    eta_at: dt.datetime | None = None
    dispatch_due_at: dt.datetime | None = None
    failure_reason: str | None = None
    proof: str | None = None
    photo_upload_id: str | None = None
    assign_reason: str | None = None
    status_at: dt.datetime | None = None
    version: int = 1
    _events: list[StatusReached] = field(default_factory=list, repr=False)

    @property
    def terminal(self) -> bool:
        """Delivered, failed or cancelled: nothing moves any more."""
        return self.status in TERMINAL

    def collect_events(self) -> list[StatusReached]:
        """Hand over and forget the pending domain events."""
        events, self._events = self._events, []
        return events

    def _reach(self, status: Status, now: dt.datetime, at: dt.datetime | None) -> None:
        self.status = status
        self.updated_at = now
        self.status_at = at
        self.version += 1
        self._events.append(StatusReached(status, at))

    def offer_due(self, now: dt.datetime) -> bool:
        """Whether the dispatcher should look for a rider now."""
        return (self.status is Status.SEARCHING and self.dispatch_due_at is not None
                and self.dispatch_due_at <= now)

    def schedule(self, due: dt.datetime | None, now: dt.datetime) -> None:
        """Look for a rider (again) at ``due`` while searching."""
        self.dispatch_due_at = due
        self.updated_at = now
        self.version += 1

    def assign(self, rider_id: uuid.UUID, now: dt.datetime, *, reason: str | None = None
               ) -> uuid.UUID | None:
        """Give the job to ``rider_id``; return the rider it was taken from, if any.

        Only before pickup: once the goods left with a rider, they are that rider's job.
        """
        if self.status not in BEFORE_PICKUP:
            raise InvalidTransition(self.status.value, Status.ASSIGNED.value)
        previous = self.rider_id
        if previous == rider_id and self.status is not Status.SEARCHING:
            return None
        self.rider_id = rider_id
        self.assign_reason = reason
        self.dispatch_due_at = None
        self._reach(Status.ASSIGNED, now, None)
        return previous

    def release_rider(self, now: dt.datetime) -> uuid.UUID | None:
        """The rider dropped out before pickup: search again at once; return that rider."""
        if self.status not in (Status.ASSIGNED, Status.AT_STORE):
            return None
        previous = self.rider_id
        self.rider_id = None
        self.dispatch_due_at = now
        self.status = Status.SEARCHING
        self.updated_at = now
        self.version += 1
        return previous

    def cancel(self, now: dt.datetime) -> bool:
        """The order was cancelled: the job ends (False if it already ended)."""
        if self.terminal:
            return False
        self.dispatch_due_at = None
        self._reach(Status.CANCELLED, now, None)
        return True

    def paid_electronically(self, now: dt.datetime) -> bool:
        """The customer paid a cash order by mobile money at the door: no cash to collect.

        Returns False when there was nothing to change (not a cash job, or already ended).
        """
        if self.terminal or self.cash_to_collect_xaf == 0:
            return False
        self.cash_to_collect_xaf = 0
        self.updated_at = now
        self.version += 1
        return True

    def order_changed(self, status: str, version: int, now: dt.datetime) -> bool:
        """Apply a newer order status; an order ready early is dispatched at once."""
        if version <= self.order_version:
            return False
        self.order_status = status
        self.order_version = version
        if (status == "READY_FOR_PICKUP" and self.status is Status.SEARCHING
                and self.dispatch_due_at is not None and self.dispatch_due_at > now):
            self.dispatch_due_at = now
        self.version += 1
        self.updated_at = now
        return True

    def rider_report(
        self,
        update: RiderUpdate,
        now: dt.datetime,
        *,
        pickup_requires_ready: bool,
        max_pin_attempts: int,
    ) -> bool:
        """Apply the assigned rider's report; False when it is a replay (nothing changed).

        Raises:
            WrongPin: The PIN is wrong (the attempt was counted: save before raising on).
            PinLocked: Too many wrong PINs.
        """
        wanted = update.status
        if wanted == self.status or (
            not self.terminal and _RANK[wanted] < _RANK[self.status]
        ):
            return False
        if wanted not in RIDER_MOVES.get(self.status, frozenset()):
            raise InvalidTransition(self.status.value, wanted.value)
        if wanted is Status.PICKED_UP and pickup_requires_ready and (
            self.order_status not in READY_ORDER_STATUSES
        ):
            raise OrderNotReady()
        if wanted is Status.FAILED:
            reason = (update.reason or "").strip()
            if not reason:
                raise ReasonRequired()
            self.failure_reason = reason[:200]
        if wanted is Status.DELIVERED:
            self._prove(update, max_pin_attempts, now)
            if update.lat is not None and update.lng is not None:
                # The rider stands at the real door: keep the corrected drop point.
                self.drop_corrected = (update.lat, update.lng) != (self.drop_lat, self.drop_lng)
                self.drop_lat, self.drop_lng = update.lat, update.lng
        self._reach(wanted, now, update.at)
        return True

    def _prove(self, update: RiderUpdate, max_pin_attempts: int, now: dt.datetime) -> None:
        if update.pin is not None:
            if self.pin_attempts >= max_pin_attempts:
                raise PinLocked()
            if hmac.compare_digest(update.pin.encode(), self.pin.encode()):
                self.proof = "pin"
                return
            self.pin_attempts += 1
            self.version += 1
            self.updated_at = now
            raise WrongPin(attempts_left=max(0, max_pin_attempts - self.pin_attempts))
        if update.photo_upload_id:
            self.proof = "photo"
            self.photo_upload_id = update.photo_upload_id[:100]
            return
        raise ProofRequired()
