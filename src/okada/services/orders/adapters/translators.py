"""Aggregate to contract: the public state of an order and its ``orders.v1`` events."""

from __future__ import annotations

from typing import Any

from okada.contracts.orders import v1
from okada.services.orders.domain.order import DomainEvent, Order

CONTRACT_EVENTS: dict[str, type[v1.OrderEvent]] = {
    "OrderPlaced": v1.OrderPlaced,
    "OrderConfirmed": v1.OrderConfirmed,
    "OrderAccepted": v1.OrderAccepted,
    "OrderPreparing": v1.OrderPreparing,
    "OrderReady": v1.OrderReady,
    "OrderPickedUp": v1.OrderPickedUp,
    "OrderDelivered": v1.OrderDelivered,
    "OrderCancelled": v1.OrderCancelled,
    "OrderExpired": v1.OrderExpired,
    "OrderDeliveryFailed": v1.OrderDeliveryFailed,
    "OrderAmended": v1.OrderAmended,
}
"""Domain events with a contract event. ``RiderRecorded`` and ``PaymentRecorded`` only change
internal bookkeeping that later events carry in their full state."""


def order_state(order: Order) -> v1.OrderState:
    """The public state of an order (contract model)."""
    address = order.address
    return v1.OrderState(
        customer_id=order.customer_id,
        store_id=order.store_id,
        status=order.status,
        lines=[v1.OrderLineState(
            product_id=x.product_id, name=x.name, unit=x.unit, quantity=x.quantity,
            unit_price_xaf=x.unit_price_xaf, line_total_xaf=x.line_total_xaf,
            unavailable=x.unavailable) for x in order.lines],
        subtotal_xaf=order.subtotal_xaf,
        delivery_fee_xaf=order.delivery_fee_xaf,
        total_xaf=order.total_xaf,
        payable_xaf=order.payable_xaf,
        payment=v1.OrderPaymentState(method=order.payment_method, payer_phone=order.payer_phone,
                                     status=order.payment_status),
        address=v1.DeliveryAddressState(
            place_id=address.get("place_id"), city=address.get("city", ""),
            quartier=address.get("quartier", ""), landmark=address.get("landmark"),
            directions=address.get("directions"), lat=address.get("lat"),
            lng=address.get("lng"), plus_code=address.get("plus_code"),
            contact_phone=address.get("contact_phone")),
        note=order.note,
        language=order.language,
        rider_id=order.rider_id,
        placed_at=order.placed_at,
        eta_at=order.eta_at,
        payment_due_at=order.payment_due_at,
        updated_at=order.updated_at,
        cancel_reason=order.cancel_reason,
        cancelled_by=order.cancelled_by,
    )


def public_view(order: Order, state: v1.OrderState) -> dict[str, Any]:
    """What the API returns for one order: its id, version and public state."""
    return {"id": str(order.id), "version": order.version, **state.model_dump(mode="json")}


def contract_event(event: DomainEvent, order: Order, state: v1.OrderState) -> v1.OrderEvent | None:
    """The ``orders.v1`` event of a domain event, carrying the state after it."""
    cls = CONTRACT_EVENTS.get(event.type)
    if cls is None:
        return None
    common: dict[str, Any] = {
        "entity_id": order.id, "version": event.version, "state": state,
        "actor_id": event.actor_id, "actor_role": event.actor_role, "reason": event.reason,
    }
    if cls is v1.OrderAmended:
        return v1.OrderAmended(
            **common, refund_xaf=int(event.data.get("refund_xaf", 0)),
            unavailable_product_ids=list(event.data.get("product_ids", [])))
    return cls(**common)
