"""Reactions to other services' events: stores, rider accounts, cash ledgers, orders."""

from __future__ import annotations

import uuid

from okada.contracts.base import IntegrationEvent
from okada.contracts.catalog.v1 import StoreState, StoreUpdated
from okada.contracts.identity.v1 import UserDisabled, UserRegistered, UserUpdated
from okada.contracts.orders.v1 import (
    OrderAccepted,
    OrderCancelled,
    OrderPickedUp,
    OrderPreparing,
    OrderReady,
)
from okada.contracts.payments.v1 import CashCollected, CashRemitted, PaymentCaptured
from okada.kernel.clock import Clock
from okada.services.delivery.application.deliveries import DeliveryService
from okada.services.delivery.application.model import StoreRecord
from okada.services.delivery.application.ports import DeliveryUnitOfWork, GeoIndex
from okada.services.delivery.application.riders import sync_index

CONSUMER = "delivery"

HANDLED: dict[str, type[IntegrationEvent]] = {
    cls.schema_name: cls
    for cls in (
        StoreUpdated, UserRegistered, UserUpdated, UserDisabled, CashCollected, CashRemitted,
        PaymentCaptured, OrderAccepted, OrderPreparing, OrderReady, OrderPickedUp, OrderCancelled,
    )
}


def store_record(store_id: uuid.UUID, version: int, state: StoreState) -> StoreRecord:
    """A store replica row from a ``catalog.v1.StoreState``."""
    return StoreRecord(
        store_id=store_id, version=version, name=state.name, city=state.city,
        quartier=state.quartier, lat=state.lat, lng=state.lng,
        radius_m=state.delivery_radius_m,
        polygon=[(float(a), float(b)) for a, b in state.delivery_polygon]
        if state.delivery_polygon else None,
        opening_hours=[s.model_dump() for s in state.opening_hours], status=state.status,
        prep_minutes=state.prep_minutes, deleted=state.deleted,
    )


class EventHandlers:
    """Apply one event inside the consumer's unit of work (inbox already claimed).

    Business rules (event-carried state; versions not newer than the replica are ignored):
        - ``catalog.v1.StoreUpdated`` → the store replica (location, area, hours, prep time).
        - ``identity.v1.User*`` → who is a rider and who is disabled; a disabled rider or one
          who lost the role leaves the live index and is never offered a job.
        - ``payments.v1.CashCollected/CashRemitted`` → the rider's cash in hand and float
          limit, for the float check of cash orders.
        - ``payments.v1.PaymentCaptured`` by mobile money for an order whose job expects cash
          (the customer switched at the door) → nothing to collect.
        - ``orders.v1`` accepted/preparing/ready/picked up/cancelled → the job (see
          :meth:`DeliveryService.on_order`).
    """

    def __init__(self, *, deliveries: DeliveryService, index: GeoIndex, clock: Clock) -> None:
        self._deliveries = deliveries
        self._index = index
        self._clock = clock

    async def __call__(self, event: IntegrationEvent, uow: DeliveryUnitOfWork) -> None:
        now = self._clock.now()
        if isinstance(event, StoreUpdated):
            await uow.stores.upsert(store_record(event.entity_id, event.version, event.state),
                                    now)
        elif isinstance(event, UserRegistered | UserUpdated | UserDisabled):
            state = event.state
            known = await uow.riders.get(event.entity_id)
            if known is None and "rider" not in state.roles:
                return  # customers and staff are none of delivery's business
            applied = await uow.riders.apply_user(
                event.entity_id, version=event.version, is_rider="rider" in state.roles,
                disabled=state.disabled or isinstance(event, UserDisabled), now=now,
            )
            rider = await uow.riders.get(event.entity_id)
            if applied and rider is not None and not rider.available:
                await sync_index(self._index, rider)
        elif isinstance(event, CashCollected | CashRemitted):
            ledger = event.state
            await uow.riders.apply_cash(
                event.entity_id, version=event.version, cash_in_hand_xaf=ledger.cash_in_hand_xaf,
                float_limit_xaf=ledger.float_limit_xaf, now=now,
            )
        elif isinstance(event, PaymentCaptured):
            if event.state.method == "cash":
                return
            delivery = await uow.deliveries.by_order(event.state.order_id)
            if delivery is not None:
                expected = delivery.version
                if delivery.paid_electronically(now):
                    await uow.deliveries.save(delivery, expected_version=expected)
        elif isinstance(event, OrderAccepted | OrderPreparing | OrderReady):
            await self._deliveries.on_order(event, uow, cancelled=False)
        elif isinstance(event, OrderPickedUp):
            await self._deliveries.on_order(event, uow, cancelled=False, create=False)
        elif isinstance(event, OrderCancelled):
            await self._deliveries.on_order(event, uow, cancelled=True)
