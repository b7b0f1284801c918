"""One contract for every MessageBus adapter: InProcessBus (embedded) and RabbitMqBus.

The RabbitMQ runs use a fresh exchange and queue prefix per test and delete them afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable

import aio_pika
import pytest
from aio_pika.exceptions import PublishError

from okada.infra.bus.inprocess import InProcessBus
from okada.infra.bus.policy import FAST_TEST_POLICY, DeliveryPolicy
from okada.infra.bus.rabbitmq import BusPublishError, RabbitMqBus
from okada.infra.bus.serde import decode
from okada.kernel.messages import Envelope
from okada.kernel.ports import MessageBus, MessageHandler
from tests.support.services import require_rabbitmq

AMQP_URL = os.environ.get("OKADA_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
POLICY = FAST_TEST_POLICY
WAIT = 15.0


def envelope(schema: str = "test.v1.Happened", **payload: object) -> Envelope:
    return Envelope(schema=schema, payload=dict(payload), producer="contract-test")


async def eventually(check: Callable[[], bool], timeout: float = WAIT) -> None:
    """Poll ``check`` until it holds; fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


def fresh_rabbit_bus(policy: DeliveryPolicy = POLICY, prefetch: int = 50) -> RabbitMqBus:
    """A RabbitMqBus on a unique exchange and queue prefix."""
    tag = f"test.{uuid.uuid4().hex[:12]}"
    return RabbitMqBus(
        AMQP_URL, exchange=tag, queue_prefix=f"{tag}.", policy=policy, prefetch=prefetch
    )


async def delete_topology(bus: RabbitMqBus, consumers: list[str]) -> None:
    """Delete every queue and exchange ``bus`` declared (a missing one is fine)."""
    queues = [bus.unrouted_name]
    for consumer in consumers:
        queues += [bus.queue_name(consumer), bus.dlq_name(consumer)]
        queues += bus.wait_queue_names(consumer)
    exchanges = [bus.exchange_name, bus.dlx_name, bus.unrouted_name]
    connection = await aio_pika.connect(AMQP_URL, timeout=5)
    async with connection:
        for name in queues:
            # A failed operation closes the channel: one channel each keeps the rest going.
            with contextlib.suppress(Exception):
                channel = await connection.channel()
                await channel.queue_delete(name, timeout=5)
        for name in exchanges:
            with contextlib.suppress(Exception):
                channel = await connection.channel()
                await channel.exchange_delete(name, timeout=5)


