"""What the notifications application needs from its database and its providers."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from types import TracebackType
from typing import Protocol, Self

from okada.contracts.base import IntegrationEvent
from okada.kernel.messages import Envelope
from okada.services.notifications.application.model import (
    Device,
    InboxItem,
    Message,
    MessageEvent,
    Receipt,
    Recipient,
    SendResult,
)
from okada.services.notifications.domain.policy import Status


class RecipientRepository(Protocol):
    """Users as identity last described them."""

    async def get(self, user_id: uuid.UUID) -> Recipient | None:
        """The user, or None when identity never told us about them."""
        ...

    async def save(self, recipient: Recipient) -> bool:
        """Insert or replace the user if ``recipient.version`` is newer; False otherwise."""
        ...

    async def store_staff(self, store_id: uuid.UUID) -> list[Recipient]:
        """Enabled merchant staff of a store."""
        ...


class DeviceRepository(Protocol):
    """Push tokens."""

    async def upsert(self, device: Device) -> Device:
        """Register (or move to this user, and revive) a token; returns it as stored."""
        ...

    async def get(self, token: str) -> Device | None:
        """A token, retired or not."""
        ...

    async def active_for(self, user_id: uuid.UUID) -> list[Device]:
        """The user's tokens that were not retired."""
        ...

    async def retire(self, token: str, *, reason: str, at: dt.datetime) -> bool:
        """Stop using a token (unregistered by the user or reported invalid)."""
        ...


class MessageRepository(Protocol):
    """Outgoing messages, their attempts and receipts."""

    async def add(self, message: Message) -> bool:
        """Insert; False (nothing written) if (event, recipient, channel) exists already."""
        ...

    async def get(self, message_id: uuid.UUID) -> Message | None:
        """One message."""
        ...

    async def due(self, now: dt.datetime, *, limit: int) -> list[uuid.UUID]:
        """Ids of messages to send now: pending and due, or claimed with an expired lease."""
        ...

    async def claim(
        self, message_id: uuid.UUID, *, now: dt.datetime, lease: uuid.UUID, until: dt.datetime
    ) -> Message | None:
        """Take a due message for sending (compare-and-swap); None if someone else did."""
        ...

    async def save_claimed(self, message: Message, *, lease: uuid.UUID) -> bool:
        """Write a claimed message's new state if the lease is still ours."""
        ...

    async def update_if(self, message: Message, *, expected: Status) -> bool:
        """Write the message if its stored status is still ``expected``."""
        ...

    async def receipt_timeouts(self, now: dt.datetime, *, limit: int) -> list[Message]:
        """Critical pushes sent but unacknowledged past their receipt window."""
        ...

    async def receipt_checks_due(self, now: dt.datetime, *, limit: int) -> list[Message]:
        """SMS sent whose delivery report should be asked now."""
        ...

    async def count_recent(self, recipient_id: uuid.UUID, since: dt.datetime) -> int:
        """Non-critical messages counted against the user's hourly cap since ``since``."""
        ...

    async def search(
        self, *, user_id: uuid.UUID | None, order_id: uuid.UUID | None, limit: int
    ) -> list[Message]:
        """Newest first, for operations."""
        ...

    async def add_event(self, event: MessageEvent) -> None:
        """Append an attempt or a receipt."""
        ...

    async def events_for(self, message_ids: Sequence[uuid.UUID]) -> list[MessageEvent]:
        """Attempts and receipts of these messages, oldest first."""
        ...


class InboxRepository(Protocol):
    """In-app inbox items."""

    async def add(self, item: InboxItem) -> bool:
        """Insert; False if this event already put an item in this user's inbox."""
        ...

    async def get(self, item_id: uuid.UUID) -> InboxItem | None:
        """One item."""
        ...

    async def page(
        self,
        user_id: uuid.UUID,
        *,
        before: tuple[dt.datetime, uuid.UUID] | None,
        unread_only: bool,
        limit: int,
    ) -> list[InboxItem]:
        """Newest first, strictly before the ``(sent_at, id)`` position."""
        ...

    async def mark_read(self, item: InboxItem) -> InboxItem | None:
        """Mark read (version + 1) if it was unread at ``item.version``; None otherwise."""
        ...


class NotificationsUnitOfWork(Protocol):
    """One transaction over the notifications database, outbox included."""

    recipients: RecipientRepository
    devices: DeviceRepository
    messages: MessageRepository
    inbox: InboxRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def publish(self, event: IntegrationEvent, *, aggregate_id: str | None = None) -> Envelope:
        """Queue an integration event for the outbox of this transaction."""
        ...

    async def commit(self) -> None:
        """Commit state and outbox together."""
        ...


class PushGateway(Protocol):
    """A push provider (FCM HTTP v1)."""

    async def send(
        self, *, token: str, title: str, body: str, data: dict[str, str], high_priority: bool
    ) -> SendResult:
        """Send one push to one device token."""
        ...


class SmsGateway(Protocol):
    """An SMS provider."""

    name: str

    async def send(self, *, to: str, text: str) -> SendResult:
        """Hand one SMS to the provider."""
        ...

    async def status(self, provider_message_id: str) -> Receipt:
        """Ask the provider's delivery report of a message it accepted."""
        ...
