"""Unit of work over one service database: state, outbox and inbox in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy import Table, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from okada.contracts.base import IntegrationEvent
from okada.infra.db.results import rows_affected
from okada.infra.observability.context import current_correlation, message_context
from okada.kernel.clock import Clock, SystemClock
from okada.kernel.messages import Envelope

_AUTOCOMMIT: dict[int, AsyncEngine] = {}
"""Autocommit views of engines (they share the engine's pool), by engine id."""


def _autocommit(engine: AsyncEngine) -> AsyncEngine:
    found = _AUTOCOMMIT.get(id(engine))
    if found is None or found.sync_engine.pool is not engine.sync_engine.pool:
        found = engine.execution_options(isolation_level="AUTOCOMMIT")
        _AUTOCOMMIT[id(engine)] = found
    return found


_CLAIMS: dict[tuple[str, int], Any] = {}
"""Inbox claim statements per (dialect, inbox table)."""


class SqlUnitOfWork:
    """One transaction on one service database.

    Business rules: integration events added with :meth:`publish` are written to the outbox
    in the same transaction as the state change and reach the bus only after commit; a
    consumer claims each message id once with :meth:`claim_message` in the transaction that
    applies it, so a redelivered message changes nothing. Leaving the block without
    ``commit()`` rolls everything back.
    """

    def __init__(
        self,
        *,
        service: str,
        sessions: async_sessionmaker[AsyncSession],
        tables: dict[str, Table],
        on_commit: Callable[[], None] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.service = service
        self._sessions = sessions
        self._tables = tables
        self._on_commit = on_commit
        self.clock = clock or SystemClock()
        self._session: AsyncSession | None = None
        self._events: list[Envelope] = []
        self._flushed = 0
        self._aggregate_ids: dict[uuid.UUID, str] = {}
        self.causation_id: str | None = None
        self._read_only = False

    @property
    def session(self) -> AsyncSession:
        """The open session (only inside ``async with``)."""
        if self._session is None:
            raise RuntimeError("unit of work used outside 'async with'")
        return self._session

    def read_only(self) -> Self:
        """Use this unit of work for reads only (call before ``async with``).

        On PostgreSQL the session then runs in autocommit: each read sees the latest
        committed data (as under READ COMMITTED, the default) and the BEGIN and ROLLBACK
        round trips are spared. ``commit`` and ``publish`` refuse; a write statement would
        be committed on its own, so read-only units of work must not write. SQLite keeps its
        normal transaction.
        """
        self._read_only = True
        return self

    async def __aenter__(self) -> Self:
        bind = self._sessions.kw.get("bind")
        if self._read_only and bind is not None and bind.dialect.name == "postgresql":
            self._session = self._sessions(bind=_autocommit(bind))
        else:
            self._session = self._sessions()
        self._events = []
        self._flushed = 0
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.rollback()
            await session.close()

    def publish(self, event: IntegrationEvent, *, aggregate_id: str | None = None) -> Envelope:
        """Queue an integration event for the outbox of this transaction."""
        if self._read_only:
            raise RuntimeError("read-only unit of work: nothing may be published")
        correlation_id, traceparent = current_correlation()
        envelope = Envelope(
            schema=event.schema_name,
            payload=event.to_payload(),
            producer=self.service,
            occurred_at=self.clock.now(),
            correlation_id=correlation_id,
            causation_id=self.causation_id,
            traceparent=traceparent,
        )
        self._events.append(envelope)
        self._aggregate_ids[envelope.message_id] = aggregate_id or str(event.entity_id)
        return envelope

    async def claim_message(self, consumer: str, envelope: Envelope) -> bool:
        """Record that ``consumer`` applies this message; False if it already did.

        The insert happens in this transaction: if the handler fails, the claim rolls back
        with it and the redelivery is applied normally.
        """
        inbox = self._tables["inbox"]
        # One statement instead of select + savepoint + insert: ON CONFLICT DO NOTHING exists
        # on both dialects, and on PostgreSQL a concurrent claim of the same id waits for the
        # other transaction and then inserts nothing. Built once per dialect and executed
        # with parameters (one claim per consumed message: a hot path).
        dialect = self.session.get_bind().dialect.name
        statement = _CLAIMS.get((dialect, id(inbox)))
        if statement is None:
            insert_into = pg_insert if dialect == "postgresql" else sqlite_insert
            statement = insert_into(inbox).on_conflict_do_nothing(
                index_elements=["consumer", "message_id"])
            _CLAIMS[(dialect, id(inbox))] = statement
        result = await self.session.execute(statement, {
            "consumer": consumer,
            "message_id": envelope.message_id,
            "schema": envelope.schema,
            "processed_at": self.clock.now(),
        })
        if rows_affected(result) != 1:
            return False
        self.causation_id = str(envelope.message_id)
        return True

    async def flush_events(self) -> None:
        """Write the queued events to the outbox now (still uncommitted).

        ``commit`` calls this; calling it earlier only draws the outbox sequence numbers
        sooner, which tests use to commit a lower sequence after a higher one.
        """
        if not self._events:
            return
        outbox = self._tables["outbox"]
        now = self.clock.now()
        await self.session.execute(
            insert(outbox),
            [
                {
                    "message_id": e.message_id,
                    "schema": e.schema,
                    "aggregate_id": self._aggregate_ids.get(e.message_id),
                    "envelope": e.to_json_dict(),
                    "created_at": now,
                    "attempts": 0,
                    "next_attempt_at": now,
                }
                for e in self._events
            ],
        )
        self._flushed += len(self._events)
        self._events = []

    async def commit(self) -> None:
        """Write queued events to the outbox and commit everything atomically."""
        if self._read_only:
            raise RuntimeError("read-only unit of work: nothing to commit")
        await self.flush_events()
        await self.session.commit()
        had_events, self._flushed = self._flushed > 0, 0
        if had_events and self._on_commit is not None:
            self._on_commit()

    async def rollback(self) -> None:
        """Discard the transaction and the queued events."""
        self._events = []
        self._flushed = 0
        await self.session.rollback()


UowFactory = Callable[[], SqlUnitOfWork]
U = TypeVar("U", bound=SqlUnitOfWork)


def idempotent_consumer(
    consumer: str,
    uow_factory: Callable[[], U],
    handler: Callable[[IntegrationEvent, U], Awaitable[None]],
    event_types: dict[str, type[IntegrationEvent]],
) -> Callable[[Envelope], Awaitable[None]]:
    """Wrap an application event handler into a bus handler that applies each message once.

    The handler runs in a fresh unit of work that has already claimed the message id; it
    must not commit itself. Unknown schemas are acknowledged and ignored.
    """

    async def handle(envelope: Envelope) -> None:
        event_cls = event_types.get(envelope.schema)
        if event_cls is None:
            return
        event = event_cls.parse_payload(envelope.payload)
        # Carry the producer's correlation into this consumer's logs and into the events it
        # publishes, so one customer action can be followed across services.
        with message_context(envelope):
            async with uow_factory() as uow:
                if not await uow.claim_message(consumer, envelope):
                    return
                await handler(event, uow)
                await uow.commit()

    return handle
