"""Request and response bodies of the delivery API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- geo ----------------------------------------------------------------------------------


class GeocodeRead(BaseModel):
    """A text placed on the map."""

    lat: float
    lng: float
    city: str
    quartier: str | None
    landmark: str | None
    confidence: float
    method: Literal["landmark", "quartier", "plus_code"]
    plus_code: str


class ReverseRead(BaseModel):
    """The quartier of a point."""

    city: str
    quartier: str
    distance_m: int
    plus_code: str


class PlusCodeRead(BaseModel):
    """A Plus Code and the cell it stands for."""

    code: str
    lat: float
    lng: float
    south: float
    west: float
    north: float
    east: float


# -- quote --------------------------------------------------------------------------------


class QuoteCreate(_In):
    """The drop as checkout knows it; a confirmed pin (lat/lng) wins over the text."""

    store_id: uuid.UUID
    lat: Latitude | None = None
    lng: Longitude | None = None
    city: Annotated[str | None, Field(max_length=60)] = None
    quartier: Annotated[str | None, Field(max_length=120)] = None
    landmark: Annotated[str | None, Field(max_length=300)] = None


class QuoteRead(BaseModel):
    """Serviceability, fee and promise (the shape orders relies on)."""

    serviceable: bool
    fee_xaf: int
    distance_m: int | None
    eta_minutes: int | None
    eta_at: dt.datetime | None
    lat: float | None
    lng: float | None
    reason: str | None


# -- riders -------------------------------------------------------------------------------


class ShiftUpdate(_In):
    """Go online, offline or busy; the current position may come along."""

    status: Literal["online", "offline", "busy"]
    lat: Latitude | None = None
    lng: Longitude | None = None


class RiderRead(BaseModel):
    """A rider's own state."""

    rider_id: uuid.UUID
    shift: str
    lat: float | None
    lng: float | None
    last_ping_at: dt.datetime | None
    current_delivery_id: uuid.UUID | None
    cash_in_hand_xaf: int


class PingIn(_In):
    """One position fix, stamped by the phone's clock."""

    at: AwareDatetime
    lat: Latitude
    lng: Longitude
    accuracy_m: Annotated[float | None, Field(ge=0, le=100_000)] = None


class PingBatch(_In):
    """Pings queued on the phone (possibly after a loss of signal)."""

    pings: Annotated[list[PingIn], Field(min_length=1, max_length=200)]


class PingRejection(BaseModel):
    """A ping refused, by its index in the batch."""

    index: int
    reason: str


class PingResult(BaseModel):
    """What the server did with a batch."""

    accepted: int
    duplicates: int
    rejected: list[PingRejection]
    live_updated: bool


class OfferRead(BaseModel):
    """A job offered to the rider until ``expires_at``."""

    id: uuid.UUID
    delivery_id: uuid.UUID
    order_id: uuid.UUID
    status: str
    expires_at: dt.datetime
    store_name: str | None
    store_lat: float
    store_lng: float
    drop_lat: float | None
    drop_lng: float | None
    drop_quartier: str | None
    drop_landmark: str | None
    cash_to_collect_xaf: int
    fee_xaf: int


class OfferPage(BaseModel):
    """Open offers."""

    data: list[OfferRead]


class StatusUpdate(_In):
    """A rider's progress report; ``at`` is the phone's time (accepted late)."""

    status: Literal["AT_STORE", "PICKED_UP", "ARRIVING", "DELIVERED", "FAILED"]
    at: AwareDatetime
    pin: Annotated[str | None, Field(pattern=r"^\d{4}$")] = None
    photo_upload_id: Annotated[str | None, Field(min_length=1, max_length=100)] = None
    reason: Annotated[str | None, Field(max_length=200)] = None
    lat: Latitude | None = None
    lng: Longitude | None = None


class DeliveryRead(BaseModel):
    """A delivery as riders and operations see it (never the PIN)."""

    id: uuid.UUID
    order_id: uuid.UUID
    store_id: uuid.UUID
    customer_id: uuid.UUID
    rider_id: uuid.UUID | None
    status: str
    store_name: str | None
    store_lat: float
    store_lng: float
    drop_lat: float | None
    drop_lng: float | None
    drop_quartier: str | None
    drop_landmark: str | None
    drop_source: str | None
    customer_phone_masked: str | None
    cash_to_collect_xaf: int
    fee_xaf: int
    eta_at: dt.datetime | None
    failure_reason: str | None
    proof: str | None
    pin_attempts: int
    version: int
    updated_at: dt.datetime


class AssignRequest(_In):
    """Operations give the job to a rider."""

    rider_id: uuid.UUID
    reason: ShortText


# -- tracking -----------------------------------------------------------------------------


class RiderPosition(BaseModel):
    """Where the rider was at ``at`` (phone time)."""

    rider_id: uuid.UUID
    lat: float | None
    lng: float | None
    at: dt.datetime | None


class TrackingRead(BaseModel):
    """An order's delivery as its customer, the store and operations follow it."""

    order_id: uuid.UUID
    delivery_id: uuid.UUID
    status: str
    rider: RiderPosition | None
    eta_at: dt.datetime | None
    drop_lat: float | None
    drop_lng: float | None
    pin: str | None = None
    updated_at: dt.datetime


class PinRead(BaseModel):
    """An order's handover PIN (service-to-service only)."""

    order_id: uuid.UUID
    customer_id: uuid.UUID
    pin: str
