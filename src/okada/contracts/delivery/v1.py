"""delivery.v1: riders and the delivery of each order.

``entity_id`` of delivery events is the delivery id; ``state.order_id`` names the order.
Orders moves the order on ``DeliveryPickedUp``, ``DeliveryCompleted`` and ``DeliveryFailed``.
"""

from __future__ import annotations

import datetime as dt
import uuid

from okada.contracts.base import ContractModel, IntegrationEvent


class DeliveryState(ContractModel):
    """The public state of one order's delivery."""

    order_id: uuid.UUID
    store_id: uuid.UUID
    customer_id: uuid.UUID
    rider_id: uuid.UUID | None
    # "SEARCHING", "ASSIGNED", "AT_STORE", "PICKED_UP", "ARRIVING", "DELIVERED", "FAILED",
    # "CANCELLED"
    status: str
    store_name: str | None = None
    store_lat: float
    store_lng: float
    drop_lat: float | None
    drop_lng: float | None
    drop_quartier: str | None = None
    drop_landmark: str | None = None
    customer_phone_masked: str | None = None
    cash_to_collect_xaf: int = 0
    fee_xaf: int = 0
    eta_at: dt.datetime | None = None
    failure_reason: str | None = None
    proof: str | None = None  # "pin" or "photo"
    updated_at: dt.datetime


class DeliveryEvent(IntegrationEvent):
    """Base of delivery events: full state plus the client time of a rider's update."""

    state: DeliveryState
    at: dt.datetime | None = None  # when it happened on the rider's phone (may be late)


class RiderAssigned(DeliveryEvent, schema="delivery.v1.RiderAssigned"):
    """A rider accepted the job (also after a reassignment)."""


class RiderAtStore(DeliveryEvent, schema="delivery.v1.RiderAtStore"):
    """The rider arrived at the store."""


class DeliveryPickedUp(DeliveryEvent, schema="delivery.v1.DeliveryPickedUp"):
    """The rider left the store with the goods."""


class RiderArriving(DeliveryEvent, schema="delivery.v1.RiderArriving"):
    """The rider is near the customer (critical notification: the customer must come out)."""


class DeliveryCompleted(DeliveryEvent, schema="delivery.v1.DeliveryCompleted"):
    """The customer received the goods (PIN given, or photo proof)."""


class DeliveryFailed(DeliveryEvent, schema="delivery.v1.DeliveryFailed"):
    """The customer was unreachable after call attempts; the goods go back to the store."""


class RiderState(ContractModel):
    """A rider's public state."""

    shift: str  # "offline", "online", "busy"
    lat: float | None
    lng: float | None
    updated_at: dt.datetime


class RiderShiftChanged(IntegrationEvent, schema="delivery.v1.RiderShiftChanged"):
    """A rider went online, offline or busy (``entity_id`` is the rider id)."""

    state: RiderState


class DeliveryOffered(IntegrationEvent, schema="delivery.v1.DeliveryOffered"):
    """A job was offered to a rider (critical for the rider: push, then SMS)."""

    state: DeliveryState
    offer_id: uuid.UUID
    offered_rider_id: uuid.UUID
    expires_at: dt.datetime
