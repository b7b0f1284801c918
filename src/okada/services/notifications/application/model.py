"""What the notifications application works with (plain data, no I/O)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass, field

from okada.services.notifications.domain.policy import Channel, Kind, Status


@dataclass(frozen=True, slots=True)
class Recipient:
    """What notifications knows of a user (built from identity events)."""

    user_id: uuid.UUID
    version: int
    language: str
    phone: str | None  # E.164 of the primary phone; never logged in full
    roles: tuple[str, ...] = ()
    store_ids: tuple[uuid.UUID, ...] = ()
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class Device:
    """A push token of a user's app install."""

    token: str
    user_id: uuid.UUID
    platform: str  # android, ios, web
    locale: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    retired_at: dt.datetime | None = None
    retired_reason: str | None = None


@dataclass(slots=True)
class Message:
    """One outgoing message: one event, one recipient, one channel (unique together)."""

    id: uuid.UUID
    event_key: str
    recipient_key: str
    recipient_id: uuid.UUID | None
    phone: str | None
    kind: Kind
    critical: bool
    channel: Channel
    status: Status
    language: str
    title: str
    body: str
    order_id: uuid.UUID | None
    due_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
    attempts: int = 0
    provider: str | None = None
    provider_message_id: str | None = None
    segments: int | None = None
    encoding: str | None = None
    sent_at: dt.datetime | None = None
    delivered_at: dt.datetime | None = None
    receipt_due_at: dt.datetime | None = None
    fallback_at: dt.datetime | None = None
    receipt_checks: int = 0
    last_error: str | None = None
    lease: uuid.UUID | None = None
    sms_text: str | None = None  # the SMS fallback of a critical push


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """An attempt or a receipt of a message, as operations see it."""

    message_id: uuid.UUID
    at: dt.datetime
    kind: str  # "attempt" or "receipt"
    provider: str | None
    outcome: str
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class InboxItem:
    """A message in a user's in-app inbox."""

    id: uuid.UUID
    user_id: uuid.UUID
    event_key: str
    kind: str
    title: str
    body: str
    order_id: uuid.UUID | None
    read: bool
    sent_at: dt.datetime
    version: int


class Outcome(enum.StrEnum):
    """What a provider said about one send."""

    ACCEPTED = "accepted"
    TRANSIENT = "transient"  # retry later (5xx, timeout, quota)
    INVALID_TOKEN = "invalid_token"  # noqa: S105 - retire the push token (not a secret)
    REJECTED = "rejected"  # the provider refuses this message for good


@dataclass(frozen=True, slots=True)
class SendResult:
    """A provider's answer to one send."""

    outcome: Outcome
    provider: str
    provider_message_id: str | None = None
    error: str | None = None


class ReceiptStatus(enum.StrEnum):
    """What a provider's delivery report says."""

    DELIVERED = "delivered"
    FAILED = "failed"
    PENDING = "pending"
    UNKNOWN = "unknown"  # the report could not be read


@dataclass(frozen=True, slots=True)
class Receipt:
    """A delivery report of one provider message."""

    status: ReceiptStatus
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """A page of items with the position after the last one."""

    items: list[InboxItem] = field(default_factory=list)
    next_after: tuple[dt.datetime, uuid.UUID] | None = None
