"""RabbitMQ adapter details outside the shared bus contract: aio-pika defaults, queue
arguments on the broker, AMQP message properties, malformed bodies and throughput."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import time
import uuid

import aio_pika
import pytest
from aio_pika import DeliveryMode, Message
from aio_pika.exceptions import ChannelPreconditionFailed
from aio_pika.exchange import Exchange
from pamqp.common import FieldValue

from okada.infra.bus.policy import FAST_TEST_POLICY
from okada.infra.bus.rabbitmq import RabbitMqBus, envelope_message, make_message
from okada.kernel.messages import Envelope
from tests.ports.test_bus_contract import (
    AMQP_URL,
    delete_topology,
    drain,
    eventually,
    fresh_rabbit_bus,
)
from tests.support.services import require_rabbitmq


def test_aio_pika_defaults_we_rely_on() -> None:
    """Pin the aio-pika defaults that the adapter overrides or depends on."""
    # Message is transient by default: the broker drops it on recovery, so our factory
    # must set PERSISTENT itself.
    assert Message(b"{}").delivery_mode == DeliveryMode.NOT_PERSISTENT
    # Without on_return_raises an unroutable publish resolves quietly: we pass True.
    channel_defaults = inspect.signature(aio_pika.RobustConnection.channel).parameters
    assert channel_defaults["on_return_raises"].default is False
    assert channel_defaults["publisher_confirms"].default is True
    assert inspect.signature(Exchange.publish).parameters["mandatory"].default is True


def test_message_factory_builds_persistent_json_messages() -> None:
    sent = Envelope(
        schema="orders.v1.Placed",
        payload={"total": 2500},
        producer="orders",
        correlation_id="corr-9",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    message = envelope_message(sent)
    assert message.delivery_mode == DeliveryMode.PERSISTENT
    assert message.content_type == "application/json"
    assert message.message_id == str(sent.message_id)
    assert message.type == "orders.v1.Placed"
    assert message.correlation_id == "corr-9"
    assert message.headers == {"traceparent": sent.traceparent, "correlation_id": "corr-9"}
    assert message.timestamp is not None
    bare = make_message(
        b"{}",
        message_id="m",
        schema="s",
        timestamp=dt.datetime.now(dt.UTC),
        correlation_id=None,
        headers={},
    )
    assert bare.delivery_mode == DeliveryMode.PERSISTENT


async def test_work_queue_is_quorum_with_delivery_limit() -> None:
    require_rabbitmq()
    bus = fresh_rabbit_bus()

    async def handle(env: Envelope) -> None:
        return None

    bus.subscribe("orders", ["orders.v1.Placed"], handle)
    await bus.start()
    name = bus.queue_name("orders")
    expected: dict[str, FieldValue] = {
        "x-queue-type": "quorum",
        "x-delivery-limit": FAST_TEST_POLICY.delivery_limit,
        "x-dead-letter-exchange": bus.dlx_name,
        "x-dead-letter-routing-key": name,
    }
    if bus.broker_version >= (3, 10):
        expected |= {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
    try:
        # The broker refuses a redeclare whose arguments differ, so an identical redeclare
        # succeeding proves what the queue really has, and a changed limit must be refused.
        connection = await aio_pika.connect(AMQP_URL, timeout=5)
        async with connection:
            channel = await connection.channel()
            await channel.declare_queue(name, durable=True, arguments=expected, timeout=5)
            others: list[dict[str, FieldValue]] = [
                {**expected, "x-delivery-limit": FAST_TEST_POLICY.delivery_limit + 1},
                {**expected, "x-queue-type": "classic"},
            ]
            for other in others:
                channel = await connection.channel()
                with pytest.raises(ChannelPreconditionFailed):
                    await channel.declare_queue(name, durable=True, arguments=other, timeout=5)
    finally:
        await bus.close()
        await delete_topology(bus, ["orders"])


async def test_published_message_properties_on_the_wire() -> None:
    require_rabbitmq()
    bus = fresh_rabbit_bus()
    await bus.start()
    sent = Envelope(
        schema="audit.v1.Noted",
        payload={"k": "v"},
        producer="audit",
        correlation_id="corr-1",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    try:
        await bus.publish([sent])  # nobody subscribes: it is parked in the catch-all queue
        [got] = await drain(bus.unrouted_name)
        assert got.delivery_mode == DeliveryMode.PERSISTENT
        assert got.content_type == "application/json"
        assert got.message_id == str(sent.message_id)
        assert got.type == "audit.v1.Noted"
        assert got.routing_key == "audit.v1.Noted"
        assert got.headers["traceparent"] == sent.traceparent
        assert got.headers["correlation_id"] == "corr-1"
        assert got.timestamp is not None
    finally:
        await bus.close()
        await delete_topology(bus, [])


async def test_malformed_body_goes_straight_to_the_dlq() -> None:
    require_rabbitmq()
    bus = fresh_rabbit_bus()
    calls: list[Envelope] = []

    async def handle(env: Envelope) -> None:
        calls.append(env)

    bus.subscribe("orders", ["orders.v1.Placed"], handle)
    await bus.start()
    try:
        connection = await aio_pika.connect(AMQP_URL, timeout=5)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.get_exchange(bus.exchange_name)
            await exchange.publish(
                Message(b"not json", delivery_mode=DeliveryMode.PERSISTENT, message_id="bad-1"),
                routing_key="orders.v1.Placed",
                timeout=5,
            )
        parked: list[aio_pika.abc.AbstractIncomingMessage] = []
        deadline = time.monotonic() + 10
        while not parked and time.monotonic() < deadline:
            parked += await drain(bus.dlq_name("orders"))
            await asyncio.sleep(0.05)
        assert [m.body for m in parked] == [b"not json"]
        assert calls == []
    finally:
        await bus.close()
        await delete_topology(bus, ["orders"])


async def test_publish_and_consume_a_thousand_messages() -> None:
    require_rabbitmq()
    bus = fresh_rabbit_bus(prefetch=200)
    seen: set[uuid.UUID] = set()

    async def handle(env: Envelope) -> None:
        seen.add(env.message_id)

    bus.subscribe("projection", ["bench.v1.Tick"], handle)
    await bus.start()
    batch = [
        Envelope(schema="bench.v1.Tick", payload={"i": i}, producer="bench") for i in range(1000)
    ]
    try:
        started = time.perf_counter()
        await bus.publish(batch)
        published = time.perf_counter() - started
        await eventually(lambda: len(seen) == 1000, timeout=60)
        consumed = time.perf_counter() - started
        print(
            f"\nRabbitMQ {'.'.join(map(str, bus.broker_version))}: published 1000 confirmed "
            f"persistent messages in {published:.3f} s ({1000 / published:,.0f} msg/s); "
            f"all consumed after {consumed:.3f} s ({1000 / consumed:,.0f} msg/s end to end)"
        )
        assert seen == {e.message_id for e in batch}
    finally:
        await bus.close()
        await delete_topology(bus, ["projection"])


async def test_close_then_unhealthy() -> None:
    require_rabbitmq()
    bus: RabbitMqBus = fresh_rabbit_bus()
    await bus.start()
    try:
        assert await bus.is_healthy()
    finally:
        await bus.close()
        await delete_topology(bus, [])
    assert not await bus.is_healthy()


async def test_a_publish_channel_closed_under_a_live_connection_is_reopened() -> None:
    """The broker may close the publish channel while the connection lives on (or a channel
    may fail to come back after a restart); publishing must not fail forever after that."""
    require_rabbitmq()
    bus = fresh_rabbit_bus()
    got: list[Envelope] = []

    async def handle(env: Envelope) -> None:
        got.append(env)

    bus.subscribe("audit", ["audit.v1.Noted"], handle)
    await bus.start()
    try:
        channel = bus._publish_channel
        assert channel is not None
        await channel.close()  # as the broker does on a channel-level error
        assert channel.is_closed
        sent = Envelope(schema="audit.v1.Noted", payload={"n": 1}, producer="audit")
        await bus.publish([sent])
        await eventually(lambda: [e.message_id for e in got] == [sent.message_id])
        assert bus._publish_channel is not None and not bus._publish_channel.is_closed
    finally:
        await bus.close()
        await delete_topology(bus, ["audit"])
