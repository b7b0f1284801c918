"""RabbitMQ bus for distributed mode: the same envelopes and JSON as the in-process bus.

Topology, for exchange ``E`` (used exactly as given) and consumer ``C`` (its queue is named
``P + C``, where ``P`` is the constructor's ``queue_prefix``):

* ``E``: durable topic exchange; the routing key is ``envelope.schema``. Its alternate exchange
  ``E.unrouted`` (fanout) feeds the durable queue ``E.unrouted``.
* ``P+C``: the consumer's quorum work queue, bound to ``E`` once per schema, with
  ``x-delivery-limit`` = ``policy.delivery_limit``, dead-letter exchange ``E.dlx`` with routing
  key ``P+C`` and, on RabbitMQ 3.10+, ``x-dead-letter-strategy: at-least-once`` (which needs
  ``x-overflow: reject-publish``) because the default strategy republishes without confirms.
* ``P+C.retry.<ms>ms``: one wait queue per distinct delay of ``policy.retry_tiers``, with
  queue-level ``x-message-ttl``; expired messages dead-letter through the default exchange to
  ``P+C`` only, never to the other consumers of the same schema.
* ``P+C.dlq``: the consumer's dead-letter queue, bound to ``E.dlx`` with key ``P+C``.

Retries: a handler that raises (or exceeds ``policy.handler_timeout``) gets its message copied,
with publisher confirms, to the wait queue of its delay tier, and only then is the original
acked. Wait queues have one TTL each because per-message TTLs only expire at the queue head,
so mixed delays would block each other. Requeueing in place was rejected: it redelivers at
once (a hot loop) and keeps the poison message at the head of the consumer's attention, while
a wait queue lets the other messages flow during the delay. Failed deliveries are counted in
the ``okada-failures`` header of the copy (our own header, because brokers differ in how they
treat ``x-death`` on a republished message) plus the quorum queue's ``x-delivery-count``
(redeliveries after a crash or a lost channel). At ``policy.delivery_limit`` failed deliveries
the message is rejected without requeue and the queue dead-letters it to ``P+C.dlq``. The
broker's ``x-delivery-limit`` is the backstop for consumers that die before they can count.
A body that does not decode goes to the DLQ at once: no retry can fix it.

Unroutable messages: publishes use ``mandatory`` on a channel with ``on_return_raises`` so a
message nobody receives raises and its outbox row stays unpublished. A schema that no consumer
has subscribed to yet (or ever) would then block the outbox for ever, so ``E`` has the
alternate exchange ``E.unrouted`` whose queue keeps such messages for
:data:`UNROUTED_TTL_SECONDS` (ops can replay them to a consumer that subscribed late).
``mandatory`` therefore fails only when the topology is broken, e.g. the catch-all queue was
deleted. Consumer queues are declared and bound by :meth:`RabbitMqBus.start` for every consumer
subscribed on this bus; they are durable, so events published while a consumer service is down
wait in its queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

import aio_pika
import structlog
from aio_pika import DeliveryMode, ExchangeType, Message
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
    HeadersType,
)
from pamqp.common import FieldValue
from yarl import URL

from okada.infra.bus.policy import DeadLetterSink, DeliveryPolicy, Handler
from okada.infra.bus.serde import decode, encode
from okada.infra.observability import metrics
from okada.kernel.messages import Envelope

log = structlog.get_logger(__name__)

__all__ = [
    "UNROUTED_TTL_SECONDS",
    "BusPublishError",
    "RabbitMqBus",
    "envelope_message",
    "make_message",
]

CONTENT_TYPE = "application/json"
FAILURES_HEADER = "okada-failures"
LAST_ERROR_HEADER = "okada-last-error"
UNROUTED_TTL_SECONDS = 7 * 24 * 3600
"""How long the catch-all queue keeps messages that no consumer was bound for."""

# Headers the broker owns: a copy sent to a wait queue must start a fresh broker history.
_BROKER_HEADERS = frozenset(
    {
        "x-delivery-count",
        "x-death",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
    }
)


class BusPublishError(RuntimeError):
    """Some envelopes of a batch were not confirmed by the broker (nack, return or timeout)."""

    def __init__(self, failed: int, total: int, first: BaseException) -> None:
        super().__init__(f"{failed} of {total} messages not confirmed: {first!r}")
        self.failed = failed
        self.total = total


def make_message(
    body: bytes,
    *,
    message_id: str,
    schema: str,
    timestamp: dt.datetime,
    correlation_id: str | None,
    headers: Mapping[str, FieldValue],
) -> Message:
    """Build an AMQP message; every message this module sends is built here.

    aio-pika's ``Message`` defaults to ``NOT_PERSISTENT``, which the broker drops on recovery
    even from a durable queue, so this one factory sets ``PERSISTENT``.

    Args:
        body: The encoded envelope.
        message_id: The envelope's id (the consumers' deduplication key).
        schema: The envelope's schema, carried as the AMQP ``type``.
        timestamp: When the event occurred.
        correlation_id: The envelope's correlation id, if any.
        headers: Application headers (``traceparent``, ``correlation_id``, retry counters).

    Returns:
        A persistent JSON message.
    """
    return Message(
        body,
        delivery_mode=DeliveryMode.PERSISTENT,
        content_type=CONTENT_TYPE,
        message_id=message_id,
        type=schema,
        timestamp=timestamp,
        correlation_id=correlation_id,
        headers=dict(headers),
    )


def envelope_message(envelope: Envelope) -> Message:
    """Return the AMQP message for an envelope.

    Args:
        envelope: The envelope to send.

    Returns:
        The message, built by :func:`make_message`.
    """
    headers: dict[str, FieldValue] = {}
    if envelope.traceparent is not None:
        headers["traceparent"] = envelope.traceparent
    if envelope.correlation_id is not None:
        headers["correlation_id"] = envelope.correlation_id
    return make_message(
        encode(envelope),
        message_id=str(envelope.message_id),
        schema=envelope.schema,
        timestamp=envelope.occurred_at,
        correlation_id=envelope.correlation_id,
        headers=headers,
    )


def _failures_before(message: AbstractIncomingMessage) -> int:
    """Count the failed deliveries of this message before the current one."""
    headers = message.headers or {}
    ours = headers.get(FAILURES_HEADER)
    broker = headers.get("x-delivery-count")
    return (ours if isinstance(ours, int) else 0) + (broker if isinstance(broker, int) else 0)


def _parse_version(raw: object) -> tuple[int, ...]:
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    parts: list[int] = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


@dataclass
class _Subscription:
    name: str
    queue_name: str
    schemas: tuple[str, ...]
    handler: Handler
    channel: AbstractChannel | None = None
    queue: AbstractQueue | None = None
    consumer_tag: str | None = None
    wait_queues: dict[float, str] = field(default_factory=dict)


class RabbitMqBus:
    """The message bus over RabbitMQ: quorum queues, confirms, wait-queue retries and DLQs.

    Business rules: each consumer receives its own copy of every message whose schema it
    subscribed to, at least once; ``publish`` returns only when the broker confirmed every
    message as routed and stored, so the outbox marks a row published only then; a failing
    handler is retried after the policy's waits and, after the delivery limit, its message is
    parked in the consumer's dead-letter queue for inspection and replay.
    """

    def __init__(
        self,
        url: str,
        *,
        exchange: str = "okada.events",
        policy: DeliveryPolicy | None = None,
        prefetch: int = 50,
        queue_prefix: str = "",
        heartbeat: int = 30,
        timeout: float = 10.0,
    ) -> None:
        """Configure the bus; nothing connects before :meth:`start`.

        Args:
            url: The AMQP URL. A ``heartbeat`` query parameter in it wins over ``heartbeat``.
            exchange: The work exchange name, used as given; ``.dlx`` and ``.unrouted``
                exchanges are derived from it.
            policy: Retry tiers, delivery limit and handler timeout.
            prefetch: Unacked messages per consumer (bounded: never 0).
            queue_prefix: Put in front of every consumer queue name (isolates tests).
            heartbeat: AMQP heartbeat in seconds.
            timeout: Seconds allowed for each broker call (connect, declare, confirm, close).
        """
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1: 0 means unlimited")
        self.policy = policy or DeliveryPolicy()
        self.exchange_name = exchange
        self.dlx_name = f"{exchange}.dlx"
        self.unrouted_name = f"{exchange}.unrouted"
        self.queue_prefix = queue_prefix
        self._url = url
        self._prefetch = prefetch
        self._heartbeat = heartbeat
        self._timeout = timeout
        self._subscriptions: dict[str, _Subscription] = {}
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._broker_version: tuple[int, ...] = ()
        self._inflight: set[asyncio.Task[object]] = set()
        self._reopening = asyncio.Lock()

    # -- names --------------------------------------------------------------------------

    def queue_name(self, consumer: str) -> str:
        """Return the work queue name of ``consumer``."""
        return f"{self.queue_prefix}{consumer}"

    def dlq_name(self, consumer: str) -> str:
        """Return the dead-letter queue name of ``consumer``."""
        return f"{self.queue_name(consumer)}.dlq"

    def wait_queue_names(self, consumer: str) -> list[str]:
        """Return the retry wait queue names of ``consumer``, shortest delay first."""
        return [self._wait_queue_name(consumer, d) for d in sorted(set(self.policy.retry_tiers))]

    def _wait_queue_name(self, consumer: str, delay: float) -> str:
        return f"{self.queue_name(consumer)}.retry.{round(delay * 1000)}ms"

    @property
    def broker_version(self) -> tuple[int, ...]:
        """The broker version reported at connect, e.g. ``(3, 10, 8)``; empty before start."""
        return self._broker_version

    @property
    def _modern(self) -> bool:
        # 3.10 brought quorum-queue message TTL and at-least-once dead-lettering.
        return self._broker_version >= (3, 10)

    # -- MessageBus ---------------------------------------------------------------------

    def subscribe(
        self,
        consumer: str,
        schemas: Sequence[str],
        handler: Handler,
        *,
        dead_letter: DeadLetterSink | None = None,
    ) -> None:
        """Register consumer ``consumer`` for ``schemas``; call before :meth:`start`.

        ``dead_letter`` is ignored: the broker parks given-up messages in ``<consumer>.dlq``.
        """
        del dead_letter  # the DLQ is this transport's dead-letter sink
        if consumer in self._subscriptions:
            raise ValueError(f"consumer {consumer} subscribed twice")
        if self._connection is not None:
            raise RuntimeError("subscribe before start: queues are declared at start")
        self._subscriptions[consumer] = _Subscription(
            name=consumer,
            queue_name=self.queue_name(consumer),
            schemas=tuple(dict.fromkeys(schemas)),
            handler=handler,
        )

    async def start(self) -> None:
        """Connect, declare the topology for every subscribed consumer and start consuming."""
        if self._connection is not None:
            return
        url = URL(self._url)
        if "heartbeat" not in url.query:
            url = url.update_query(heartbeat=self._heartbeat)
        connection = await aio_pika.connect_robust(
            url,
            timeout=self._timeout,
            client_properties={"connection_name": f"okada:{self.exchange_name}"},
        )
        self._connection = connection
        try:
            transport = connection.transport
            if transport is not None:
                self._broker_version = _parse_version(
                    transport.connection.server_properties.get("version", "")
                )
            channel = connection.channel(publisher_confirms=True, on_return_raises=True)
            await channel.initialize(timeout=self._timeout)
            self._publish_channel = channel
            await self._declare_exchanges(channel)
            for subscription in self._subscriptions.values():
                await self._declare_consumer(connection, subscription)
            for subscription in self._subscriptions.values():
                assert subscription.queue is not None
                subscription.consumer_tag = await subscription.queue.consume(
                    partial(self._on_message, subscription), no_ack=False, timeout=self._timeout
                )
        except BaseException:
            await self.close()
            raise
        log.info(
            "bus.started",
            exchange=self.exchange_name,
            broker=".".join(map(str, self._broker_version)),
            consumers=sorted(self._subscriptions),
        )

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        """Publish a batch concurrently; return when the broker confirmed each as routed.

        Raises:
            BusPublishError: A message was nacked, returned as unroutable or not confirmed in
                time; the caller must publish the batch again (consumers deduplicate).
            ConnectionError: The bus is not started.
        """
        if not envelopes:
            return
        await self._open_publish_channel()
        exchange = self._exchange
        if exchange is None:
            raise ConnectionError("RabbitMQ bus not started")

        async def one(envelope: Envelope) -> None:
            await exchange.publish(
                envelope_message(envelope),
                routing_key=envelope.schema,
                mandatory=True,
                timeout=self._timeout,
            )

        results = await asyncio.gather(*(one(e) for e in envelopes), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise BusPublishError(len(errors), len(envelopes), errors[0]) from errors[0]

    async def _open_publish_channel(self) -> AbstractChannel:
        """The publish channel, reopened (with the exchanges) if it died under a live connection.

        aio-pika's robust connection restores its channels after a reconnect, but a channel the
        broker closed while the connection stayed up, or whose restore failed while the broker
        was starting, stays closed: every publish would fail with ChannelInvalidStateError until
        the process restarts (seen after a RabbitMQ restart under load). The outbox keeps the
        events meanwhile, so reopening the channel here is all the recovery needed.

        Raises:
            ConnectionError: The bus is not started, or its connection is reconnecting (the
                caller retries later; the robust connection restores the channel itself).
        """
        channel, connection = self._publish_channel, self._connection
        if channel is None or connection is None:
            raise ConnectionError("RabbitMQ bus not started")
        if not channel.is_closed:
            return channel
        async with self._reopening:
            current = self._publish_channel
            if current is not None and current is not channel and not current.is_closed:
                return current  # another publisher reopened it while this one waited
            if connection.is_closed or not connection.connected.is_set():
                raise ConnectionError("RabbitMQ connection is reconnecting")
            fresh = connection.channel(publisher_confirms=True, on_return_raises=True)
            await fresh.initialize(timeout=self._timeout)
            await self._declare_exchanges(fresh)  # also points self._exchange at it
            self._publish_channel = fresh
            log.warning("bus.publish_channel_reopened", exchange=self.exchange_name)
            return fresh

    async def close(self) -> None:
        """Stop consuming, let in-flight handlers finish (up to the timeout), disconnect.

        Messages still unacked when the channel closes are requeued by the broker.
        """
        for subscription in self._subscriptions.values():
            queue, tag = subscription.queue, subscription.consumer_tag
            subscription.consumer_tag = None
            if queue is not None and tag is not None:
                with contextlib.suppress(Exception):
                    await queue.cancel(tag, timeout=self._timeout)
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=self._timeout)
        connection = self._connection
        self._connection = None
        self._publish_channel = None
        self._exchange = None
        for subscription in self._subscriptions.values():
            subscription.channel = None
            subscription.queue = None
        if connection is not None:
            try:
                await asyncio.wait_for(connection.close(), timeout=self._timeout)
            except Exception as exc:  # closing must not fail shutdown
                log.warning("bus.close_failed", error=repr(exc))

    async def is_healthy(self) -> bool:
        """Return whether the connection is open (not closed and not reconnecting)."""
        connection = self._connection
        return connection is not None and not connection.is_closed and connection.connected.is_set()

    # -- topology -----------------------------------------------------------------------

    @staticmethod
    def _quorum(extra: Mapping[str, FieldValue]) -> dict[str, FieldValue]:
        return {"x-queue-type": "quorum", **extra}

    def _dead_letter_arguments(self, exchange: str, routing_key: str) -> dict[str, FieldValue]:
        arguments: dict[str, FieldValue] = {
            "x-dead-letter-exchange": exchange,
            "x-dead-letter-routing-key": routing_key,
        }
        if self._modern:
            # The default strategy republishes without confirms and can lose the message.
            arguments["x-dead-letter-strategy"] = "at-least-once"
            arguments["x-overflow"] = "reject-publish"
        return arguments

    async def _declare_exchanges(self, channel: AbstractChannel) -> None:
        t = self._timeout
        unrouted = await channel.declare_exchange(
            self.unrouted_name, ExchangeType.FANOUT, durable=True, timeout=t
        )
        catch_all_args: dict[str, FieldValue] = {"x-message-ttl": UNROUTED_TTL_SECONDS * 1000}
        catch_all = await channel.declare_queue(
            self.unrouted_name,
            durable=True,
            arguments=self._quorum(catch_all_args) if self._modern else catch_all_args,
            timeout=t,
        )
        await catch_all.bind(unrouted, routing_key="", timeout=t)
        self._exchange = await channel.declare_exchange(
            self.exchange_name,
            ExchangeType.TOPIC,
            durable=True,
            arguments={"alternate-exchange": self.unrouted_name},
            timeout=t,
        )
        await channel.declare_exchange(self.dlx_name, ExchangeType.DIRECT, durable=True, timeout=t)

    async def _declare_consumer(
        self, connection: AbstractRobustConnection, subscription: _Subscription
    ) -> None:
        t = self._timeout
        # One channel per consumer: its prefetch bounds only this consumer, and the robust
        # connection restores its queue, bindings and consumer after a reconnect.
        channel = connection.channel(publisher_confirms=False)
        await channel.initialize(timeout=t)
        await channel.set_qos(prefetch_count=self._prefetch, timeout=t)
        subscription.channel = channel

        dlq = await channel.declare_queue(
            self.dlq_name(subscription.name), durable=True, arguments=self._quorum({}), timeout=t
        )
        await dlq.bind(self.dlx_name, routing_key=subscription.queue_name, timeout=t)

        wait_type: dict[str, FieldValue] = self._quorum({}) if self._modern else {}
        for delay in sorted(set(self.policy.retry_tiers)):
            name = self._wait_queue_name(subscription.name, delay)
            arguments = {
                **wait_type,
                "x-message-ttl": max(1, round(delay * 1000)),
                # "" is the default exchange: the routing key names the work queue directly.
                **self._dead_letter_arguments("", subscription.queue_name),
            }
            await channel.declare_queue(name, durable=True, arguments=arguments, timeout=t)
            subscription.wait_queues[delay] = name

        queue = await channel.declare_queue(
            subscription.queue_name,
            durable=True,
            arguments=self._quorum(
                {
                    "x-delivery-limit": self.policy.delivery_limit,
                    **self._dead_letter_arguments(self.dlx_name, subscription.queue_name),
                }
            ),
            timeout=t,
        )
        for schema in subscription.schemas:
            await queue.bind(self.exchange_name, routing_key=schema, timeout=t)
        subscription.queue = queue

    # -- consuming ----------------------------------------------------------------------

    async def _on_message(
        self, subscription: _Subscription, message: AbstractIncomingMessage
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            await self._handle(subscription, message)
        finally:
            if task is not None:
                self._inflight.discard(task)

    async def _handle(self, subscription: _Subscription, message: AbstractIncomingMessage) -> None:
        name = subscription.name
        try:
            envelope = decode(message.body)
        except Exception as exc:
            # No retry can fix a malformed body: straight to the DLQ.
            metrics.MESSAGES_CONSUMED.labels(name, "malformed").inc()
            log.error(
                "bus.malformed_message",
                consumer=name,
                message_id=message.message_id,
                error=repr(exc),
            )
            await self._settle(message.reject(requeue=False), name)
            return

        attempt = _failures_before(message) + 1
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
            async with asyncio.timeout(self.policy.handler_timeout):
                await subscription.handler(envelope)
        except asyncio.CancelledError:
            raise  # unacked: the broker requeues it when the channel closes
        except Exception as exc:
            metrics.MESSAGES_CONSUMED.labels(name, "error").inc()
            log.warning(
                "bus.handler_failed",
                consumer=name,
                schema=envelope.schema,
                message_id=str(envelope.message_id),
                attempt=attempt,
                error=repr(exc),
            )
            await self._retry_or_dead_letter(subscription, message, attempt, exc)
            return

        await self._settle(message.ack(), name)
        metrics.MESSAGES_CONSUMED.labels(name, "ok").inc()
        metrics.CONSUMER_LAG.labels(name).observe(
            max(0.0, time.time() - envelope.occurred_at.timestamp())
        )

    async def _retry_or_dead_letter(
        self,
        subscription: _Subscription,
        message: AbstractIncomingMessage,
        attempt: int,
        error: Exception,
    ) -> None:
        name = subscription.name
        if attempt >= self.policy.delivery_limit:
            metrics.MESSAGES_CONSUMED.labels(name, "dead_lettered").inc()
            log.error(
                "bus.dead_lettered",
                consumer=name,
                message_id=message.message_id,
                deliveries=attempt,
                error=repr(error),
            )
            await self._settle(message.reject(requeue=False), name)
            return

        delay = self.policy.delay_before(attempt)
        headers: HeadersType = {
            k: v for k, v in (message.headers or {}).items() if k not in _BROKER_HEADERS
        }
        headers[FAILURES_HEADER] = attempt
        headers[LAST_ERROR_HEADER] = repr(error)[:500]
        copy = make_message(
            message.body,
            message_id=message.message_id or "",
            schema=message.type or "",
            timestamp=message.timestamp or dt.datetime.now(dt.UTC),
            correlation_id=message.correlation_id,
            headers=headers,
        )
        try:
            channel = await self._open_publish_channel()
            await channel.default_exchange.publish(
                copy,
                routing_key=subscription.wait_queues[delay],
                mandatory=True,
                timeout=self._timeout,
            )
        except Exception as exc:
            # The wait queue is unreachable: wait here instead, then requeue; the queue's
            # x-delivery-limit still bounds how often this can repeat.
            log.warning("bus.retry_publish_failed", consumer=name, error=repr(exc))
            await asyncio.sleep(delay)
            await self._settle(message.nack(requeue=True), name)
            return
        # Ack only after the copy is confirmed: a crash in between duplicates, never loses.
        await self._settle(message.ack(), name)

    @staticmethod
    async def _settle(operation: Awaitable[object], consumer: str) -> None:
        """Await an ack/nack/reject; a lost channel already requeued the message."""
        try:
            await operation
        except Exception as exc:
            log.warning("bus.settle_failed", consumer=consumer, error=repr(exc))
