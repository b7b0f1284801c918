"""Reactions to other services' events: who must hear about what, in which words."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import structlog

from okada.contracts.base import IntegrationEvent
from okada.contracts.delivery.v1 import (
    DeliveryCompleted,
    DeliveryEvent,
    DeliveryFailed,
    DeliveryOffered,
    RiderArriving,
    RiderAssigned,
)
from okada.contracts.identity.v1 import UserDisabled, UserRegistered, UserUpdated
from okada.contracts.orders.v1 import (
    OrderAccepted,
    OrderCancelled,
    OrderConfirmed,
    OrderDelivered,
    OrderDeliveryFailed,
    OrderEvent,
    OrderExpired,
)
from okada.contracts.payments.v1 import PaymentFailed, RefundCompleted
from okada.kernel.clock import Clock
from okada.services.notifications.application.messages import Delivery, create_delivery
from okada.services.notifications.application.model import Recipient
from okada.services.notifications.application.ports import NotificationsUnitOfWork
from okada.services.notifications.domain.policy import DOUALA, DeliveryPolicy, Kind
from okada.services.notifications.domain.templates import (
    money,
    payment_reason,
    phrase,
    render,
)

log = structlog.get_logger(__name__)

CONSUMER = "notifications"

HANDLED: dict[str, type[IntegrationEvent]] = {
    cls.schema_name: cls
    for cls in (
        UserRegistered,
        UserUpdated,
        UserDisabled,
        OrderConfirmed,
        OrderAccepted,
        OrderCancelled,
        OrderExpired,
        OrderDeliveryFailed,
        OrderDelivered,
        DeliveryOffered,
        RiderAssigned,
        RiderArriving,
        DeliveryCompleted,
        DeliveryFailed,
        PaymentFailed,
        RefundCompleted,
    )
}

_ORDER_KINDS: dict[type[OrderEvent], Kind] = {
    OrderConfirmed: Kind.ORDER_CONFIRMED,
    OrderAccepted: Kind.ORDER_ACCEPTED,
    OrderCancelled: Kind.ORDER_CANCELLED,
    OrderExpired: Kind.ORDER_EXPIRED,
    OrderDeliveryFailed: Kind.DELIVERY_FAILED,
    OrderDelivered: Kind.ORDER_DELIVERED,
}


def order_ref(order_id: uuid.UUID) -> str:
    """The short order reference people read (``#4F2A9C``): the id's random tail."""
    return "#" + order_id.hex[-6:].upper()


@dataclass(frozen=True, slots=True)
class _Plan:
    """One message to create: about what, for whom, with which values."""

    event_key: str
    kind: Kind
    recipient_id: uuid.UUID
    order_id: uuid.UUID | None
    params: dict[str, str]
    money_params: dict[str, int]
    language: str = "fr"  # when the recipient is unknown to us
    phone: str | None = None  # when the recipient is unknown to us or has no phone
    cash_xaf: int = 0
    reason_code: str | None = None
    expires_at: str | None = None


class EventRouter:
    """Turns integration events into inbox items and queued pushes/SMS.

    Business rules:
        - Order events notify the customer; a confirmed order also notifies every merchant
          staff member of the store (critical: a new order must not wait).
        - A job offer notifies the offered rider (critical); rider assigned, arriving and
          delivery outcomes notify the customer.
        - The same fact reported by two services (orders' ``OrderDelivered`` and delivery's
          ``DeliveryCompleted``; ``OrderDeliveryFailed`` and ``DeliveryFailed``) shares one
          event key, so the customer hears it once.
        - Identity events keep the recipients' language, primary phone, roles and stores;
          versions not newer than the one held are ignored; disabled users get nothing.
    """

    def __init__(self, *, clock: Clock, policy: DeliveryPolicy) -> None:
        self._clock = clock
        self._policy = policy

    async def handle(self, event: IntegrationEvent, uow: NotificationsUnitOfWork) -> None:
        """Apply one event inside the consumer's unit of work (inbox already claimed)."""
        if isinstance(event, UserRegistered | UserUpdated | UserDisabled):
            await self._on_user(event, uow)
            return
        for plan in await self._plans(event, uow):
            await self._create(plan, uow)

    async def _on_user(
        self, event: UserRegistered | UserUpdated | UserDisabled, uow: NotificationsUnitOfWork
    ) -> None:
        state = event.state
        primary = next((p for p in state.phones if p.primary), None) or next(
            iter(state.phones), None
        )
        recipient = Recipient(
            user_id=event.entity_id,
            version=event.version,
            language=state.language,
            phone=primary.e164 if primary else None,
            roles=tuple(state.roles),
            store_ids=tuple(state.store_ids),
            disabled=state.disabled or isinstance(event, UserDisabled),
        )
        if not await uow.recipients.save(recipient):
            log.debug("notifications.user_version_ignored", user_id=str(event.entity_id))

    async def _plans(self, event: IntegrationEvent, uow: NotificationsUnitOfWork) -> list[_Plan]:
        if isinstance(event, OrderEvent):
            return await self._order_plans(event, uow)
        if isinstance(event, DeliveryOffered):
            offer = event.state
            return [
                _Plan(
                    event_key=f"job_offer:{event.offer_id}",
                    kind=Kind.JOB_OFFER,
                    recipient_id=event.offered_rider_id,
                    order_id=offer.order_id,
                    params={
                        "ref": order_ref(offer.order_id),
                        "store": (offer.store_name or "Okada")[:30],
                        "quartier": (offer.drop_quartier or "?")[:30],
                    },
                    money_params={"fee": offer.fee_xaf},
                    expires_at=event.expires_at.astimezone(DOUALA).strftime("%H:%M"),
                )
            ]
        if isinstance(event, DeliveryEvent):
            return self._delivery_plans(event)
        if isinstance(event, PaymentFailed):
            payment = event.state
            return [
                _Plan(
                    event_key=f"payment_failed:{event.entity_id}:{event.version}",
                    kind=Kind.PAYMENT_FAILED,
                    recipient_id=payment.customer_id,
                    order_id=payment.order_id,
                    params={"ref": order_ref(payment.order_id)},
                    money_params={"total": payment.amount_xaf},
                    reason_code=payment.failure_reason,
                )
            ]
        if isinstance(event, RefundCompleted):
            refund = event.state
            return [
                _Plan(
                    event_key=f"refund_completed:{event.entity_id}:{event.version}",
                    kind=Kind.REFUND_COMPLETED,
                    recipient_id=refund.customer_id,
                    order_id=refund.order_id,
                    params={"ref": order_ref(refund.order_id)},
                    money_params={"amount": event.amount_xaf},
                )
            ]
        return []

    async def _order_plans(self, event: OrderEvent, uow: NotificationsUnitOfWork) -> list[_Plan]:
        kind = _ORDER_KINDS.get(type(event))
        if kind is None:
            return []
        state = event.state
        order_id = event.entity_id
        contact = state.address.contact_phone or state.payment.payer_phone
        common = {"ref": order_ref(order_id)}
        plans = [
            _Plan(
                event_key=f"{kind.value}:{order_id}",
                kind=kind,
                recipient_id=state.customer_id,
                order_id=order_id,
                params=common,
                money_params={"total": state.payable_xaf},
                language=state.language,
                phone=contact,
            )
        ]
        if kind is Kind.ORDER_CONFIRMED:
            items = sum(line.quantity for line in state.lines if not line.unavailable)
            for staff in await uow.recipients.store_staff(state.store_id):
                plans.append(
                    _Plan(
                        event_key=f"store_new_order:{order_id}",
                        kind=Kind.STORE_NEW_ORDER,
                        recipient_id=staff.user_id,
                        order_id=order_id,
                        params={**common, "items": str(items)},
                        money_params={"total": state.payable_xaf},
                    )
                )
        return plans

    def _delivery_plans(self, event: DeliveryEvent) -> list[_Plan]:
        state = event.state
        order_id = state.order_id
        common = {"ref": order_ref(order_id)}
        if isinstance(event, RiderAssigned):
            key, kind = f"rider_assigned:{order_id}:{state.rider_id}", Kind.RIDER_ASSIGNED
        elif isinstance(event, RiderArriving):
            key, kind = f"rider_arriving:{order_id}", Kind.RIDER_ARRIVING
        elif isinstance(event, DeliveryCompleted):
            key, kind = f"order_delivered:{order_id}", Kind.ORDER_DELIVERED
        elif isinstance(event, DeliveryFailed):
            key, kind = f"delivery_failed:{order_id}", Kind.DELIVERY_FAILED
        else:
            return []
        return [
            _Plan(
                event_key=key,
                kind=kind,
                recipient_id=state.customer_id,
                order_id=order_id,
                params=common,
                money_params={},
                cash_xaf=state.cash_to_collect_xaf if kind is Kind.RIDER_ARRIVING else 0,
            )
        ]

    async def _create(self, plan: _Plan, uow: NotificationsUnitOfWork) -> None:
        recipient = await uow.recipients.get(plan.recipient_id)
        if recipient is not None and recipient.disabled:
            log.info("notifications.recipient_disabled", kind=plan.kind.value,
                     user_id=str(plan.recipient_id))
            return
        if recipient is None:
            log.info("notifications.recipient_unknown", kind=plan.kind.value,
                     user_id=str(plan.recipient_id))
        language = recipient.language if recipient is not None else plan.language
        phone = (recipient.phone if recipient is not None else None) or plan.phone
        params = dict(plan.params)
        for name, amount in plan.money_params.items():
            params[name] = money(amount, language)
        if plan.kind is Kind.RIDER_ARRIVING:
            params["cash"] = (
                phrase("cash", language, amount=money(plan.cash_xaf, language))
                if plan.cash_xaf > 0
                else ""
            )
        if plan.kind is Kind.PAYMENT_FAILED:
            params["reason"] = payment_reason(plan.reason_code, language)
        if plan.expires_at is not None:
            params["expires"] = plan.expires_at
        rendered = render(plan.kind, language, **params)
        await create_delivery(
            uow,
            Delivery(
                event_key=plan.event_key,
                recipient_id=plan.recipient_id,
                rendered=rendered,
                phone=phone,
                order_id=plan.order_id,
            ),
            recipient=recipient,
            policy=self._policy,
            now=self._clock.now(),
        )
