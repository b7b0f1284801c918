"""1,000 events through outbox, relay and RabbitMQ while the relay is killed and the broker
connection is cut: every event is consumed and applied exactly once."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from okada.contracts.base import IntegrationEvent
from okada.infra.bus.policy import DeliveryPolicy
from okada.infra.bus.rabbitmq import RabbitMqBus
from okada.infra.db.uow import SqlUnitOfWork, idempotent_consumer
from tests.support.broker import purge_broker
from tests.support.databases import scratch_engine
from tests.support.fault_schema import ParcelShipped, effects, metadata, tables
from tests.support.services import require_rabbitmq

pytestmark = pytest.mark.distributed

ROOT = Path(__file__).resolve().parents[2]
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
EVENTS = 1000


def _uow(engine: AsyncEngine, service: str) -> SqlUnitOfWork:
    return SqlUnitOfWork(service=service, sessions=async_sessionmaker(engine,
                         expire_on_commit=False), tables=tables)


def _start_relay(url: str, exchange: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.relay_process", url, exchange],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )


def _cut_broker_connections(exchange: str) -> int:
    """Close this test's client connections at the broker (the relay's and the consumer's).

    Only connections named after this run's exchange (``okada:<exchange>``, set by
    RabbitMqBus) are cut, so other suites and processes sharing the broker are left alone.
    """
    listed = subprocess.run(["rabbitmqctl", "-q", "list_connections", "pid", "client_properties"],
                            capture_output=True, text=True, timeout=60)
    name = f"okada:{exchange}"
    pids = [line.split("\t", 1)[0].strip() for line in listed.stdout.splitlines()
            if line.strip().startswith("<") and name in line]
    for pid in pids:
        subprocess.run(["rabbitmqctl", "close_connection", pid, "fault test"],
                       capture_output=True, timeout=60)
    return len(pids)


async def _count(engine: AsyncEngine, query: sa.Select[tuple[int]]) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(query) or 0)


async def test_thousand_events_survive_relay_kills_and_a_broker_cut(tmp_path: Path) -> None:
    require_rabbitmq()
    run = uuid.uuid4().hex[:8]
    exchange = f"okada.faults.{run}"
    rng = random.Random(42)
    async with scratch_engine("postgresql", tmp_path / "p") as producer, \
            scratch_engine("postgresql", tmp_path / "c") as consumer_db:
        for engine in (producer, consumer_db):
            async with engine.begin() as conn:
                await conn.run_sync(metadata.create_all)

        async def apply(event: IntegrationEvent, uow: SqlUnitOfWork) -> None:
            assert isinstance(event, ParcelShipped)
            await uow.session.execute(sa.insert(effects).values(number=event.number))

        bus = RabbitMqBus(AMQP_URL, exchange=exchange, queue_prefix=f"faults.{run}.",
                          policy=DeliveryPolicy(retry_tiers=(0.2, 0.5), handler_timeout=10))
        bus.subscribe(
            "fault-consumer", [ParcelShipped.schema_name],
            idempotent_consumer("fault-consumer", lambda: _uow(consumer_db, "consumer"), apply,
                                {ParcelShipped.schema_name: ParcelShipped}),
        )
        await bus.start()
        url = producer.url.render_as_string(hide_password=False)
        relay = _start_relay(url, exchange)
        kills, cuts = 0, 0
        started = time.monotonic()
        try:
            for batch_start in range(0, EVENTS, 50):
                async with _uow(producer, "producer") as uow:
                    for number in range(batch_start, batch_start + 50):
                        uow.publish(ParcelShipped(entity_id=uuid.uuid4(), version=1,
                                                  number=number))
                    await uow.commit()
                if batch_start in (250, 600):  # kill -9 the relay mid-stream, twice
                    await asyncio.sleep(rng.uniform(0.05, 0.3))
                    relay.send_signal(signal.SIGKILL)
                    relay.wait(timeout=10)
                    kills += 1
                    relay = _start_relay(url, exchange)
                if batch_start == 450:
                    cuts = await asyncio.to_thread(_cut_broker_connections, exchange)
                await asyncio.sleep(0.02)
            deadline = time.monotonic() + 180
            applied = 0
            while time.monotonic() < deadline:
                applied = await _count(consumer_db, sa.select(sa.func.count()).select_from(
                    effects))
                if applied >= EVENTS:
                    break
                await asyncio.sleep(0.5)
            await asyncio.sleep(1.0)  # let any duplicate delivery land before we count
        finally:
            relay.send_signal(signal.SIGTERM)
            try:
                relay.wait(timeout=10)
            except subprocess.TimeoutExpired:
                relay.kill()
            await bus.close()
            await purge_broker(exchange, f"faults.{run}.")
        elapsed = time.monotonic() - started
        total = await _count(consumer_db, sa.select(sa.func.count()).select_from(effects))
        distinct = await _count(consumer_db, sa.select(sa.func.count(sa.distinct(
            effects.c.number))))
        unpublished = await _count(producer, sa.select(sa.func.count()).select_from(
            tables["outbox"]).where(tables["outbox"].c.published_at.is_(None)))
        print(f"\nfaults: {kills} relay kills, {cuts} broker connections cut; "
              f"{total} effects ({distinct} distinct) in {elapsed:.1f}s")
        assert kills == 2
        assert cuts >= 1
        assert distinct == EVENTS  # nothing lost
        assert total == EVENTS  # nothing applied twice, although some were delivered twice
        assert unpublished == 0
