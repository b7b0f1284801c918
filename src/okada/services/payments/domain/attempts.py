"""Payment attempts: one provider request per attempt, its state machine and the verdicts.

Business rules:

- An attempt moves ``created → pending → succeeded | failed | expired``; only the provider's
  status API moves it (a callback is a hint that triggers a status query, never a verdict).
- A success counts only if the provider's amount, currency and payer match the attempt.
- A timeout, a 5xx, an unreadable reply or an unknown status spelling is an *unknown*
  outcome: check again later, never assume failure.
- When the payment window ends while the provider still says ``PENDING`` the attempt
  expires; the provider may still report a late success afterwards, which is captured
  (``expired → succeeded``) and routed to the order saga.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass
from typing import Any


class AttemptStatus(enum.StrEnum):
    """Normalised attempt states (strings in the database)."""

    CREATED = "created"
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"


OPEN_STATUSES = frozenset({AttemptStatus.CREATED, AttemptStatus.PENDING})
CAPTURABLE_STATUSES = frozenset(
    {AttemptStatus.CREATED, AttemptStatus.PENDING, AttemptStatus.EXPIRED}
)


class Provider(enum.StrEnum):
    """Mobile-money providers (the wire names of ``PaymentState.provider``)."""

    MTN_MOMO = "mtn_momo"
    ORANGE_MONEY = "orange_money"


class Outcome(enum.StrEnum):
    """What a provider status query told us."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PENDING = "pending"
    NOT_FOUND = "not_found"  # the provider never accepted this reference
    UNKNOWN = "unknown"  # timeout, 5xx, unreadable or unexpected answer


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    """A provider's answer about one reference, already normalised."""

    outcome: Outcome
    reason: str | None = None
    amount: int | None = None
    currency: str | None = None
    payer: str | None = None  # digits as the provider spells the number
    provider_tx_id: str | None = None
    raw_status: str | None = None


UNKNOWN = ProviderStatus(Outcome.UNKNOWN)

MOMO_SUCCESS = frozenset({"SUCCESSFUL"})
OM_SUCCESS = frozenset({"SUCCESSFULL", "SUCCESSFUL"})  # the real spelling has a double L
OM_FAILURE = frozenset({"FAILED", "CANCELLED", "EXPIRED"})


def _amount(value: Any) -> int | None:
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    whole, _, fraction = text.partition(".")
    if not whole.isdigit() or (fraction and set(fraction) != {"0"}):
        return None
    return int(whole)


def read_momo_status(body: Any) -> ProviderStatus:
    """Normalise a MoMo ``requesttopay``/``refund`` status body (untrusted input)."""
    if not isinstance(body, dict):
        return UNKNOWN
    status = body.get("status")
    payer = body.get("payer") if isinstance(body.get("payer"), dict) else None
    party = payer.get("partyId") if payer else None
    common: dict[str, Any] = {
        "amount": _amount(body.get("amount")),
        "currency": body.get("currency") if isinstance(body.get("currency"), str) else None,
        "payer": party if isinstance(party, str) else None,
        "raw_status": status if isinstance(status, str) else None,
    }
    if status in MOMO_SUCCESS:
        tx = body.get("financialTransactionId")
        return ProviderStatus(Outcome.SUCCEEDED, provider_tx_id=str(tx) if tx else None,
                              **common)
    if status == "FAILED":
        reason = body.get("reason")
        if isinstance(reason, dict):  # older API versions nest {code, message}
            reason = reason.get("code")
        return ProviderStatus(Outcome.FAILED, reason=_reason(reason), **common)
    if status == "PENDING":
        return ProviderStatus(Outcome.PENDING, **common)
    return ProviderStatus(Outcome.UNKNOWN, **common)


def read_orange_status(envelope: Any) -> ProviderStatus:
    """Normalise an Orange Money ``mp`` envelope ``{"message", "data": {...}}``."""
    data = envelope.get("data") if isinstance(envelope, dict) else None
    if not isinstance(data, dict):
        return UNKNOWN
    status = data.get("status")
    payer = data.get("subscriberMsisdn")
    common: dict[str, Any] = {
        "amount": _amount(data.get("amount")),
        "currency": "XAF",  # the mp API is XAF only and does not echo a currency
        "payer": payer if isinstance(payer, str) else None,
        "raw_status": status if isinstance(status, str) else None,
    }
    if status in OM_SUCCESS:
        tx = data.get("txnid")
        return ProviderStatus(Outcome.SUCCEEDED, provider_tx_id=str(tx) if tx else None,
                              **common)
    if status in OM_FAILURE:
        return ProviderStatus(Outcome.FAILED, reason=_reason(status), **common)
    if status in ("PENDING", "INITIATED"):
        return ProviderStatus(Outcome.PENDING, **common)
    return ProviderStatus(Outcome.UNKNOWN, **common)


def _reason(value: Any) -> str:
    text = str(value) if isinstance(value, str) and value else "FAILED"
    cleaned = "".join(c for c in text.upper() if c.isalnum() or c == "_")[:64]
    return cleaned or "FAILED"


@dataclass
class Attempt:
    """One collection request to a provider, keyed by our reference ``id``."""

    id: uuid.UUID
    order_id: uuid.UUID
    provider: Provider
    status: AttemptStatus
    amount_xaf: int
    payer_phone: str  # E.164
    callback_token: str
    created_at: dt.datetime
    expires_at: dt.datetime
    provider_ref: str | None = None  # Orange payToken
    provider_tx_id: str | None = None
    reason: str | None = None
    checks: int = 0
    submitted: int = 0
    next_check_at: dt.datetime | None = None

    def payer_digits(self, provider: Provider | None = None) -> str:
        """The payer as the provider writes it: MoMo ``2376…`` (12), Orange ``6…`` (9)."""
        digits = self.payer_phone.lstrip("+")
        if (provider or self.provider) is Provider.ORANGE_MONEY and digits.startswith("237"):
            return digits[3:]
        return digits


class Decision(enum.StrEnum):
    """What to do with an attempt after a status answer."""

    CAPTURE = "capture"
    FAIL = "fail"
    EXPIRE = "expire"
    MISMATCH = "mismatch"
    WAIT = "wait"


def decide(attempt: Attempt, status: ProviderStatus, *, now: dt.datetime,
           currency: str) -> Decision:
    """The transition an answer calls for (the caller applies it with a guarded update)."""
    if status.outcome is Outcome.SUCCEEDED:
        if attempt.status not in CAPTURABLE_STATUSES:
            return Decision.WAIT
        if (
            status.amount != attempt.amount_xaf
            or status.currency != currency
            or (status.payer is not None and status.payer != attempt.payer_digits())
        ):
            return Decision.MISMATCH
        return Decision.CAPTURE
    if status.outcome is Outcome.FAILED:
        return Decision.FAIL if attempt.status in OPEN_STATUSES else Decision.WAIT
    if (
        status.outcome is Outcome.PENDING
        and attempt.status is AttemptStatus.PENDING
        and now >= attempt.expires_at
    ):
        return Decision.EXPIRE
    return Decision.WAIT


def next_check_delay(checks: int, schedule: tuple[float, ...]) -> float:
    """Back-off between status queries: ``schedule[checks]``, then its last value."""
    if not schedule:
        return 60.0
    return schedule[min(checks, len(schedule) - 1)]