async def drain(queue_name: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Take every message now in ``queue_name`` (acked)."""
    messages: list[aio_pika.abc.AbstractIncomingMessage] = []
    connection = await aio_pika.connect(AMQP_URL, timeout=5)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, passive=True, timeout=5)
        while (message := await queue.get(no_ack=True, fail=False, timeout=5)) is not None:
            messages.append(message)
    return messages


class Harness:
    """Drives one adapter through the contract; hides how each one dead-letters."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.consumers: list[str] = []
        self.sunk: list[tuple[str, Envelope, str, int]] = []
        self.bus: MessageBus
        if kind == "rabbitmq":
            self.rabbit: RabbitMqBus | None = fresh_rabbit_bus()
            self.bus = self.rabbit
        else:
            self.rabbit = None
            self.bus = InProcessBus(POLICY)

    def subscribe(self, consumer: str, schemas: list[str], handler: MessageHandler) -> None:
        self.consumers.append(consumer)
        self.bus.subscribe(consumer, schemas, handler, dead_letter=self._sink)

    async def _sink(self, consumer: str, env: Envelope, error: str, deliveries: int) -> None:
        self.sunk.append((consumer, env, error, deliveries))

    async def dead_letters(self, consumer: str, expected: int) -> list[Envelope]:
        """Wait until ``expected`` messages of ``consumer`` are dead-lettered; return them."""
        found: list[Envelope] = []
        deadline = asyncio.get_running_loop().time() + WAIT
        while True:
            if self.rabbit is None:
                found = [env for name, env, _, _ in self.sunk if name == consumer]
            else:
                found += [decode(m.body) for m in await drain(self.rabbit.dlq_name(consumer))]
            if len(found) >= expected or asyncio.get_running_loop().time() > deadline:
                return found
            await asyncio.sleep(0.05)

    async def cleanup(self) -> None:
        await self.bus.close()
        if self.rabbit is not None:
            await delete_topology(self.rabbit, self.consumers)


@pytest.fixture(params=["inprocess", "rabbitmq"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "rabbitmq":
        require_rabbitmq()
    h = Harness(request.param)
    try:
        yield h
    finally:
        await h.cleanup()


def recorder() -> tuple[list[Envelope], MessageHandler]:
    received: list[Envelope] = []

    async def handle(env: Envelope) -> None:
        received.append(env)

    return received, handle


async def test_roundtrip_is_json_equal(harness: Harness) -> None:
    received, handle = recorder()
    harness.subscribe("orders", ["test.v1.Happened"], handle)
    await harness.bus.start()
    sent = Envelope(
        schema="test.v1.Happened",
        payload={"amount": 1500, "currency": "XAF", "items": [{"sku": "a", "qty": 2}], "x": None},
        producer="contract-test",
        correlation_id="corr-1",
        causation_id="cause-1",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )

    await harness.bus.publish([sent])

    await eventually(lambda: len(received) == 1)
    assert received[0].to_json_dict() == sent.to_json_dict()
    assert await harness.bus.is_healthy()


async def test_fan_out_to_every_consumer(harness: Harness) -> None:
    first, handle_first = recorder()
    second, handle_second = recorder()
    harness.subscribe("billing", ["test.v1.Happened"], handle_first)
    harness.subscribe("shipping", ["test.v1.Happened"], handle_second)
    await harness.bus.start()
    sent = envelope(n=1)

    await harness.bus.publish([sent])

    await eventually(lambda: len(first) == 1 and len(second) == 1)
    await asyncio.sleep(0.2)  # a duplicate would show up by now
    assert [e.message_id for e in first] == [sent.message_id]
    assert [e.message_id for e in second] == [sent.message_id]


async def test_only_subscribed_schemas_are_delivered(harness: Harness) -> None:
    received, handle = recorder()
    harness.subscribe("orders", ["test.v1.Wanted"], handle)
    await harness.bus.start()
    unwanted, wanted = envelope("test.v1.Unwanted"), envelope("test.v1.Wanted")

    await harness.bus.publish([unwanted, wanted])

    await eventually(lambda: len(received) >= 1)
    await asyncio.sleep(0.2)
    assert [e.message_id for e in received] == [wanted.message_id]


async def test_handler_failing_twice_succeeds_on_third_attempt(harness: Harness) -> None:
    attempts: Counter[uuid.UUID] = Counter()
    handled: list[Envelope] = []

    async def flaky(env: Envelope) -> None:
        attempts[env.message_id] += 1
        if attempts[env.message_id] <= 2:
            raise RuntimeError(f"transient failure {attempts[env.message_id]}")
        handled.append(env)

    harness.subscribe("flaky", ["test.v1.Happened"], flaky)
    await harness.bus.start()
    sent = envelope(n=1)

    await harness.bus.publish([sent])

    await eventually(lambda: len(handled) == 1)
    await asyncio.sleep(0.3)  # longer than a retry tier: no further delivery may follow
    assert attempts[sent.message_id] == 3
    assert [e.message_id for e in handled] == [sent.message_id]
    assert await harness.dead_letters("flaky", expected=0) == []


async def test_poison_message_is_dead_lettered_while_others_flow(harness: Harness) -> None:
    poison = envelope(poison=True)
    deliveries: Counter[uuid.UUID] = Counter()
    good: set[uuid.UUID] = set()

    async def handle(env: Envelope) -> None:
        deliveries[env.message_id] += 1
        if env.payload.get("poison"):
            raise ValueError("cannot ever handle this")
        good.add(env.message_id)

    harness.subscribe("worker", ["test.v1.Happened"], handle)
    await harness.bus.start()
    others = [envelope(n=i) for i in range(50)]

    await harness.bus.publish([poison, *others])

    await eventually(lambda: len(good) == 50)
    dead = await harness.dead_letters("worker", expected=1)
    assert [e.message_id for e in dead] == [poison.message_id]
    assert dead[0].to_json_dict() == poison.to_json_dict()
    assert 1 <= deliveries[poison.message_id] <= POLICY.delivery_limit
    assert good == {e.message_id for e in others}
    assert all(deliveries[e.message_id] == 1 for e in others)
    if harness.rabbit is None:
        assert harness.sunk[0][3] == deliveries[poison.message_id]


async def test_rabbitmq_mandatory_publish_raises_when_unroutable() -> None:
    """A schema nobody subscribes to lands in the catch-all; without it, publish raises."""
    require_rabbitmq()
    bus = fresh_rabbit_bus()
    await bus.start()
    try:
        nobody = envelope("test.v1.NobodyListens")
        await bus.publish([nobody])  # routed to the catch-all queue: confirmed
        parked = await drain(bus.unrouted_name)
        assert [m.message_id for m in parked] == [str(nobody.message_id)]

        # Break the topology: with no queue behind the alternate exchange either, the
        # broker returns the mandatory message and the confirm alone must not count.
        admin = await aio_pika.connect(AMQP_URL, timeout=5)
        async with admin:
            await (await admin.channel()).queue_delete(bus.unrouted_name, timeout=5)
        with pytest.raises(BusPublishError) as raised:
            await bus.publish([envelope("test.v1.NobodyListens"), envelope("test.v1.Other")])
        assert raised.value.failed == 2
        assert isinstance(raised.value.__cause__, PublishError)
    finally:
        await bus.close()
        await delete_topology(bus, [])


async def test_rabbitmq_publish_before_start_raises() -> None:
    bus = fresh_rabbit_bus()
    with pytest.raises(ConnectionError):
        await bus.publish([envelope()])
    assert not await bus.is_healthy()


async def test_custom_policy_limit_is_honoured(harness: Harness) -> None:
    """A lower delivery limit gives up sooner (the limit is policy, not a constant)."""
    policy = DeliveryPolicy(delivery_limit=2, retry_tiers=(0.05,), handler_timeout=5.0)
    await harness.bus.close()
    if harness.rabbit is not None:
        harness.rabbit = fresh_rabbit_bus(policy=policy)
        harness.bus = harness.rabbit
    else:
        harness.bus = InProcessBus(policy)
    calls: list[int] = []

    async def fail(env: Envelope) -> None:
        calls.append(1)
        raise RuntimeError("no")

    harness.subscribe("strict", ["test.v1.Happened"], fail)
    await harness.bus.start()
    sent = envelope()

    await harness.bus.publish([sent])

    dead = await harness.dead_letters("strict", expected=1)
    assert [e.message_id for e in dead] == [sent.message_id]
    assert len(calls) == 2
