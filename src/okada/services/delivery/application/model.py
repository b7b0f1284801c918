"""Records the application reads and writes besides the delivery aggregate."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from okada.services.delivery.domain.geo import Point
from okada.services.delivery.domain.pricing import StoreArea

OFFLINE, ONLINE, BUSY = "offline", "online", "busy"
SHIFTS = frozenset({OFFLINE, ONLINE, BUSY})


@dataclass(frozen=True, slots=True)
class StoreRecord:
    """What delivery keeps of a catalog store (replica of ``catalog.v1.StoreUpdated``)."""

    store_id: uuid.UUID
    version: int
    name: str
    city: str
    quartier: str
    lat: float
    lng: float
    radius_m: int | None
    polygon: list[tuple[float, float]] | None
    opening_hours: list[dict[str, Any]]
    status: str
    prep_minutes: int
    deleted: bool = False

    @property
    def location(self) -> Point:
        """Where riders pick up."""
        return Point(self.lat, self.lng)

    @property
    def area(self) -> StoreArea:
        """Where the store delivers."""
        return StoreArea(self.location, self.radius_m, self.polygon)


@dataclass(frozen=True, slots=True)
class RiderRecord:
    """A rider: identity replica, shift, last position, cash replica and rotation."""

    rider_id: uuid.UUID
    shift: str = OFFLINE
    shift_version: int = 0
    user_version: int = 0
    is_rider: bool = True
    disabled: bool = False
    shift_changed_at: dt.datetime | None = None
    last_lat: float | None = None
    last_lng: float | None = None
    last_ping_at: dt.datetime | None = None
    last_offered_at: dt.datetime | None = None
    current_delivery_id: uuid.UUID | None = None
    cash_in_hand_xaf: int = 0
    float_limit_xaf: int | None = None
    cash_version: int = 0

    @property
    def position(self) -> Point | None:
        """The last known position."""
        if self.last_lat is None or self.last_lng is None:
            return None
        return Point(self.last_lat, self.last_lng)

    @property
    def available(self) -> bool:
        """Online, free, an active rider account: may be offered a job."""
        return (self.shift == ONLINE and self.current_delivery_id is None and self.is_rider
                and not self.disabled)


@dataclass(frozen=True, slots=True)
class OfferRecord:
    """A job offered to one rider until ``expires_at``."""

    id: uuid.UUID
    delivery_id: uuid.UUID
    rider_id: uuid.UUID
    status: str  # pending, accepted, declined, expired, withdrawn
    created_at: dt.datetime
    expires_at: dt.datetime
    responded_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Ping:
    """One position fix from a rider's phone, stamped by the phone's clock."""

    at: dt.datetime
    lat: float
    lng: float
    accuracy_m: float | None = None


@dataclass(frozen=True, slots=True)
class PingWrite:
    """What storing a batch of pings did: the rider as read, rows inserted, position moved."""

    rider: RiderRecord
    inserted: int
    moved: bool


@dataclass(frozen=True, slots=True)
class PingOutcome:
    """What happened to a batch of pings."""

    accepted: int
    duplicates: int
    rejected: list[dict[str, Any]] = field(default_factory=list)
    live_updated: bool = False


@dataclass(frozen=True, slots=True)
class PlaceCorrection:
    """A rider's corrected drop point, to be saved back to the customer's saved place."""

    delivery_id: uuid.UUID
    customer_id: uuid.UUID
    place_id: uuid.UUID
    lat: float
    lng: float
    status: str  # pending, done, dropped (place gone), failed (gave up)
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None = None
