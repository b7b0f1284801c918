"""Creating messages: the inbox item, the push and, for critical messages, the SMS fallback."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass

import structlog

from okada.contracts.notifications.v1 import InboxItemChanged, InboxItemState
from okada.kernel.ids import new_id as uuid7
from okada.services.notifications.application.model import InboxItem, Message, Recipient
from okada.services.notifications.application.ports import NotificationsUnitOfWork
from okada.services.notifications.domain.policy import (
    Channel,
    DeliveryPolicy,
    Kind,
    Status,
    is_critical,
)
from okada.services.notifications.domain.sms import fit_one_segment, measure, transliterate
from okada.services.notifications.domain.templates import Rendered

log = structlog.get_logger(__name__)


def mask_phone(phone: str | None) -> str | None:
    """A phone number as logs and operations screens show it: ``+2376****4321``."""
    if not phone:
        return None
    if len(phone) < 9:
        return "****"
    return f"{phone[:5]}****{phone[-4:]}"


def phone_key(phone: str) -> str:
    """A stable recipient key for a message sent to a bare phone number (OTP)."""
    return "phone:" + hashlib.sha256(phone.encode()).hexdigest()[:32]


def inbox_event(item: InboxItem) -> InboxItemChanged:
    """The integration event announcing an inbox item's state."""
    return InboxItemChanged(
        entity_id=item.id,
        version=item.version,
        state=InboxItemState(
            user_id=item.user_id,
            kind=item.kind,
            title=item.title,
            body=item.body,
            order_id=item.order_id,
            read=item.read,
            sent_at=item.sent_at,
        ),
    )


@dataclass(frozen=True, slots=True)
class Delivery:
    """A rendered message for one recipient, before channels are chosen."""

    event_key: str
    recipient_id: uuid.UUID
    rendered: Rendered
    phone: str | None
    order_id: uuid.UUID | None


def sms_message(
    *,
    event_key: str,
    recipient_key: str,
    recipient_id: uuid.UUID | None,
    phone: str,
    kind: Kind,
    language: str,
    text: str,
    order_id: uuid.UUID | None,
    now: dt.datetime,
    title: str = "",
    shorten: bool = True,
) -> Message:
    """A new SMS message row, transliterated to GSM-7 and measured.

    Our own templates are cut to one segment if a long value overflows them; a text another
    service asked to send (a login code) is never cut, only transliterated.
    """
    plain = fit_one_segment(text) if shorten else transliterate(text)
    length = measure(plain)
    return Message(
        id=uuid7(),
        event_key=event_key,
        recipient_key=recipient_key,
        recipient_id=recipient_id,
        phone=phone,
        kind=kind,
        critical=is_critical(kind),
        channel=Channel.SMS,
        status=Status.PENDING,
        language=language,
        title=title,
        body=plain,
        order_id=order_id,
        due_at=now,
        created_at=now,
        updated_at=now,
        segments=length.segments,
        encoding=length.encoding,
    )


async def add_sms_fallback(
    uow: NotificationsUnitOfWork, push: Message, *, now: dt.datetime, reason: str
) -> Message | None:
    """Queue the SMS fallback of a critical push (once: the row is unique per channel).

    Without a phone number nothing can be sent: that is logged as an error and recorded on
    the push row, so it is never dropped silently.
    """
    if not push.phone or not push.sms_text:
        log.error("notifications.fallback_impossible", message_id=str(push.id),
                  kind=push.kind.value, reason="no_phone")
        push.last_error = "no_phone_for_sms_fallback"
        return None
    sms = sms_message(
        event_key=push.event_key,
        recipient_key=push.recipient_key,
        recipient_id=push.recipient_id,
        phone=push.phone,
        kind=push.kind,
        language=push.language,
        text=push.sms_text,
        order_id=push.order_id,
        now=now,
        title=push.title,
    )
    if await uow.messages.add(sms):
        log.info("notifications.sms_fallback", message_id=str(push.id), sms_id=str(sms.id),
                 kind=push.kind.value, reason=reason, to=mask_phone(push.phone))
        return sms
    return None


async def create_delivery(
    uow: NotificationsUnitOfWork,
    delivery: Delivery,
    *,
    recipient: Recipient | None,
    policy: DeliveryPolicy,
    now: dt.datetime,
    inbox: bool = True,
) -> None:
    """Put one rendered message in the inbox and queue its push (and SMS when critical).

    Business rules: redelivered events create nothing new (inbox and messages are unique per
    event key and recipient); a critical message for a user without any active device goes
    straight to SMS; a non-critical push beyond the hourly cap is recorded as suppressed.
    """
    rendered = delivery.rendered
    kind = rendered.kind
    critical = is_critical(kind)
    recipient_key = str(delivery.recipient_id)
    if inbox:
        item = InboxItem(
            id=uuid7(),
            user_id=delivery.recipient_id,
            event_key=delivery.event_key,
            kind=kind.value,
            title=rendered.title,
            body=rendered.body,
            order_id=delivery.order_id,
            read=False,
            sent_at=now,
            version=1,
        )
        if await uow.inbox.add(item):
            uow.publish(inbox_event(item))
    devices = await uow.devices.active_for(delivery.recipient_id)
    if devices:
        status = Status.PENDING
        if not critical:
            since = now - dt.timedelta(hours=1)
            if await uow.messages.count_recent(delivery.recipient_id, since) >= policy.hourly_cap:
                status = Status.SUPPRESSED
                log.info("notifications.capped", kind=kind.value,
                         user_id=str(delivery.recipient_id))
        push = Message(
            id=uuid7(),
            event_key=delivery.event_key,
            recipient_key=recipient_key,
            recipient_id=delivery.recipient_id,
            phone=delivery.phone,
            kind=kind,
            critical=critical,
            channel=Channel.PUSH,
            status=status,
            language=rendered.language,
            title=rendered.title,
            body=rendered.body,
            order_id=delivery.order_id,
            due_at=policy.due_at(kind, now),
            created_at=now,
            updated_at=now,
            sms_text=rendered.sms if critical else None,
            last_error="hourly_cap" if status is Status.SUPPRESSED else None,
        )
        await uow.messages.add(push)
        return
    if not critical:
        return  # push-and-inbox only: the inbox has it
    if delivery.phone:
        await uow.messages.add(
            sms_message(
                event_key=delivery.event_key,
                recipient_key=recipient_key,
                recipient_id=delivery.recipient_id,
                phone=delivery.phone,
                kind=kind,
                language=rendered.language,
                text=rendered.sms,
                order_id=delivery.order_id,
                now=now,
                title=rendered.title,
            )
        )
        return
    # Neither a device nor a phone: record the failure where operations look for it.
    log.error("notifications.unreachable", kind=kind.value, user_id=str(delivery.recipient_id),
              known_user=recipient is not None)
    await uow.messages.add(
        Message(
            id=uuid7(),
            event_key=delivery.event_key,
            recipient_key=recipient_key,
            recipient_id=delivery.recipient_id,
            phone=None,
            kind=kind,
            critical=critical,
            channel=Channel.SMS,
            status=Status.FAILED,
            language=rendered.language,
            title=rendered.title,
            body=fit_one_segment(rendered.sms),
            order_id=delivery.order_id,
            due_at=now,
            created_at=now,
            updated_at=now,
            last_error="no_device_and_no_phone",
        )
    )
