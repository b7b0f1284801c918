"""Tables every service database has: outbox, inbox, idempotency keys, dead letters."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text, Uuid

from okada.infra.db.types import AutoIncrementBigInt, PortableJSON, UtcDateTime


def add_platform_tables(metadata: MetaData) -> dict[str, Table]:
    """Add the platform tables to a service's metadata and return them by name.

    - ``outbox``: integration events written in the same transaction as the state change.
      ``seq`` orders publication; rows are claimed by ``published_at IS NULL``, never by "id
      greater than the last one seen", because a lower ``seq`` can commit after a higher one.
    - ``inbox``: (consumer, message id) of every message a consumer applied, inserted in the
      consumer's own transaction, so a redelivery is recognised and skipped.
    - ``idempotency_keys``: the stored first response of a POST with ``Idempotency-Key``.
    - ``dead_letters``: messages a consumer gave up on, kept for inspection and replay.
    """
    outbox = Table(
        "outbox",
        metadata,
        Column("seq", AutoIncrementBigInt, primary_key=True, autoincrement=True),
        Column("message_id", Uuid, nullable=False, unique=True),
        Column("schema", String(200), nullable=False),
        Column("aggregate_id", String(64), nullable=True),
        Column("envelope", PortableJSON, nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("published_at", UtcDateTime, nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("next_attempt_at", UtcDateTime, nullable=False),
        Column("last_error", Text, nullable=True),
    )
    Index("ix_outbox_unpublished", outbox.c.published_at, outbox.c.seq)
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("message_id", Uuid, primary_key=True),
        Column("schema", String(200), nullable=False),
        Column("processed_at", UtcDateTime, nullable=False),
    )
    idempotency = Table(
        "idempotency_keys",
        metadata,
        Column("scope", String(100), primary_key=True),
        Column("key", String(255), primary_key=True),
        Column("fingerprint", String(128), nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("locked_at", UtcDateTime, nullable=True),
        Column("response_status", Integer, nullable=True),
        Column("response_headers", PortableJSON, nullable=True),
        Column("response_body", Text, nullable=True),
    )
    dead_letters = Table(
        "dead_letters",
        metadata,
        Column("id", AutoIncrementBigInt, primary_key=True, autoincrement=True),
        Column("consumer", String(100), nullable=False),
        Column("message_id", Uuid, nullable=False),
        Column("schema", String(200), nullable=False),
        Column("envelope", PortableJSON, nullable=False),
        Column("error", Text, nullable=True),
        Column("deliveries", Integer, nullable=False),
        Column("dead_at", UtcDateTime, nullable=False),
    )
    return {
        "outbox": outbox,
        "inbox": inbox,
        "idempotency_keys": idempotency,
        "dead_letters": dead_letters,
    }
