"""In-process bus for embedded mode: the same envelopes and JSON, delivered after commit."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from okada.infra.bus.policy import DeadLetterSink, DeliveryPolicy, Handler
from okada.infra.bus.serde import decode, encode
from okada.infra.observability import metrics
from okada.kernel.messages import Envelope

log = structlog.get_logger(__name__)


@dataclass
class _Delivery:
    body: bytes
    done: asyncio.Future[None]


@dataclass
class _Consumer:
    name: str
    schemas: frozenset[str]
    handler: Handler
    dead_letter: DeadLetterSink | None
    queue: asyncio.Queue[_Delivery] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None


class InProcessBus:
    """One asyncio queue per consumer, carrying JSON bytes, never shared objects.

    Business rules: each consumer receives its own copy of every message whose schema it
    subscribed to; a handler that raises is retried after the policy's waits and, after the
    delivery limit, handed to the dead-letter sink. ``publish`` resolves only when every
    subscribed consumer has applied (committed) or dead-lettered the message: that is this
    bus's "broker confirm", so the outbox marks a row published only after its effects are
    durable, and a crash before that republishes it (consumers deduplicate by message id).
    """

    def __init__(self, policy: DeliveryPolicy | None = None) -> None:
        self.policy = policy or DeliveryPolicy()
        self._consumers: dict[str, _Consumer] = {}
        self._started = False

    def subscribe(
        self,
        consumer: str,
        schemas: Sequence[str],
        handler: Handler,
        *,
        dead_letter: DeadLetterSink | None = None,
    ) -> None:
        """Register a consumer; its name must be unique on this bus."""
        if consumer in self._consumers:
            raise ValueError(f"consumer {consumer} subscribed twice")
        self._consumers[consumer] = _Consumer(consumer, frozenset(schemas), handler, dead_letter)
        if self._started:
            self._spawn(self._consumers[consumer])

    async def start(self) -> None:
        """Start one worker per consumer."""
        self._started = True
        for consumer in self._consumers.values():
            if consumer.task is None:
                self._spawn(consumer)

    def _spawn(self, consumer: _Consumer) -> None:
        consumer.task = asyncio.create_task(self._work(consumer), name=f"bus:{consumer.name}")

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        """Queue each envelope for its subscribers and wait until they applied it."""
        loop = asyncio.get_running_loop()
        waits: list[asyncio.Future[None]] = []
        for envelope in envelopes:
            body = encode(envelope)
            for consumer in self._consumers.values():
                if envelope.schema in consumer.schemas:
                    done: asyncio.Future[None] = loop.create_future()
                    consumer.queue.put_nowait(_Delivery(body, done))
                    waits.append(done)
        if waits:
            await asyncio.gather(*waits)

    async def _work(self, consumer: _Consumer) -> None:
        while True:
            delivery = await consumer.queue.get()
            try:
                await self._deliver(consumer, delivery.body)
            except asyncio.CancelledError:
                if not delivery.done.done():
                    delivery.done.set_exception(ConnectionError("bus closed"))
                raise
            except Exception as exc:  # dead-letter sink failed: the publisher must retry
                if not delivery.done.done():
                    delivery.done.set_exception(exc)
            else:
                if not delivery.done.done():
                    delivery.done.set_result(None)

    async def _deliver(self, consumer: _Consumer, body: bytes) -> None:
        envelope = decode(body)  # every consumer decodes its own copy: a real JSON round trip
        attempt = 0
        while True:
            attempt += 1
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the
                # cancellation of a stopping host, which then hangs on shutdown.
                async with asyncio.timeout(self.policy.handler_timeout):
                    await consumer.handler(decode(body))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                metrics.MESSAGES_CONSUMED.labels(consumer.name, "error").inc()
                log.warning(
                    "bus.handler_failed",
                    consumer=consumer.name,
                    schema=envelope.schema,
                    message_id=str(envelope.message_id),
                    attempt=attempt,
                    error=repr(exc),
                )
                if attempt >= self.policy.delivery_limit:
                    metrics.MESSAGES_CONSUMED.labels(consumer.name, "dead_lettered").inc()
                    if consumer.dead_letter is not None:
                        await consumer.dead_letter(consumer.name, envelope, repr(exc), attempt)
                    return
                await asyncio.sleep(self.policy.delay_before(attempt))
            else:
                metrics.MESSAGES_CONSUMED.labels(consumer.name, "ok").inc()
                metrics.CONSUMER_LAG.labels(consumer.name).observe(
                    max(0.0, time.time() - envelope.occurred_at.timestamp())
                )
                return

    async def close(self) -> None:
        """Stop the workers; queued deliveries are abandoned (their outbox rows stay unsent)."""
        for consumer in self._consumers.values():
            if consumer.task is not None:
                consumer.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await consumer.task
                consumer.task = None
            while not consumer.queue.empty():
                delivery = consumer.queue.get_nowait()
                if not delivery.done.done():
                    delivery.done.set_exception(ConnectionError("bus closed"))
        self._started = False

    async def is_healthy(self) -> bool:
        """The in-process bus is up while its workers run."""
        return self._started
