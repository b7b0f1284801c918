"""Use cases behind the HTTP API: inbox, devices, push receipts, operations view, OTP SMS."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from okada.kernel.clock import Clock
from okada.kernel.ids import new_id
from okada.services.notifications.application.dispatch import Dispatcher
from okada.services.notifications.application.errors import (
    DeviceNotFound,
    InvalidDeviceToken,
    NotificationNotFound,
    SmsUndeliverable,
)
from okada.services.notifications.application.messages import (
    inbox_event,
    mask_phone,
    phone_key,
    sms_message,
)
from okada.services.notifications.application.model import (
    Device,
    InboxItem,
    Message,
    MessageEvent,
    Page,
)
from okada.services.notifications.application.ports import NotificationsUnitOfWork
from okada.services.notifications.domain.policy import Channel, Kind, Status

log = structlog.get_logger(__name__)

TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_:\-.]{16,4096}$")


class InboxService:
    """A user's in-app inbox. Items are only ever visible to their owner."""

    def __init__(self, *, uow_factory: Callable[[], NotificationsUnitOfWork]) -> None:
        self._uow = uow_factory

    async def page(
        self,
        user_id: uuid.UUID,
        *,
        before: tuple[dt.datetime, uuid.UUID] | None,
        unread_only: bool,
        limit: int,
    ) -> Page:
        """The user's items, newest first."""
        async with self._uow() as uow:
            items = await uow.inbox.page(
                user_id, before=before, unread_only=unread_only, limit=limit
            )
        after = (items[-1].sent_at, items[-1].id) if len(items) == limit else None
        return Page(items=items, next_after=after)

    async def mark_read(self, user_id: uuid.UUID, item_id: uuid.UUID) -> InboxItem:
        """Mark the caller's item read (idempotent); 404 for anyone else's item."""
        for _ in range(3):
            async with self._uow() as uow:
                item = await uow.inbox.get(item_id)
                if item is None or item.user_id != user_id:
                    raise NotificationNotFound()
                if item.read:
                    return item
                updated = await uow.inbox.mark_read(item)
                if updated is None:
                    continue  # read concurrently: load again
                uow.publish(inbox_event(updated))
                await uow.commit()
                return updated
        raise NotificationNotFound()


@dataclass(frozen=True, slots=True)
class RegisterDevice:
    """A push token reported by an app install."""

    user_id: uuid.UUID
    token: str
    platform: str
    locale: str | None


class DeviceService:
    """Push tokens of app installs."""

    def __init__(
        self, *, uow_factory: Callable[[], NotificationsUnitOfWork], clock: Clock
    ) -> None:
        self._uow = uow_factory
        self._clock = clock

    async def register(self, command: RegisterDevice) -> Device:
        """Idempotent upsert by token: the token moves to the caller and becomes active."""
        if not TOKEN_PATTERN.fullmatch(command.token):
            raise InvalidDeviceToken()
        now = self._clock.now()
        async with self._uow() as uow:
            device = await uow.devices.upsert(
                Device(
                    token=command.token,
                    user_id=command.user_id,
                    platform=command.platform,
                    locale=command.locale,
                    created_at=now,
                    updated_at=now,
                )
            )
            await uow.commit()
        return device

    async def unregister(self, user_id: uuid.UUID, token: str) -> None:
        """Retire the caller's token (signed out); 404 for a token that is not theirs."""
        async with self._uow() as uow:
            device = await uow.devices.get(token)
            if device is None or device.user_id != user_id:
                raise DeviceNotFound()
            if device.retired_at is None:
                await uow.devices.retire(token, reason="unregistered", at=self._clock.now())
                await uow.commit()


@dataclass(frozen=True, slots=True)
class AdminMessage:
    """A message with its attempts and receipts, for operations."""

    message: Message
    events: list[MessageEvent]


class NotificationAdmin:
    """What operations see of sent messages, and the push receipts of devices."""

    def __init__(
        self, *, uow_factory: Callable[[], NotificationsUnitOfWork], dispatcher: Dispatcher
    ) -> None:
        self._uow = uow_factory
        self._dispatcher = dispatcher

    async def search(
        self, *, user_id: uuid.UUID | None, order_id: uuid.UUID | None, limit: int
    ) -> list[AdminMessage]:
        """Messages of a user and/or an order, newest first, with attempts and receipts."""
        async with self._uow() as uow:
            messages = await uow.messages.search(user_id=user_id, order_id=order_id, limit=limit)
            events = await uow.messages.events_for([m.id for m in messages])
        by_message: dict[uuid.UUID, list[MessageEvent]] = {}
        for event in events:
            by_message.setdefault(event.message_id, []).append(event)
        return [AdminMessage(m, by_message.get(m.id, [])) for m in messages]

    async def acknowledge(self, user_id: uuid.UUID, message_id: uuid.UUID) -> Message:
        """A device of the recipient confirms a push arrived; 404 for anyone else."""
        async with self._uow() as uow:
            message = await uow.messages.get(message_id)
        if message is None or message.recipient_id != user_id or message.channel is not (
            Channel.PUSH
        ):
            raise NotificationNotFound()
        if message.status is Status.SENT:
            await self._dispatcher.acknowledge_push(message)
        return message


class OtpSender:
    """SMS asked by identity (login codes): always SMS, through the failover path, at once."""

    def __init__(
        self,
        *,
        uow_factory: Callable[[], NotificationsUnitOfWork],
        clock: Clock,
        dispatcher: Dispatcher,
        attempts: int = 2,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._dispatcher = dispatcher
        self._attempts = attempts

    async def send(self, *, to: str, text: str) -> Message:
        """Send now, failing over to the backup provider; 503 when none accepted it.

        A code the customer waits for is useless minutes later, so an undeliverable OTP is
        failed (the customer asks again) instead of queued for a later retry.
        """
        now = self._clock.now()
        message = sms_message(
            event_key=f"otp:{new_id()}",
            recipient_key=phone_key(to),
            recipient_id=None,
            phone=to,
            kind=Kind.OTP,
            language="fr",
            text=text,
            order_id=None,
            now=now,
            shorten=False,
        )
        async with self._uow() as uow:
            await uow.messages.add(message)
            await uow.commit()
        for _ in range(self._attempts):
            await self._dispatcher.deliver(message.id)
            async with self._uow() as uow:
                current = await uow.messages.get(message.id)
            if current is None:
                break
            if current.status is Status.SENT or current.status is Status.FAILED:
                break
            if current.status is Status.PENDING and current.due_at > self._clock.now():
                break  # the same provider wants time: do not wait for it
        async with self._uow() as uow:
            current = await uow.messages.get(message.id)
            if current is not None and current.status is not Status.SENT:
                current.status = Status.FAILED
                current.body = re.sub(r"\d", "*", current.body)  # never keep an unsent code
                current.last_error = current.last_error or "not_sent"
                current.updated_at = self._clock.now()
                await uow.messages.update_if(current, expected=Status.PENDING)
                await uow.commit()
        if current is None or current.status is not Status.SENT:
            log.error("notifications.otp_not_sent", to=mask_phone(to))
            raise SmsUndeliverable()
        return current
