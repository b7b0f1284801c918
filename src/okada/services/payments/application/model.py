"""Records the payments application reads and writes through its ports."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass


class PaymentStatus(enum.StrEnum):
    """The public status of an order's payment (``PaymentState.status``)."""

    NEW = "new"  # known order, nothing asked of the provider yet
    PENDING = "pending"
    CAPTURED = "captured"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    CASH_DUE = "cash_due"
    CASH_COLLECTED = "cash_collected"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    """What payments keeps of an order (replica from orders.v1 events)."""

    order_id: uuid.UUID
    version: int
    customer_id: uuid.UUID
    store_id: uuid.UUID
    status: str
    payable_xaf: int
    method: str
    payer_phone: str | None
    delivery_fee_xaf: int = 0


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    """One order's payment row."""

    order_id: uuid.UUID
    payment_id: uuid.UUID
    customer_id: uuid.UUID
    store_id: uuid.UUID
    method: str
    provider: str | None
    status: str
    amount_xaf: int
    captured_xaf: int
    refunded_xaf: int
    payer_phone: str | None
    failure_reason: str | None
    version: int
    order_status: str
    order_version: int
    updated_at: dt.datetime
    delivery_fee_xaf: int = 0
    rider_id: uuid.UUID | None = None


class RefundStatus(enum.StrEnum):
    """Refund states (``created`` = not yet accepted by the provider)."""

    CREATED = "created"
    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RefundRecord:
    """A refund of (part of) a captured attempt, keyed by order and cause."""

    id: uuid.UUID
    order_id: uuid.UUID
    cause: str
    attempt_id: uuid.UUID
    provider: str
    amount_xaf: int
    status: str
    reason: str | None
    checks: int
    submitted: int
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class PhoneRecord:
    """A customer's number as identity published it."""

    e164: str
    operator: str | None
    verified: bool
    primary: bool = False


@dataclass(frozen=True, slots=True)
class RiderCash:
    """A rider's cash in hand."""

    rider_id: uuid.UUID
    cash_in_hand_xaf: int
    version: int
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class PayoutRecord:
    """One transfer of a settlement batch to a store or a rider (MoMo disbursement)."""

    id: uuid.UUID
    batch_id: str
    payee_kind: str  # "store" or "rider"
    payee_id: uuid.UUID
    phone: str  # E.164
    amount_xaf: int
    status: str  # RefundStatus values: created, pending, completed, failed
    reason: str | None
    checks: int
    submitted: int
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class CashDiscrepancy:
    """A remittance whose counted cash differs from what was expected, and how it was booked.

    ``discrepancy_xaf`` is counted minus expected (negative: cash is missing).
    """

    id: uuid.UUID
    reference: str
    rider_id: uuid.UUID
    expected_xaf: int
    counted_xaf: int
    discrepancy_xaf: int
    booking: str  # "rider_receivable", "write_off" (shortfalls) or "overage"
    reason: str
    actor_id: uuid.UUID | None
    created_at: dt.datetime
