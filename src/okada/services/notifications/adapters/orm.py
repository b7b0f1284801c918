"""Notifications tables (SQLAlchemy Core, portable across SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)

from okada.infra.db.platform_tables import add_platform_tables
from okada.infra.db.types import UtcDateTime, new_metadata

metadata = new_metadata()
platform_tables = add_platform_tables(metadata)

recipients = Table(
    "recipients",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("language", String(8), nullable=False),
    Column("phone", String(20), nullable=True),
    Column("roles", JSON, nullable=False),
    Column("disabled", Boolean, nullable=False),
)

store_staff = Table(
    "store_staff",
    metadata,
    Column("store_id", Uuid, primary_key=True),
    Column("user_id", Uuid, primary_key=True),
)
Index("ix_store_staff_user", store_staff.c.user_id)

devices = Table(
    "devices",
    metadata,
    Column("token", String(512), primary_key=True),
    Column("user_id", Uuid, nullable=False),
    Column("platform", String(16), nullable=False),
    Column("locale", String(16), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("retired_at", UtcDateTime, nullable=True),
    Column("retired_reason", String(64), nullable=True),
)
Index("ix_devices_user", devices.c.user_id)

messages = Table(
    "messages",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("event_key", String(200), nullable=False),
    Column("recipient_key", String(80), nullable=False),
    Column("recipient_id", Uuid, nullable=True),
    Column("phone", String(20), nullable=True),
    Column("kind", String(32), nullable=False),
    Column("critical", Boolean, nullable=False),
    Column("channel", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("language", String(8), nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("sms_text", Text, nullable=True),
    Column("order_id", Uuid, nullable=True),
    Column("due_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("provider", String(32), nullable=True),
    Column("provider_message_id", String(200), nullable=True),
    Column("segments", Integer, nullable=True),
    Column("encoding", String(8), nullable=True),
    Column("sent_at", UtcDateTime, nullable=True),
    Column("delivered_at", UtcDateTime, nullable=True),
    Column("receipt_due_at", UtcDateTime, nullable=True),
    Column("fallback_at", UtcDateTime, nullable=True),
    Column("receipt_checks", Integer, nullable=False),
    Column("last_error", String(500), nullable=True),
    Column("lease", Uuid, nullable=True),
    # Deduplication: one message per event, recipient and channel, however often the
    # event arrives.
    UniqueConstraint("event_key", "recipient_key", "channel", name="uq_messages_event"),
)
# The dispatcher's scans: due rows, receipt deadlines; operations' searches.
Index("ix_messages_status_due", messages.c.status, messages.c.due_at)
Index("ix_messages_receipt", messages.c.channel, messages.c.status, messages.c.receipt_due_at)
Index("ix_messages_recipient", messages.c.recipient_id, messages.c.created_at)
Index("ix_messages_order", messages.c.order_id)

message_events = Table(
    "message_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("message_id", Uuid, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("provider", String(32), nullable=True),
    Column("outcome", String(32), nullable=False),
    Column("detail", String(500), nullable=True),
)
Index("ix_message_events_message", message_events.c.message_id, message_events.c.id)

inbox_items = Table(
    "inbox_items",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, nullable=False),
    Column("event_key", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("order_id", Uuid, nullable=True),
    Column("read", Boolean, nullable=False),
    Column("sent_at", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    UniqueConstraint("event_key", "user_id", name="uq_inbox_items_event"),
)
Index("ix_inbox_items_user_sent", inbox_items.c.user_id, inbox_items.c.sent_at, inbox_items.c.id)
