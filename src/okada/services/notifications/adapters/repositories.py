"""SQLAlchemy Core repositories and the notifications unit of work.

State changes of a message are compare-and-swap UPDATEs (on its lease or its status), and
inserts that may repeat use ``ON CONFLICT DO NOTHING``: both work the same on PostgreSQL and
SQLite, so concurrent dispatchers and redelivered events never double a message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from okada.infra.db.results import rows_affected
from okada.infra.db.uow import SqlUnitOfWork
from okada.services.notifications.adapters.orm import (
    devices,
    inbox_items,
    message_events,
    messages,
    recipients,
    store_staff,
)
from okada.services.notifications.application.model import (
    Device,
    InboxItem,
    Message,
    MessageEvent,
    Recipient,
)
from okada.services.notifications.application.ports import (
    DeviceRepository,
    InboxRepository,
    MessageRepository,
    RecipientRepository,
)
from okada.services.notifications.domain.policy import Channel, Kind, Status

MERCHANT_STAFF = "merchant_staff"




def _insert(session: AsyncSession) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


_INSERT_IGNORING: dict[tuple[str, str], Any] = {}


def _insert_ignoring(session: AsyncSession, table: Table, keys: Sequence[str]) -> Any:
    """``INSERT … ON CONFLICT (keys) DO NOTHING`` built once per dialect and table.

    Executed with a parameter dict, which spares building and cache-keying a new statement
    with ``.values(...)`` on every call (a hot path: one per consumed event).
    """
    dialect = session.get_bind().dialect.name
    statement = _INSERT_IGNORING.get((dialect, table.name))
    if statement is None:
        factory = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = factory(table).on_conflict_do_nothing(index_elements=list(keys))
        _INSERT_IGNORING[(dialect, table.name)] = statement
    return statement


_RECIPIENT_WITH_STORES = (
    select(recipients, store_staff.c.store_id)
    .select_from(recipients.outerjoin(store_staff, store_staff.c.user_id == recipients.c.user_id))
    .where(recipients.c.user_id == bindparam("user_id"))
    .order_by(store_staff.c.store_id)
)


class SqlaRecipientRepository(RecipientRepository):
    """Users as identity describes them, plus the store → staff index."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get(self, user_id: uuid.UUID) -> Recipient | None:
        # One round trip: the user's row once per store they staff (or once, store NULL).
        rows = (
            await self._s.execute(
                _RECIPIENT_WITH_STORES, {"user_id": user_id}
            )
        ).all()
        if not rows:
            return None
        row = rows[0]
        return Recipient(
            user_id=row.user_id,
            version=row.version,
            language=row.language,
            phone=row.phone,
            roles=tuple(row.roles or ()),
            store_ids=tuple(r.store_id for r in rows if r.store_id is not None),
            disabled=row.disabled,
        )

    async def save(self, recipient: Recipient) -> bool:
        values = {
            "version": recipient.version,
            "language": recipient.language,
            "phone": recipient.phone,
            "roles": list(recipient.roles),
            "disabled": recipient.disabled,
        }
        result = await self._s.execute(
            update(recipients)
            .where(
                recipients.c.user_id == recipient.user_id,
                recipients.c.version < recipient.version,
            )
            .values(**values)
        )
        if rows_affected(result) == 0:
            inserted = await self._s.execute(
                _insert(self._s)(recipients)
                .values(user_id=recipient.user_id, **values)
                .on_conflict_do_nothing(index_elements=["user_id"])
            )
            if rows_affected(inserted) == 0:
                return False  # an equal or newer version is held
        await self._s.execute(delete(store_staff).where(store_staff.c.user_id == recipient.user_id))
        if MERCHANT_STAFF in recipient.roles and recipient.store_ids:
            await self._s.execute(
                insert(store_staff),
                [{"store_id": s, "user_id": recipient.user_id} for s in set(recipient.store_ids)],
            )
        return True

    async def store_staff(self, store_id: uuid.UUID) -> list[Recipient]:
        rows = await self._s.execute(
            select(recipients)
            .join(store_staff, store_staff.c.user_id == recipients.c.user_id)
            .where(store_staff.c.store_id == store_id, recipients.c.disabled.is_(False))
            .order_by(recipients.c.user_id)
        )
        return [
            Recipient(
                user_id=row.user_id,
                version=row.version,
                language=row.language,
                phone=row.phone,
                roles=tuple(row.roles or ()),
                store_ids=(store_id,),
                disabled=row.disabled,
            )
            for row in rows
        ]


def _device(row: Any) -> Device:
    return Device(
        token=row.token,
        user_id=row.user_id,
        platform=row.platform,
        locale=row.locale,
        created_at=row.created_at,
        updated_at=row.updated_at,
        retired_at=row.retired_at,
        retired_reason=row.retired_reason,
    )


