"""Reactions to other services' events: local read models, payment and delivery verdicts.

Business rules:
    - Read models (stores, products, offers, users, places) keep the newest version of each
      entity; an event not newer than what is stored changes nothing (redelivery, reordering).
    - ``PaymentCaptured``: PENDING_PAYMENT → CONFIRMED; after expiry the capture is recorded and
      the ``late_payment`` step holds the basket again (confirm) or cancels.
    - ``PaymentFailed``: PENDING_PAYMENT → EXPIRED (reason EXPIRED) or CANCELLED by the system.
    - ``RiderAssigned`` records the rider; ``DeliveryPickedUp`` → PICKED_UP (stock confirmed),
      ``DeliveryCompleted`` → DELIVERED, ``DeliveryFailed`` → DELIVERY_FAILED (goods back).
    - Each message is applied once (inbox claim in the same transaction as the append).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog

from okada.contracts.base import IntegrationEvent
from okada.contracts.catalog.v1 import PriceChanged, ProductRemoved, ProductUpserted, StoreUpdated
from okada.contracts.delivery.v1 import (
    DeliveryCompleted,
    DeliveryEvent,
    DeliveryFailed,
    DeliveryPickedUp,
    RiderAssigned,
)
from okada.contracts.identity.v1 import PlaceChanged, UserRegistered, UserUpdated
from okada.contracts.payments.v1 import PaymentCaptured, PaymentFailed
from okada.kernel.clock import Clock
from okada.kernel.errors import OkadaError
from okada.services.orders.application.ports import OrdersUnitOfWork
from okada.services.orders.application.saga import HoldTimes, schedule_steps
from okada.services.orders.domain.order import (
    DELIVERED,
    DELIVERY_FAILED,
    PICKED_UP,
    SYSTEM_ACTOR,
    TERMINAL,
    Order,
)

log = structlog.get_logger(__name__)

CONSUMER = "orders"

HANDLED: dict[str, type[IntegrationEvent]] = {
    cls.schema_name: cls
    for cls in (
        StoreUpdated, ProductUpserted, ProductRemoved, PriceChanged,
        UserRegistered, UserUpdated, PlaceChanged,
        PaymentCaptured, PaymentFailed,
        RiderAssigned, DeliveryPickedUp, DeliveryCompleted, DeliveryFailed,
    )
}


class Reactions:
    """Applies one received event inside the consumer's unit of work (inbox claimed)."""

    def __init__(self, *, clock: Clock, limits: HoldTimes) -> None:
        self._clock = clock
        self._limits = limits

    async def handle(self, event: IntegrationEvent, uow: OrdersUnitOfWork) -> None:
        """Dispatch by type. A conflicting append raises and the bus delivers again."""
        if isinstance(event, StoreUpdated):
            s = event.state
            await uow.local.upsert("store", (event.entity_id,), event.version, {
                "city": s.city, "lat": s.lat, "lng": s.lng,
                "delivery_radius_m": s.delivery_radius_m,
                "delivery_polygon": [list(p) for p in s.delivery_polygon]
                if s.delivery_polygon else None,
                "opening_hours": [x.model_dump() for x in s.opening_hours],
                "timezone": s.timezone, "status": s.status, "prep_minutes": s.prep_minutes,
                "deleted": s.deleted,
            })
        elif isinstance(event, ProductUpserted | ProductRemoved):
            p = event.state
            await uow.local.upsert("product", (event.entity_id,), event.version, {
                "name": p.name.model_dump(), "unit": p.unit.model_dump(),
                "deleted": isinstance(event, ProductRemoved) or p.deleted,
            })
        elif isinstance(event, PriceChanged):
            o = event.state
            await uow.local.upsert("offer", (o.store_id, o.product_id), event.version,
                                   {"price_xaf": o.price_xaf, "listed": o.listed})
        elif isinstance(event, UserRegistered | UserUpdated):
            u = event.state
            await uow.local.upsert("user", (event.entity_id,), event.version, {
                "language": u.language, "phones": [x.e164 for x in u.phones],
            })
        elif isinstance(event, PlaceChanged):
            pl = event.state
            await uow.local.upsert("place", (event.entity_id,), event.version, {
                "user_id": pl.user_id, "deleted": pl.deleted,
                "address": {
                    "city": pl.city, "quartier": pl.quartier, "landmark": pl.landmark,
                    "directions": pl.directions, "lat": pl.lat, "lng": pl.lng,
                    "plus_code": pl.plus_code, "contact_phone": pl.contact_phone,
                },
            })
        elif isinstance(event, PaymentCaptured):
            await self._on_order(uow, event.state.order_id,
                                 lambda o, now: bool(o.payment_captured(now)))
        elif isinstance(event, PaymentFailed):
            reason = event.state.failure_reason or "FAILED"
            await self._on_order(uow, event.state.order_id,
                                 lambda o, now: o.payment_failed(reason, now))
        elif isinstance(event, DeliveryEvent):
            await self._on_delivery(uow, event)

    async def _on_delivery(self, uow: OrdersUnitOfWork, event: DeliveryEvent) -> None:
        rider = event.state.rider_id
        target = {DeliveryPickedUp: PICKED_UP, DeliveryCompleted: DELIVERED,
                  DeliveryFailed: DELIVERY_FAILED}.get(type(event))

        def change(order: Order, now: dt.datetime) -> bool:
            changed = False
            if rider is not None:
                changed = order.record_rider(rider, now)
            if target is None or order.status in TERMINAL or order.status == target:
                return changed
            reason = event.state.failure_reason if target == DELIVERY_FAILED else None
            try:
                return order.transition(target, SYSTEM_ACTOR, now, reason=reason) or changed
            except OkadaError:
                # A fact the order cannot take (cancelled meanwhile, out of order): keep the
                # rider, log, and let operations look; redelivering would not change it.
                log.warning("orders.delivery_event_ignored", order_id=str(order.id),
                            status=order.status, target=target)
                return changed

        await self._on_order(uow, event.state.order_id, change)

    async def _on_order(self, uow: OrdersUnitOfWork, order_id: Any, change: Any) -> None:
        order = await uow.orders.load(order_id)
        if order is None:
            return  # not ours (or not placed): nothing to do
        now = self._clock.now()
        if change(order, now):
            events = await uow.orders.save(order)
            await schedule_steps(uow, order, events, now, self._limits)
