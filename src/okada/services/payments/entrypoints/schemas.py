"""Request and response bodies of the payments API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MethodResolve(_In):
    """Which wallet would pay: ``customer_id`` only for other services."""

    method: Literal["mtn_momo", "orange_money", "cash"]
    phone: Annotated[str | None, Field(max_length=20)] = None
    customer_id: uuid.UUID | None = None


class MethodRead(BaseModel):
    """The wallet and (masked) number that will pay."""

    method: str
    provider: str | None
    payer_phone_masked: str | None


class SwitchCreate(_In):
    """Pay a cash order by mobile money at the door."""

    method: Literal["mtn_momo", "orange_money"]
    phone: Annotated[str | None, Field(max_length=20)] = None


class SwitchRead(BaseModel):
    """The collection started for the switch (the payment stays cash until it succeeds)."""

    order_id: uuid.UUID
    attempt: AttemptRead


class RemittanceCreate(_In):
    """Cash a rider hands over to operations."""

    amount_xaf: Annotated[int, Field(strict=True, ge=1, le=10_000_000)]
    """The cash expected: it leaves the rider's cash in hand."""
    note: Annotated[str | None, Field(max_length=500)] = None
    counted_xaf: Annotated[int | None, Field(strict=True, ge=0, le=10_000_000)] = None
    """What operations counted, when it differs from ``amount_xaf``."""
    discrepancy_reason: Annotated[str | None, Field(max_length=200)] = None
    booking: Literal["rider_receivable", "write_off"] = "rider_receivable"
    """How a shortfall is booked: owed by the rider, or written off."""


class DiscrepancyRead(BaseModel):
    """A remittance whose counted cash differed from the cash expected."""

    id: uuid.UUID
    rider_id: uuid.UUID
    expected_xaf: int
    counted_xaf: int
    discrepancy_xaf: int
    booking: str
    reason: str
    actor_id: uuid.UUID | None
    created_at: dt.datetime


class DiscrepanciesRead(BaseModel):
    """Remittance discrepancies, newest first."""

    items: list[DiscrepancyRead]


class CashRead(BaseModel):
    """A rider's cash in hand and float limit (no new cash orders beyond it)."""

    rider_id: uuid.UUID
    cash_in_hand_xaf: int
    float_limit_xaf: int
    over_limit: bool
    updated_at: dt.datetime


class AttemptRead(BaseModel):
    """One provider request."""

    id: uuid.UUID
    provider: str
    status: str
    amount_xaf: int
    payer_phone_masked: str
    reason: str | None
    created_at: dt.datetime
    expires_at: dt.datetime


class RefundRead(BaseModel):
    """One refund of captured money."""

    id: uuid.UUID
    cause: str
    amount_xaf: int
    status: str
    reason: str | None
    created_at: dt.datetime


class OrderPaymentRead(BaseModel):
    """An order's payment with its attempts and refunds."""

    order_id: uuid.UUID
    payment_id: uuid.UUID
    method: str
    provider: str | None
    status: str
    amount_xaf: int
    captured_xaf: int
    refunded_xaf: int
    payer_phone_masked: str | None
    failure_reason: str | None
    updated_at: dt.datetime
    attempts: list[AttemptRead]
    refunds: list[RefundRead]


class CallbackAck(BaseModel):
    """What a provider's callback gets back (the same whatever the token names)."""

    status: Literal["received"] = "received"


class BalancesRead(BaseModel):
    """Balance of every ledger account (debits positive)."""

    balances: dict[str, int]


class PayoutItemIn(_In):
    """One payee of a settlement batch."""

    payee_kind: Literal["store", "rider"]
    payee_id: uuid.UUID
    phone: Annotated[str, Field(min_length=4, max_length=20)]
    amount_xaf: Annotated[int, Field(strict=True, ge=1, le=50_000_000)]


class PayoutBatchCreate(_In):
    """A settlement batch: each payee is paid once per ``batch_id``."""

    batch_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
    items: Annotated[list[PayoutItemIn], Field(min_length=1, max_length=200)]


class PayoutRead(BaseModel):
    """One transfer of a batch."""

    id: uuid.UUID
    payee_kind: str
    payee_id: uuid.UUID
    phone_masked: str
    amount_xaf: int
    status: str
    reason: str | None


class PayoutBatchRead(BaseModel):
    """A settlement batch and how each transfer went."""

    batch_id: str
    items: list[PayoutRead]