class SqlaDeviceRepository(DeviceRepository):
    """Push tokens, keyed by the token itself."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def upsert(self, device: Device) -> Device:
        statement = _insert(self._s)(devices).values(
            token=device.token,
            user_id=device.user_id,
            platform=device.platform,
            locale=device.locale,
            created_at=device.created_at,
            updated_at=device.updated_at,
            retired_at=None,
            retired_reason=None,
        )
        await self._s.execute(
            statement.on_conflict_do_update(
                index_elements=["token"],
                set_={
                    "user_id": device.user_id,
                    "platform": device.platform,
                    "locale": device.locale,
                    "updated_at": device.updated_at,
                    "retired_at": None,
                    "retired_reason": None,
                },
            )
        )
        stored = await self.get(device.token)
        assert stored is not None
        return stored

    async def get(self, token: str) -> Device | None:
        row = (await self._s.execute(select(devices).where(devices.c.token == token))).first()
        return None if row is None else _device(row)

    async def active_for(self, user_id: uuid.UUID) -> list[Device]:
        rows = await self._s.execute(
            select(devices)
            .where(devices.c.user_id == user_id, devices.c.retired_at.is_(None))
            .order_by(devices.c.updated_at.desc(), devices.c.token)
            .limit(10)
        )
        return [_device(row) for row in rows]

    async def retire(self, token: str, *, reason: str, at: dt.datetime) -> bool:
        result = await self._s.execute(
            update(devices)
            .where(devices.c.token == token, devices.c.retired_at.is_(None))
            .values(retired_at=at, retired_reason=reason[:64], updated_at=at)
        )
        return rows_affected(result) == 1


_MESSAGE_FIELDS = [f.name for f in dataclasses.fields(Message)]


def _message(row: Any) -> Message:
    values = {name: getattr(row, name) for name in _MESSAGE_FIELDS}
    values["kind"] = Kind(values["kind"])
    values["channel"] = Channel(values["channel"])
    values["status"] = Status(values["status"])
    return Message(**values)


def _message_values(message: Message) -> dict[str, Any]:
    values = {name: getattr(message, name) for name in _MESSAGE_FIELDS}
    values["kind"] = message.kind.value
    values["channel"] = message.channel.value
    values["status"] = message.status.value
    if values["last_error"] is not None:
        values["last_error"] = str(values["last_error"])[:500]
    return values


class SqlaMessageRepository(MessageRepository):
    """Outgoing messages and their attempts/receipts."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, message: Message) -> bool:
        result = await self._s.execute(
            _insert_ignoring(self._s, messages, ["event_key", "recipient_key", "channel"]),
            _message_values(message),
        )
        return rows_affected(result) == 1

    async def get(self, message_id: uuid.UUID) -> Message | None:
        row = (await self._s.execute(select(messages).where(messages.c.id == message_id))).first()
        return None if row is None else _message(row)

    async def due(self, now: dt.datetime, *, limit: int) -> list[uuid.UUID]:
        rows = await self._s.execute(
            select(messages.c.id)
            .where(
                messages.c.status.in_([Status.PENDING.value, Status.SENDING.value]),
                messages.c.due_at <= now,
            )
            .order_by(messages.c.due_at, messages.c.id)
            .limit(limit)
        )
        return list(rows.scalars())

    async def claim(
        self, message_id: uuid.UUID, *, now: dt.datetime, lease: uuid.UUID, until: dt.datetime
    ) -> Message | None:
        row = (
            await self._s.execute(
                update(messages)
                .where(
                    messages.c.id == message_id,
                    messages.c.status.in_([Status.PENDING.value, Status.SENDING.value]),
                    messages.c.due_at <= now,
                )
                .values(status=Status.SENDING.value, lease=lease, due_at=until, updated_at=now)
                .returning(*messages.c)
            )
        ).first()
        return None if row is None else _message(row)

    async def save_claimed(self, message: Message, *, lease: uuid.UUID) -> bool:
        values = _message_values(message)
        values["lease"] = None
        result = await self._s.execute(
            update(messages)
            .where(
                messages.c.id == message.id,
                messages.c.lease == lease,
                messages.c.status == Status.SENDING.value,
            )
            .values(**{k: v for k, v in values.items() if k != "id"})
        )
        return rows_affected(result) == 1

    async def update_if(self, message: Message, *, expected: Status) -> bool:
        values = _message_values(message)
        result = await self._s.execute(
            update(messages)
            .where(messages.c.id == message.id, messages.c.status == expected.value)
            .values(**{k: v for k, v in values.items() if k != "id"})
        )
        return rows_affected(result) == 1

    async def receipt_timeouts(self, now: dt.datetime, *, limit: int) -> list[Message]:
        rows = await self._s.execute(
            select(messages)
            .where(
                messages.c.channel == Channel.PUSH.value,
                messages.c.status == Status.SENT.value,
                messages.c.critical.is_(True),
                messages.c.fallback_at.is_(None),
                messages.c.receipt_due_at <= now,
            )
            .order_by(messages.c.receipt_due_at)
            .limit(limit)
        )
        return [_message(row) for row in rows]

    async def receipt_checks_due(self, now: dt.datetime, *, limit: int) -> list[Message]:
        rows = await self._s.execute(
            select(messages)
            .where(
                messages.c.channel == Channel.SMS.value,
                messages.c.status == Status.SENT.value,
                messages.c.receipt_due_at <= now,
            )
            .order_by(messages.c.receipt_due_at)
            .limit(limit)
        )
        return [_message(row) for row in rows]

    async def count_recent(self, recipient_id: uuid.UUID, since: dt.datetime) -> int:
        value = await self._s.scalar(
            select(func.count())
            .select_from(messages)
            .where(
                messages.c.recipient_id == recipient_id,
                messages.c.channel == Channel.PUSH.value,
                messages.c.critical.is_(False),
                messages.c.status != Status.SUPPRESSED.value,
                messages.c.created_at >= since,
            )
        )
        return int(value or 0)

    async def search(
        self, *, user_id: uuid.UUID | None, order_id: uuid.UUID | None, limit: int
    ) -> list[Message]:
        conditions = []
        if user_id is not None:
            conditions.append(messages.c.recipient_id == user_id)
        if order_id is not None:
            conditions.append(messages.c.order_id == order_id)
        query = select(messages).where(*conditions)
        query = query.order_by(messages.c.created_at.desc(), messages.c.id.desc()).limit(limit)
        return [_message(row) for row in await self._s.execute(query)]

    async def add_event(self, event: MessageEvent) -> None:
        await self._s.execute(
            insert(message_events).values(
                message_id=event.message_id,
                at=event.at,
                kind=event.kind,
                provider=event.provider,
                outcome=event.outcome,
                detail=(event.detail or None) and str(event.detail)[:500],
            )
        )

    async def events_for(self, message_ids: Sequence[uuid.UUID]) -> list[MessageEvent]:
        if not message_ids:
            return []
        rows = await self._s.execute(
            select(message_events)
            .where(message_events.c.message_id.in_(list(message_ids)))
            .order_by(message_events.c.id)
        )
        return [
            MessageEvent(
                message_id=row.message_id,
                at=row.at,
                kind=row.kind,
                provider=row.provider,
                outcome=row.outcome,
                detail=row.detail,
            )
            for row in rows
        ]


