"""The delivery policy: which channel first, when to fall back, quiet hours and retries.

Business rules:
    - OTP codes always go by SMS (never push, never the inbox).
    - Critical messages (order confirmed, new order for a store, rider arriving, delivery
      failed, payment failed, job offer to a rider) go by push first, then by SMS when the
      recipient has no device token, the push fails, or no push delivery receipt arrives
      within the receipt window (60 s by default). They ignore quiet hours and caps.
    - Other messages go by push and to the inbox only; during quiet hours (21:00-07:00
      Africa/Douala by default) their push is deferred to the end of the quiet period, and
      above the per-user hourly cap their push is suppressed (the inbox keeps them).
    - Provider errors are retried with exponential backoff; SMS fail over to the second
      provider after ``failover_after`` failed attempts on the first, then alternate.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from zoneinfo import ZoneInfo

DOUALA = ZoneInfo("Africa/Douala")


class Kind(enum.StrEnum):
    """What a message is about (one template per kind)."""

    OTP = "otp"
    ORDER_CONFIRMED = "order_confirmed"
    STORE_NEW_ORDER = "store_new_order"
    ORDER_ACCEPTED = "order_accepted"
    RIDER_ASSIGNED = "rider_assigned"
    RIDER_ARRIVING = "rider_arriving"
    ORDER_DELIVERED = "order_delivered"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_EXPIRED = "order_expired"
    DELIVERY_FAILED = "delivery_failed"
    PAYMENT_FAILED = "payment_failed"
    REFUND_COMPLETED = "refund_completed"
    JOB_OFFER = "job_offer"


CRITICAL: frozenset[Kind] = frozenset(
    {
        Kind.OTP,
        Kind.ORDER_CONFIRMED,
        Kind.STORE_NEW_ORDER,
        Kind.RIDER_ARRIVING,
        Kind.DELIVERY_FAILED,
        Kind.PAYMENT_FAILED,
        Kind.JOB_OFFER,
    }
)


class Channel(enum.StrEnum):
    """How a message travels."""

    PUSH = "push"
    SMS = "sms"


class Status(enum.StrEnum):
    """Life of one outgoing message (one row per event, recipient and channel)."""

    PENDING = "pending"  # due to be sent at ``due_at`` (maybe deferred or a retry)
    SENDING = "sending"  # claimed by a dispatcher until ``due_at`` (lease)
    SENT = "sent"  # accepted by the provider, waiting for a delivery receipt
    DELIVERED = "delivered"  # the provider or the device confirmed delivery
    UNDELIVERED = "undelivered"  # the provider reported it could not deliver
    FAILED = "failed"  # gave up (no channel, retries exhausted, refused)
    SUPPRESSED = "suppressed"  # not sent: the user's hourly cap was reached


OPEN_STATUSES = frozenset({Status.PENDING, Status.SENDING})


def is_critical(kind: Kind) -> bool:
    """Whether ``kind`` is a critical message (push then SMS; no quiet hours, no caps)."""
    return kind in CRITICAL


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """Tunable numbers of the policy (from settings)."""

    receipt_window_seconds: float = 60.0
    quiet_start_hour: int = 21
    quiet_end_hour: int = 7
    hourly_cap: int = 10
    max_attempts: int = 10
    failover_after: int = 2
    backoff_base_seconds: float = 5.0
    backoff_max_seconds: float = 300.0
    lease_seconds: float = 60.0
    sms_receipt_delay_seconds: float = 10.0
    sms_receipt_checks: int = 5

    def in_quiet_hours(self, now: dt.datetime) -> bool:
        """Whether ``now`` falls in the quiet period in Douala."""
        hour = now.astimezone(DOUALA).hour
        if self.quiet_start_hour == self.quiet_end_hour:
            return False
        if self.quiet_start_hour > self.quiet_end_hour:
            return hour >= self.quiet_start_hour or hour < self.quiet_end_hour
        return self.quiet_start_hour <= hour < self.quiet_end_hour

    def due_at(self, kind: Kind, now: dt.datetime) -> dt.datetime:
        """When the first delivery of a ``kind`` message created at ``now`` may go out.

        Critical messages go at once; others created in quiet hours wait for their end.
        """
        if is_critical(kind) or not self.in_quiet_hours(now):
            return now
        local = now.astimezone(DOUALA)
        end = local.replace(hour=self.quiet_end_hour, minute=0, second=0, microsecond=0)
        if end <= local:
            end += dt.timedelta(days=1)
        return end.astimezone(dt.UTC)

    def retry_delay(self, attempts: int) -> dt.timedelta:
        """Backoff after ``attempts`` failed attempts: base * 2^(attempts-1), capped."""
        exponent = max(0, attempts - 1)
        seconds = min(self.backoff_max_seconds, self.backoff_base_seconds * (2**exponent))
        return dt.timedelta(seconds=seconds)

    def sms_provider_index(self, attempts: int, *, urgent: bool = False) -> int:
        """Which SMS provider (0 primary, 1 backup) makes attempt number ``attempts + 1``.

        Urgent messages (login codes) fail over after the first failed attempt.
        """
        if urgent:
            return attempts % 2
        if attempts < self.failover_after:
            return 0
        return 1 if (attempts - self.failover_after) % 2 == 0 else 0

    def receipt_due(self, kind: Kind, sent_at: dt.datetime) -> dt.datetime | None:
        """By when a push of ``kind`` must be acknowledged before the SMS fallback."""
        if not is_critical(kind):
            return None
        return sent_at + dt.timedelta(seconds=self.receipt_window_seconds)
