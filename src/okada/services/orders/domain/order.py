"""The event-sourced Order aggregate: its events, how they apply, and the guarded transitions.

Business rules (issue #6):
    - Lifecycle: ``PENDING_PAYMENT`` (mobile money) or ``CONFIRMED`` (cash) → ``ACCEPTED`` by the
      store → ``PREPARING`` → ``READY_FOR_PICKUP`` → ``PICKED_UP`` → ``DELIVERED``; side exits
      ``CANCELLED`` (customer before the store accepts, store with a reason, system when payment
      fails, operations), ``EXPIRED`` (unpaid in time) and ``DELIVERY_FAILED``.
    - Every change is an event that records the actor id, the actor role, a reason and the time;
      the state is the fold of the events (``apply``), so the history is the order.
    - Every transition is guarded by role and ownership: customers act on their own orders only,
      merchant staff on their stores' orders, riders on orders assigned to them; operations may
      force any move out of a non-terminal status with an audit reason. Others get 404 (the order
      is hidden); a move the status forbids gets 409, unless the status allows it to others
      and the caller's role never makes it from any status: 403 (a store cannot mark an order
      delivered, a customer can cancel but not once the store accepted: 409).
    - Repeating a transition already made (the status is already the target) is a no-op.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from okada.services.orders.domain.errors import (
    IllegalTransition,
    LastLineUnavailable,
    LineNotInOrder,
    OrderNotFound,
    ReasonRequired,
    TransitionNotAllowed,
)

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

STATUSES = (
    PENDING_PAYMENT, CONFIRMED, ACCEPTED, PREPARING, READY_FOR_PICKUP, PICKED_UP, DELIVERED,
    CANCELLED, EXPIRED, DELIVERY_FAILED,
)
TERMINAL = frozenset({DELIVERED, CANCELLED, EXPIRED, DELIVERY_FAILED})
ACTIVE_FOR_STORE = (CONFIRMED, ACCEPTED, PREPARING, READY_FOR_PICKUP)

CUSTOMER = "customer"
MERCHANT = "merchant_staff"
RIDER = "rider"
OPERATIONS = "operations"
SYSTEM = "system"

MOBILE_MONEY = frozenset({"mtn_momo", "orange_money"})

# Who may make each ordinary move: (from, to) -> roles. Operations force moves outside this.
LEGAL: dict[tuple[str, str], frozenset[str]] = {
    (PENDING_PAYMENT, CONFIRMED): frozenset({SYSTEM}),
    (PENDING_PAYMENT, CANCELLED): frozenset({CUSTOMER, SYSTEM}),
    (PENDING_PAYMENT, EXPIRED): frozenset({SYSTEM}),
    (CONFIRMED, ACCEPTED): frozenset({MERCHANT}),
    (CONFIRMED, CANCELLED): frozenset({CUSTOMER, MERCHANT, SYSTEM}),
    (ACCEPTED, PREPARING): frozenset({MERCHANT}),
    (ACCEPTED, READY_FOR_PICKUP): frozenset({MERCHANT}),
    (ACCEPTED, CANCELLED): frozenset({MERCHANT}),
    (PREPARING, READY_FOR_PICKUP): frozenset({MERCHANT}),
    (PREPARING, CANCELLED): frozenset({MERCHANT}),
    (READY_FOR_PICKUP, PICKED_UP): frozenset({RIDER, SYSTEM}),
    # Delivery's facts win over a store that forgot to press "ready", and over reordering.
    (ACCEPTED, PICKED_UP): frozenset({SYSTEM}),
    (PREPARING, PICKED_UP): frozenset({SYSTEM}),
    (READY_FOR_PICKUP, DELIVERED): frozenset({SYSTEM}),
    (READY_FOR_PICKUP, DELIVERY_FAILED): frozenset({SYSTEM}),
    (PICKED_UP, DELIVERED): frozenset({RIDER, SYSTEM}),
    (PICKED_UP, DELIVERY_FAILED): frozenset({RIDER, SYSTEM}),
    # A mobile-money capture that arrives after expiry, once the basket is held again.
    (EXPIRED, CONFIRMED): frozenset({SYSTEM}),
    (EXPIRED, CANCELLED): frozenset({SYSTEM}),
}

EVENT_BY_STATUS = {
    CONFIRMED: "OrderConfirmed",
    ACCEPTED: "OrderAccepted",
    PREPARING: "OrderPreparing",
    READY_FOR_PICKUP: "OrderReady",
    PICKED_UP: "OrderPickedUp",
    DELIVERED: "OrderDelivered",
    CANCELLED: "OrderCancelled",
    EXPIRED: "OrderExpired",
    DELIVERY_FAILED: "OrderDeliveryFailed",
}
STATUS_BY_EVENT = {v: k for k, v in EVENT_BY_STATUS.items()}
CANCELLED_BY = {CUSTOMER: "customer", MERCHANT: "store", SYSTEM: "system",
                OPERATIONS: "operations", RIDER: "system"}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: ``role`` is one of customer, merchant_staff, rider, operations, system."""

    id: uuid.UUID | None
    role: str
    store_ids: frozenset[uuid.UUID] = frozenset()


