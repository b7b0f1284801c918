"""Integration events payments consumes: orders, identity (users' phones), delivery (cash)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from okada.contracts.base import IntegrationEvent
from okada.contracts.delivery.v1 import DeliveryCompleted, RiderAssigned
from okada.contracts.identity.v1 import UserDisabled, UserRegistered, UserUpdated
from okada.contracts.orders.v1 import (
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderConfirmed,
    OrderDelivered,
    OrderDeliveryFailed,
    OrderExpired,
    OrderPickedUp,
    OrderPlaced,
    OrderPreparing,
    OrderReady,
)
from okada.infra.observability.context import message_context
from okada.kernel.messages import Envelope
from okada.services.payments.application.payments import PaymentService
from okada.services.payments.application.ports import PaymentsUnitOfWork

CONSUMER = "payments"

HANDLED: dict[str, type[IntegrationEvent]] = {
    cls.schema_name: cls
    for cls in (
        OrderPlaced, OrderConfirmed, OrderAccepted, OrderPreparing, OrderReady, OrderPickedUp,
        OrderDelivered, OrderCancelled, OrderExpired, OrderDeliveryFailed, OrderAmended,
        UserRegistered, UserUpdated, UserDisabled, DeliveryCompleted, RiderAssigned,
    )
}


def make_handler(
    service: PaymentService, uow_factory: Callable[[], PaymentsUnitOfWork]
) -> Callable[[Envelope], Awaitable[None]]:
    """A bus handler applying each message once (inbox), then calling providers.

    The provider request is made after the transaction that created the attempt has
    committed, in the background so the message is acknowledged at once (a slow provider
    never holds the consumer); a redelivered event finds the attempt and sends nothing; if
    the process dies in between, the attempt is due and the poller sends it.
    """

    async def handle(envelope: Envelope) -> None:
        event_cls = HANDLED.get(envelope.schema)
        if event_cls is None:
            return
        event = event_cls.parse_payload(envelope.payload)
        with message_context(envelope):
            async with uow_factory() as uow:
                if not await uow.claim_message(CONSUMER, envelope):
                    return
                follow = await service.apply_event(event, uow)
                await uow.commit()
            service.spawn_follow_ups(follow)

    return handle
