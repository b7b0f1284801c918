"""payments.v1: what happened to the money of an order (and to riders' cash).

``entity_id`` is the payment id (one payment per order); ``state.order_id`` names the order.
A mobile-money callback is only a hint: these events are emitted only after the provider's
status API confirmed the outcome.
"""

from __future__ import annotations

import datetime as dt
import uuid

from okada.contracts.base import ContractModel, IntegrationEvent


class PaymentState(ContractModel):
    """The public state of an order's payment. Amounts are whole XAF."""

    order_id: uuid.UUID
    customer_id: uuid.UUID
    method: str  # "mtn_momo", "orange_money", "cash"
    provider: str | None  # "mtn_momo", "orange_money"; None for cash
    # "pending", "captured", "failed", "refunded", "partially_refunded", "cash_due",
    # "cash_collected", "cancelled"
    status: str
    amount_xaf: int
    captured_xaf: int
    refunded_xaf: int
    payer_phone_masked: str | None  # "+2376****4321"; never the full number
    # provider reason, e.g. "NOT_ENOUGH_FUNDS", "PAYER_NOT_FOUND", "EXPIRED"
    failure_reason: str | None = None
    updated_at: dt.datetime


class PaymentRequested(IntegrationEvent, schema="payments.v1.PaymentRequested"):
    """A collection prompt was sent to the payer's phone (status ``pending``)."""

    state: PaymentState


class PaymentCaptured(IntegrationEvent, schema="payments.v1.PaymentCaptured"):
    """The provider confirmed the money was collected; orders confirms the order."""

    state: PaymentState


class PaymentFailed(IntegrationEvent, schema="payments.v1.PaymentFailed"):
    """The provider definitely declined or the prompt expired; orders cancels the order."""

    state: PaymentState


class RefundCompleted(IntegrationEvent, schema="payments.v1.RefundCompleted"):
    """Money went back to the payer (``amount_xaf`` this time, ``state.refunded_xaf`` in total)."""

    state: PaymentState
    amount_xaf: int
    reason: str


class RefundFailed(IntegrationEvent, schema="payments.v1.RefundFailed"):
    """A refund could not be made and needs operations (it is retried first)."""

    state: PaymentState
    amount_xaf: int
    reason: str


class CashLedgerState(ContractModel):
    """A rider's cash in hand (collected at doors, not yet remitted) and their float limit."""

    rider_id: uuid.UUID
    cash_in_hand_xaf: int
    float_limit_xaf: int
    updated_at: dt.datetime


class CashCollected(IntegrationEvent, schema="payments.v1.CashCollected"):
    """A rider collected cash at the door for an order (``entity_id`` is the rider id)."""

    state: CashLedgerState
    order_id: uuid.UUID
    amount_xaf: int


class CashRemitted(IntegrationEvent, schema="payments.v1.CashRemitted"):
    """A rider handed cash over to Okada (``entity_id`` is the rider id)."""

    state: CashLedgerState
    amount_xaf: int