SYSTEM_ACTOR = Actor(None, SYSTEM)


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """One recorded change of an order (``data`` is JSON-compatible)."""

    type: str
    data: dict[str, Any]
    actor_id: uuid.UUID | None
    actor_role: str
    reason: str | None
    at: dt.datetime
    version: int = 0


@dataclass(frozen=True, slots=True)
class OrderLine:
    """A line as priced by the server at checkout."""

    product_id: uuid.UUID
    name: str
    unit: str
    quantity: int
    unit_price_xaf: int
    line_total_xaf: int
    unavailable: bool = False


@dataclass(eq=False)
class Order:
    """The order aggregate, rebuilt from its events (or a snapshot and the later events)."""

    id: uuid.UUID
    customer_id: uuid.UUID
    store_id: uuid.UUID
    status: str
    lines: list[OrderLine]
    subtotal_xaf: int
    delivery_fee_xaf: int
    total_xaf: int
    payable_xaf: int
    payment_method: str
    payer_phone: str | None
    payment_status: str
    address: dict[str, Any]
    placed_at: dt.datetime
    updated_at: dt.datetime
    note: str | None = None
    language: str = "fr"
    rider_id: uuid.UUID | None = None
    eta_at: dt.datetime | None = None
    payment_due_at: dt.datetime | None = None
    cancel_reason: str | None = None
    cancelled_by: str | None = None
    reservation_id: uuid.UUID | None = None
    request_hash: str = ""
    refunded_xaf: int = 0
    version: int = 0
    pending: list[DomainEvent] = field(default_factory=list, repr=False)
    pending_states: list[Order] = field(default_factory=list, repr=False)

    # ----------------------------------------------------------------- creation and replay

    @classmethod
    def place(cls, order: Order, actor: Actor, now: dt.datetime) -> Order:
        """Start a stream with ``OrderPlaced`` (and ``OrderConfirmed`` for cash).

        ``order`` carries the priced checkout; its status is set here: ``PENDING_PAYMENT`` for
        mobile money, ``CONFIRMED`` for cash (placed, then confirmed in the same append).
        """
        fresh = cls.empty(order.id)
        data = order.to_data()
        data["status"] = PENDING_PAYMENT if order.payment_method in MOBILE_MONEY else CONFIRMED
        data["payment_status"] = (
            "pending" if order.payment_method in MOBILE_MONEY else "cash_due"
        )
        # A cash order is placed confirmed, and confirmed in the same append (interplay.md).
        fresh._record("OrderPlaced", data, actor, None, now)
        if data["status"] == CONFIRMED:
            fresh._record("OrderConfirmed", {}, actor, "cash_on_delivery", now)
        return fresh

    @classmethod
    def empty(cls, order_id: uuid.UUID) -> Order:
        """An order with no events yet (version 0)."""
        epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        return cls(
            id=order_id, customer_id=order_id, store_id=order_id, status="", lines=[],
            subtotal_xaf=0, delivery_fee_xaf=0, total_xaf=0, payable_xaf=0,
            payment_method="", payer_phone=None, payment_status="", address={},
            placed_at=epoch, updated_at=epoch,
        )

    @classmethod
    def replay(cls, order_id: uuid.UUID, events: list[DomainEvent],
               snapshot: dict[str, Any] | None = None) -> Order:
        """Rebuild from a snapshot (optional) and the events after it, in version order."""
        order = cls.from_data(snapshot) if snapshot is not None else cls.empty(order_id)
        for event in events:
            order.apply(event)
        return order

    def apply(self, event: DomainEvent) -> None:
        """Fold one event into the state; ``version`` becomes the event's."""
        data = event.data
        if event.type == "OrderPlaced":
            placed = Order.from_data({**data, "version": 0})
            for name in _FIELDS:
                setattr(self, name, getattr(placed, name))
        elif event.type in STATUS_BY_EVENT:
            self.status = STATUS_BY_EVENT[event.type]
            if "payment_status" in data:
                self.payment_status = data["payment_status"]
            if data.get("reservation_id"):
                self.reservation_id = uuid.UUID(data["reservation_id"])
            if data.get("rider_id"):
                self.rider_id = uuid.UUID(data["rider_id"])
            if self.status == CANCELLED:
                self.cancel_reason = event.reason
                self.cancelled_by = data.get("cancelled_by")
        elif event.type == "RiderRecorded":
            self.rider_id = uuid.UUID(data["rider_id"])
        elif event.type == "PaymentRecorded":
            self.payment_status = data["payment_status"]
        elif event.type == "OrderAmended":
            gone = set(data["product_ids"])
            self.lines = [replace(x, unavailable=True) if str(x.product_id) in gone else x
                          for x in self.lines]
            self.payable_xaf = data["payable_xaf"]
            self.refunded_xaf += int(data.get("refund_xaf", 0))
        else:  # an unknown type from a newer version: keep the version moving
            pass
        self.updated_at = event.at
        self.version = event.version or self.version + 1

    def _record(self, type_: str, data: dict[str, Any], actor: Actor, reason: str | None,
                now: dt.datetime) -> DomainEvent:
        event = DomainEvent(type=type_, data=data, actor_id=actor.id, actor_role=actor.role,
                            reason=reason, at=now, version=self.version + 1)
        self.apply(event)
        self.pending.append(event)
        # The state right after this event (shallow: applying replaces fields, never mutates
        # them), so each published event carries its own state, not the final one.
        after = copy.copy(self)
        after.pending, after.pending_states = [], []
        self.pending_states.append(after)
        return event

    def collect(self) -> list[tuple[DomainEvent, Order]]:
        """Return and clear the events recorded since load, each with the state after it."""
        events = list(zip(self.pending, self.pending_states, strict=True))
        self.pending, self.pending_states = [], []
        return events

    # ----------------------------------------------------------------- guards

    def authorize(self, actor: Actor) -> None:
        """Hide the order from callers with no business with it (404).

        Customers see their own orders, merchant staff their stores', riders the orders
        assigned to them; operations and the system see all.
        """
        ensure_visible(actor, self.customer_id, self.store_id, self.rider_id)

    def transition(self, target: str, actor: Actor, now: dt.datetime, *,
                   reason: str | None = None, data: dict[str, Any] | None = None) -> bool:
        """Move to ``target``; False when the order is already there (a repeat).

        Raises:
            OrderNotFound: The actor may not see this order.
            IllegalTransition: The current status does not allow this move for the actor (409).
            TransitionNotAllowed: Others may make it now, the actor's role never does (403).
            ReasonRequired: A store rejection or a forced move without a reason.
        """
        if target not in EVENT_BY_STATUS:
            raise IllegalTransition(self.status, target)
        self.authorize(actor)
        if self.status == target:
            return False
        roles = LEGAL.get((self.status, target))
        if actor.role == OPERATIONS:
            if not (reason and reason.strip()):
                raise ReasonRequired()
            if self.status in TERMINAL and roles is None:
                raise IllegalTransition(self.status, target)
        elif roles is None or actor.role not in roles:
            if roles is not None and not role_makes(actor.role, target):
                raise TransitionNotAllowed(actor.role, target)
            raise IllegalTransition(self.status, target)
        if target == CANCELLED and actor.role == MERCHANT and not (reason and reason.strip()):
            raise ReasonRequired()
        payload = dict(data or {})
        if target == CANCELLED:
            payload.setdefault("cancelled_by", CANCELLED_BY[actor.role])
        self._record(EVENT_BY_STATUS[target], payload, actor, reason, now)
        return True

    # ----------------------------------------------------------------- saga reactions

    def record_rider(self, rider_id: uuid.UUID, now: dt.datetime) -> bool:
        """Remember the rider delivery assigned (again after a reassignment)."""
        if self.rider_id == rider_id or self.status in TERMINAL:
            return False
        self._record("RiderRecorded", {"rider_id": str(rider_id)}, SYSTEM_ACTOR, None, now)
        return True

    def payment_captured(self, now: dt.datetime) -> str:
        """React to ``PaymentCaptured``: ``"confirmed"``, ``"late"`` (expired first),
        ``"recorded"`` (any other status) or ``""`` (already known: a redelivery).

        A capture while ``PENDING_PAYMENT`` confirms the order. After expiry the payment is
        recorded and the caller tries to hold the basket again (see :meth:`late_confirm`).
        Otherwise it is only recorded (payments refunds a cancelled order by itself).
        """
        if self.payment_status == "captured":
            return ""
        if self.status == PENDING_PAYMENT:
            self.transition(CONFIRMED, SYSTEM_ACTOR, now, reason="payment_captured",
                            data={"payment_status": "captured"})
            return "confirmed"
        self._record("PaymentRecorded", {"payment_status": "captured"}, SYSTEM_ACTOR,
                     "payment_captured", now)
        return "late" if self.status == EXPIRED else "recorded"

    def payment_failed(self, provider_reason: str, now: dt.datetime) -> bool:
        """React to ``PaymentFailed``: expire (reason EXPIRED) or cancel an unpaid order."""
        if self.status != PENDING_PAYMENT:
            return False
        if provider_reason == "EXPIRED":
            return self.transition(EXPIRED, SYSTEM_ACTOR, now, reason="EXPIRED",
                                   data={"payment_status": "failed"})
        return self.transition(CANCELLED, SYSTEM_ACTOR, now, reason=provider_reason or "FAILED",
                               data={"payment_status": "failed"})

    def expire_unpaid(self, now: dt.datetime) -> bool:
        """The backstop: still unpaid after the payment window and the grace."""
        if self.status != PENDING_PAYMENT:
            return False
        return self.transition(EXPIRED, SYSTEM_ACTOR, now, reason="payment_timeout")

    def late_confirm(self, reservation_id: uuid.UUID, now: dt.datetime) -> bool:
        """A late capture and a basket held again: confirm (reason ``late_payment``)."""
        if self.status != EXPIRED or self.payment_status != "captured":
            return False
        return self.transition(CONFIRMED, SYSTEM_ACTOR, now, reason="late_payment",
                               data={"reservation_id": str(reservation_id)})

    def late_cancel(self, now: dt.datetime) -> bool:
        """A late capture and no stock left: cancel so payments refunds."""
        if self.status != EXPIRED:
            return False
        return self.transition(CANCELLED, SYSTEM_ACTOR, now, reason="late_payment_out_of_stock")

    def mark_unavailable(self, product_id: uuid.UUID, actor: Actor, now: dt.datetime,
                         reason: str | None = None) -> bool:
        """Partial fulfilment: the store lacks one line; what is owed is recomputed.

        ``refund_xaf`` is the line's total when mobile money was captured (payments gives it
        back), else 0 (cash: the rider collects less). Allowed while the store holds the order
        (confirmed, accepted, preparing); the last available line cannot go (reject instead).
        """
        self.authorize(actor)
        if actor.role not in (MERCHANT, OPERATIONS):
            raise TransitionNotAllowed(actor.role, "line_unavailable")
        line = next((x for x in self.lines if x.product_id == product_id), None)
        if line is None:
            raise LineNotInOrder()
        if line.unavailable:
            return False
        if self.status not in (CONFIRMED, ACCEPTED, PREPARING):
            raise IllegalTransition(self.status, "line_unavailable")
        if sum(1 for x in self.lines if not x.unavailable) <= 1:
            raise LastLineUnavailable()
        refund = line.line_total_xaf if self.payment_status == "captured" else 0
        self._record(
            "OrderAmended",
            {"product_ids": [str(product_id)], "refund_xaf": refund,
             "payable_xaf": self.payable_xaf - line.line_total_xaf},
            actor, reason, now,
        )
        return True

    @property
    def available_lines(self) -> list[OrderLine]:
        """Lines the store still delivers."""
        return [x for x in self.lines if not x.unavailable]

    # ----------------------------------------------------------------- serialisation

    def to_data(self) -> dict[str, Any]:
        """The state as JSON-compatible data (event payload of ``OrderPlaced``, snapshots)."""
        return {
            "id": str(self.id),
            "customer_id": str(self.customer_id),
            "store_id": str(self.store_id),
            "status": self.status,
            "lines": [
                {"product_id": str(x.product_id), "name": x.name, "unit": x.unit,
                 "quantity": x.quantity, "unit_price_xaf": x.unit_price_xaf,
                 "line_total_xaf": x.line_total_xaf, "unavailable": x.unavailable}
                for x in self.lines
            ],
            "subtotal_xaf": self.subtotal_xaf,
            "delivery_fee_xaf": self.delivery_fee_xaf,
            "total_xaf": self.total_xaf,
            "payable_xaf": self.payable_xaf,
            "payment_method": self.payment_method,
            "payer_phone": self.payer_phone,
            "payment_status": self.payment_status,
            "address": dict(self.address),
            "placed_at": self.placed_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "note": self.note,
            "language": self.language,
            "rider_id": _str(self.rider_id),
            "eta_at": _iso(self.eta_at),
            "payment_due_at": _iso(self.payment_due_at),
            "cancel_reason": self.cancel_reason,
            "cancelled_by": self.cancelled_by,
            "reservation_id": _str(self.reservation_id),
            "request_hash": self.request_hash,
            "refunded_xaf": self.refunded_xaf,
            "version": self.version,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Order:
        """Inverse of :meth:`to_data`."""
        return cls(
            id=uuid.UUID(data["id"]),
            customer_id=uuid.UUID(data["customer_id"]),
            store_id=uuid.UUID(data["store_id"]),
            status=data["status"],
            lines=[
                OrderLine(product_id=uuid.UUID(x["product_id"]), name=x["name"], unit=x["unit"],
                          quantity=int(x["quantity"]), unit_price_xaf=int(x["unit_price_xaf"]),
                          line_total_xaf=int(x["line_total_xaf"]),
                          unavailable=bool(x.get("unavailable", False)))
                for x in data["lines"]
            ],
            subtotal_xaf=int(data["subtotal_xaf"]),
            delivery_fee_xaf=int(data["delivery_fee_xaf"]),
            total_xaf=int(data["total_xaf"]),
            payable_xaf=int(data["payable_xaf"]),
            payment_method=data["payment_method"],
            payer_phone=data.get("payer_phone"),
            payment_status=data["payment_status"],
            address=dict(data["address"]),
            placed_at=dt.datetime.fromisoformat(data["placed_at"]),
            updated_at=dt.datetime.fromisoformat(data["updated_at"]),
            note=data.get("note"),
            language=data.get("language", "fr"),
            rider_id=_uuid(data.get("rider_id")),
            eta_at=_dt(data.get("eta_at")),
            payment_due_at=_dt(data.get("payment_due_at")),
            cancel_reason=data.get("cancel_reason"),
            cancelled_by=data.get("cancelled_by"),
            reservation_id=_uuid(data.get("reservation_id")),
            request_hash=data.get("request_hash", ""),
            refunded_xaf=int(data.get("refunded_xaf", 0)),
            version=int(data.get("version", 0)),
        )


def role_makes(role: str, target: str) -> bool:
    """Whether ``role`` makes a move to ``target`` from some status."""
    return any(role in roles for (_, to), roles in LEGAL.items() if to == target)


def ensure_visible(actor: Actor, customer_id: uuid.UUID, store_id: uuid.UUID,
                   rider_id: uuid.UUID | None) -> None:
    """404 unless the actor has business with the order (see :meth:`Order.authorize`)."""
    visible = (
        actor.role in (OPERATIONS, SYSTEM)
        or (actor.role == CUSTOMER and actor.id == customer_id)
        or (actor.role == MERCHANT and store_id in actor.store_ids)
        or (actor.role == RIDER and actor.id is not None and actor.id == rider_id)
    )
    if not visible:
        raise OrderNotFound()


_FIELDS = [
    name for name in Order.__dataclass_fields__
    if name not in ("version", "pending", "pending_states")
]


def _str(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _uuid(value: str | None) -> uuid.UUID | None:
    return None if not value else uuid.UUID(value)


def _dt(value: str | None) -> dt.datetime | None:
    return None if not value else dt.datetime.fromisoformat(value)
