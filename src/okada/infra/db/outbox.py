"""The outbox relay: publishes committed outbox rows to the bus, in order, at least once."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from okada.infra.aio import wait_event
from okada.infra.observability import metrics
from okada.kernel.clock import Clock, SystemClock
from okada.kernel.messages import Envelope
from okada.kernel.ports import MessageBus

log = structlog.get_logger(__name__)

_BACKOFF_SECONDS = (0.2, 1, 2, 5, 10, 30)


class OutboxRelay:
    """Moves outbox rows to the bus after they commit.

    Business rules: a row is published only after its transaction committed (the relay reads
    committed rows), rows are claimed by their unpublished flag so a late-committing lower
    sequence number is never skipped, and a row is marked published only after the bus
    confirmed it, so a crash in between publishes it again (consumers deduplicate by message
    id). On PostgreSQL several relays may run: ``FOR UPDATE SKIP LOCKED`` keeps them from
    claiming the same rows.
    """

    def __init__(
        self,
        *,
        service: str,
        engine: AsyncEngine,
        outbox: Table,
        bus: MessageBus,
        clock: Clock | None = None,
        batch_size: int = 200,
        poll_interval: float = 1.0,
        min_pass_interval: float = 0.04,
    ) -> None:
        self.service = service
        self._engine = engine
        self._outbox = outbox
        self._bus = bus
        self._clock = clock or SystemClock()
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._min_pass_interval = min_pass_interval
        self._wakeup = asyncio.Event()
        self._skip_locked = engine.dialect.name == "postgresql"
        self._backlog_reported_at = 0.0

    def wake(self) -> None:
        """Tell the relay new rows were committed (called after every commit with events)."""
        self._wakeup.set()

    async def run(self) -> None:
        """Publish forever; stops when cancelled.

        Passes start at most every ``min_pass_interval`` seconds: a commit on a quiet service
        is published at once, while under load the commits of that interval go out in one
        pass (one claim query, pipelined confirms, one update) instead of one pass each. The
        price is at most that interval of extra event latency, only when busy.
        """
        loop = asyncio.get_running_loop()
        last_pass = float("-inf")
        while True:
            pause = self._min_pass_interval - (loop.time() - last_pass)
            if pause > 0:
                await asyncio.sleep(pause)  # batching pace, not a business wait
            last_pass = loop.time()
            # Clear before fetching, not after: a commit that lands while a batch is being
            # published must still wake the next fetch instead of waiting for the poll.
            self._wakeup.clear()
            try:
                published = await self.publish_pending()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the loop must survive a dead broker or database
                log.warning("outbox.relay_failed", service=self.service, error=str(exc))
                published = 0
            if published >= self._batch_size:
                continue
            await self._report_backlog()
            await wait_event(self._wakeup, self._poll_interval)

    async def _report_backlog(self) -> None:
        now = self._clock.now()
        if now.timestamp() - self._backlog_reported_at < 5.0:
            return
        self._backlog_reported_at = now.timestamp()
        try:
            metrics.OUTBOX_BACKLOG.labels(self.service).set(await self.backlog())
        except Exception as exc:  # a metric must never stop the relay
            log.debug("outbox.backlog_unknown", service=self.service, error=str(exc))

    async def publish_pending(self) -> int:
        """Publish one batch of due rows; return how many were published."""
        table = self._outbox
        query = (
            select(table.c.seq, table.c.envelope, table.c.attempts)
            .where(table.c.published_at.is_(None), table.c.next_attempt_at <= self._clock.now())
            .order_by(table.c.seq)
            .limit(self._batch_size)
        )
        async with self._engine.connect() as conn:
            if self._skip_locked:
                # PostgreSQL: keep the claimed rows locked while publishing so a parallel
                # relay skips them instead of publishing them twice.
                async with conn.begin():
                    rows = (await conn.execute(query.with_for_update(skip_locked=True))).all()
                    if not rows:
                        return 0
                    error = await self._publish(rows)
                    return await self._mark(conn, rows, error)
            # SQLite: one relay per database file; read, then publish outside any transaction
            # so the file's single write lock is not held while the bus works.
            async with conn.begin():
                rows = (await conn.execute(query)).all()
            if not rows:
                return 0
            error = await self._publish(rows)
            async with conn.begin():
                return await self._mark(conn, rows, error)

    async def _publish(self, rows: Sequence[Any]) -> Exception | None:
        try:
            await self._bus.publish([Envelope.from_json_dict(row.envelope) for row in rows])
        except Exception as exc:  # reported and retried with backoff by _mark
            return exc
        return None

    async def _mark(self, conn: Any, rows: Sequence[Any], error: Exception | None) -> int:
        table = self._outbox
        seqs = [row.seq for row in rows]
        if error is not None:
            attempts = max(row.attempts for row in rows) + 1
            delay = _BACKOFF_SECONDS[min(attempts - 1, len(_BACKOFF_SECONDS) - 1)]
            await conn.execute(
                update(table)
                .where(table.c.seq.in_(seqs))
                .values(
                    attempts=table.c.attempts + 1,
                    next_attempt_at=self._clock.now() + dt.timedelta(seconds=delay),
                    last_error=str(error)[:500],
                )
            )
            log.warning(
                "outbox.publish_failed", service=self.service, count=len(seqs), error=str(error)
            )
            metrics.OUTBOX_PUBLISH_FAILURES.labels(self.service).inc()
            return 0
        await conn.execute(
            update(table).where(table.c.seq.in_(seqs)).values(published_at=self._clock.now())
        )
        metrics.OUTBOX_PUBLISHED.labels(self.service).inc(len(seqs))
        return len(seqs)

    async def backlog(self) -> int:
        """Return how many rows wait to be published."""
        async with self._engine.connect() as conn:
            count = await conn.scalar(
                select(func.count())
                .select_from(self._outbox)
                .where(self._outbox.c.published_at.is_(None))
            )
        return int(count or 0)
