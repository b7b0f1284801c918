"""orders.v1: the order lifecycle as integration events (event-carried state transfer).

Every event carries the order's full public state after the change, so payments, delivery,
notifications, sync and analytics build their read models from these events alone.
``entity_id`` is the order id; ``version`` is the order stream's version after the change.
"""

from __future__ import annotations

import datetime as dt
import uuid

from okada.contracts.base import ContractModel, IntegrationEvent


class OrderStatus:
    """The order states (strings on the wire)."""

    PENDING_PAYMENT = "PENDING_PAYMENT"
    CONFIRMED = "CONFIRMED"
    ACCEPTED = "ACCEPTED"
    PREPARING = "PREPARING"
    READY_FOR_PICKUP = "READY_FOR_PICKUP"
    PICKED_UP = "PICKED_UP"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    DELIVERY_FAILED = "DELIVERY_FAILED"

    TERMINAL = frozenset({DELIVERED, CANCELLED, EXPIRED, DELIVERY_FAILED})


class PaymentMethod:
    """How the customer pays (strings on the wire)."""

    MTN_MOMO = "mtn_momo"
    ORANGE_MONEY = "orange_money"
    CASH = "cash"

    MOBILE_MONEY = frozenset({MTN_MOMO, ORANGE_MONEY})
    ALL = frozenset({MTN_MOMO, ORANGE_MONEY, CASH})


class OrderLineState(ContractModel):
    """One line as priced by the server at checkout (client prices are never trusted)."""

    product_id: uuid.UUID
    name: str  # in the customer's language at checkout time
    unit: str
    quantity: int
    unit_price_xaf: int
    line_total_xaf: int
    unavailable: bool = False  # marked unavailable by the store (partial fulfilment)


class DeliveryAddressState(ContractModel):
    """Where the order goes: the Cameroonian address model; the GPS pin wins over text."""

    place_id: uuid.UUID | None = None
    city: str
    quartier: str
    landmark: str | None = None
    directions: str | None = None
    lat: float | None = None
    lng: float | None = None
    plus_code: str | None = None
    contact_phone: str | None = None  # E.164


class OrderPaymentState(ContractModel):
    """The payment terms of the order (the payments service owns the money itself)."""

    method: str  # PaymentMethod
    payer_phone: str | None = None  # E.164; required for mobile money
    # "not_required", "pending", "captured", "failed", "refunded", "partially_refunded",
    # "cash_due", "cash_collected"
    status: str = "not_required"


class OrderState(ContractModel):
    """The public state of an order."""

    customer_id: uuid.UUID
    store_id: uuid.UUID
    status: str  # OrderStatus
    lines: list[OrderLineState]
    subtotal_xaf: int
    delivery_fee_xaf: int
    total_xaf: int
    # What the customer owes after partial fulfilment (lines marked unavailable are not due).
    payable_xaf: int
    payment: OrderPaymentState
    address: DeliveryAddressState
    note: str | None = None
    language: str = "fr"
    rider_id: uuid.UUID | None = None
    placed_at: dt.datetime
    eta_at: dt.datetime | None = None
    payment_due_at: dt.datetime | None = None  # mobile money: expires unpaid after this
    updated_at: dt.datetime
    cancel_reason: str | None = None
    cancelled_by: str | None = None  # "customer", "store", "system", "operations"


class OrderEvent(IntegrationEvent):
    """Base of every order event: the full state, who acted and why."""

    state: OrderState
    actor_id: uuid.UUID | None = None
    actor_role: str | None = None  # "customer", "merchant_staff", "rider", "operations", "system"
    reason: str | None = None


class OrderPlaced(OrderEvent, schema="orders.v1.OrderPlaced"):
    """Checkout succeeded, basket reserved: ``PENDING_PAYMENT`` (mobile money) or ``CONFIRMED``.

    Payments starts collection when ``state.payment.method`` is mobile money.
    """


class OrderConfirmed(OrderEvent, schema="orders.v1.OrderConfirmed"):
    """Confirmed (cash at checkout, mobile money once captured); the store may accept it."""


class OrderAccepted(OrderEvent, schema="orders.v1.OrderAccepted"):
    """The store accepted the order; delivery starts looking for a rider."""


class OrderPreparing(OrderEvent, schema="orders.v1.OrderPreparing"):
    """The store is preparing the order."""


class OrderReady(OrderEvent, schema="orders.v1.OrderReady"):
    """The order is packed and waits for its rider."""


class OrderPickedUp(OrderEvent, schema="orders.v1.OrderPickedUp"):
    """The rider left the store with the goods (the reservation is confirmed)."""


class OrderDelivered(OrderEvent, schema="orders.v1.OrderDelivered"):
    """The customer received the order."""


class OrderCancelled(OrderEvent, schema="orders.v1.OrderCancelled"):
    """Cancelled by the customer, the store, the system (payment failed) or operations.

    Payments refunds whatever was captured; stock goes back on the shelf.
    """


class OrderExpired(OrderEvent, schema="orders.v1.OrderExpired"):
    """A mobile-money order was not paid in time. A late capture is refunded by payments."""


class OrderDeliveryFailed(OrderEvent, schema="orders.v1.OrderDeliveryFailed"):
    """The customer was unreachable: goods go back into stock; captured money is refunded."""


class OrderAmended(OrderEvent, schema="orders.v1.OrderAmended"):
    """Lines were marked unavailable by the store (partial fulfilment).

    ``refund_xaf`` is what payments must give back now for a captured mobile-money order.
    """

    refund_xaf: int = 0
    unavailable_product_ids: list[uuid.UUID] = []
