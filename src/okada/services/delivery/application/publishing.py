"""Integration events of delivery, built from the aggregate after a change."""

from __future__ import annotations

import datetime as dt

from okada.contracts.delivery.v1 import (
    DeliveryCompleted,
    DeliveryEvent,
    DeliveryFailed,
    DeliveryOffered,
    DeliveryPickedUp,
    DeliveryState,
    RiderArriving,
    RiderAssigned,
    RiderAtStore,
    RiderShiftChanged,
    RiderState,
)
from okada.services.delivery.application.model import OfferRecord, RiderRecord
from okada.services.delivery.application.ports import DeliveryUnitOfWork
from okada.services.delivery.domain.delivery import Delivery, Status

EVENT_BY_STATUS: dict[Status, type[DeliveryEvent]] = {
    Status.ASSIGNED: RiderAssigned,
    Status.AT_STORE: RiderAtStore,
    Status.PICKED_UP: DeliveryPickedUp,
    Status.ARRIVING: RiderArriving,
    Status.DELIVERED: DeliveryCompleted,
    Status.FAILED: DeliveryFailed,
}
"""``CANCELLED`` has no event: it follows the order's own ``OrderCancelled``."""


def delivery_state(delivery: Delivery) -> DeliveryState:
    """The public state of a delivery (never the PIN)."""
    return DeliveryState(
        order_id=delivery.order_id,
        store_id=delivery.store_id,
        customer_id=delivery.customer_id,
        rider_id=delivery.rider_id,
        status=delivery.status.value,
        store_name=delivery.store_name,
        store_lat=delivery.store_lat,
        store_lng=delivery.store_lng,
        drop_lat=delivery.drop_lat,
        drop_lng=delivery.drop_lng,
        drop_quartier=delivery.drop_quartier,
        drop_landmark=delivery.drop_landmark,
        customer_phone_masked=delivery.customer_phone_masked,
        cash_to_collect_xaf=delivery.cash_to_collect_xaf,
        fee_xaf=delivery.fee_xaf,
        eta_at=delivery.eta_at,
        failure_reason=delivery.failure_reason,
        proof=delivery.proof,
        updated_at=delivery.updated_at,
    )


def publish_delivery_events(uow: DeliveryUnitOfWork, delivery: Delivery) -> None:
    """Turn the delivery's pending domain events into contract events (outbox)."""
    for event in delivery.collect_events():
        event_cls = EVENT_BY_STATUS.get(event.status)
        if event_cls is not None:
            uow.publish(event_cls(entity_id=delivery.id, version=delivery.version,
                                  state=delivery_state(delivery), at=event.at))


def publish_offer(uow: DeliveryUnitOfWork, delivery: Delivery, offer: OfferRecord) -> None:
    """``DeliveryOffered`` to the rider (critical: push, then SMS)."""
    uow.publish(DeliveryOffered(entity_id=delivery.id, version=delivery.version,
                                state=delivery_state(delivery), offer_id=offer.id,
                                offered_rider_id=offer.rider_id, expires_at=offer.expires_at))


def publish_shift(uow: DeliveryUnitOfWork, rider: RiderRecord, now: dt.datetime) -> None:
    """``RiderShiftChanged`` with the rider's shift and last position."""
    uow.publish(RiderShiftChanged(
        entity_id=rider.rider_id, version=rider.shift_version,
        state=RiderState(shift=rider.shift, lat=rider.last_lat, lng=rider.last_lng,
                         updated_at=rider.shift_changed_at or now),
    ))