def _item(row: Any) -> InboxItem:
    return InboxItem(
        id=row.id,
        user_id=row.user_id,
        event_key=row.event_key,
        kind=row.kind,
        title=row.title,
        body=row.body,
        order_id=row.order_id,
        read=row.read,
        sent_at=row.sent_at,
        version=row.version,
    )


class SqlaInboxRepository(InboxRepository):
    """Inbox items per user."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, item: InboxItem) -> bool:
        result = await self._s.execute(
            _insert_ignoring(self._s, inbox_items, ["event_key", "user_id"]),
            {
                "id": item.id,
                "user_id": item.user_id,
                "event_key": item.event_key,
                "kind": item.kind,
                "title": item.title,
                "body": item.body,
                "order_id": item.order_id,
                "read": item.read,
                "sent_at": item.sent_at,
                "version": item.version,
            },
        )
        return rows_affected(result) == 1

    async def get(self, item_id: uuid.UUID) -> InboxItem | None:
        row = (
            await self._s.execute(select(inbox_items).where(inbox_items.c.id == item_id))
        ).first()
        return None if row is None else _item(row)

    async def page(
        self,
        user_id: uuid.UUID,
        *,
        before: tuple[dt.datetime, uuid.UUID] | None,
        unread_only: bool,
        limit: int,
    ) -> list[InboxItem]:
        query = select(inbox_items).where(inbox_items.c.user_id == user_id)
        if unread_only:
            query = query.where(inbox_items.c.read.is_(False))
        if before is not None:
            at, last = before
            query = query.where(
                or_(
                    inbox_items.c.sent_at < at,
                    and_(inbox_items.c.sent_at == at, inbox_items.c.id < last),
                )
            )
        query = query.order_by(inbox_items.c.sent_at.desc(), inbox_items.c.id.desc()).limit(limit)
        return [_item(row) for row in await self._s.execute(query)]

    async def mark_read(self, item: InboxItem) -> InboxItem | None:
        result = await self._s.execute(
            update(inbox_items)
            .where(
                inbox_items.c.id == item.id,
                inbox_items.c.version == item.version,
                inbox_items.c.read.is_(False),
            )
            .values(read=True, version=item.version + 1)
        )
        if rows_affected(result) != 1:
            return None
        return dataclasses.replace(item, read=True, version=item.version + 1)


class NotificationsUoW(SqlUnitOfWork):
    """The notifications unit of work with its repositories."""

    recipients: RecipientRepository
    devices: DeviceRepository
    messages: MessageRepository
    inbox: InboxRepository

    async def __aenter__(self) -> NotificationsUoW:
        await super().__aenter__()
        self.recipients = SqlaRecipientRepository(self.session)
        self.devices = SqlaDeviceRepository(self.session)
        self.messages = SqlaMessageRepository(self.session)
        self.inbox = SqlaInboxRepository(self.session)
        return self
