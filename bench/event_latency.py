"""Event path benchmarks: commit-to-handler latency, publish throughput, outbox drain.

Measured, in this order:

1. **Latency, embedded mode**: producer on a SQLite file (one transaction per event: an order
   row plus its outbox row), ``OutboxRelay`` woken on commit (``on_commit=relay.wake``, poll
   interval as in ``service_store`` for embedded mode), ``InProcessBus``, consumer through
   ``idempotent_consumer`` (inbox + effect row) on its own SQLite file. Everything runs in one
   event loop, as in ``okada.runtime.embedded``.
2. **Latency, distributed mode**: producer and relay in this process on a scratch PostgreSQL
   database, ``RabbitMqBus`` with publisher confirms, consumer in a separate process (as a
   separate service would be) with its inbox on a second scratch PostgreSQL database.
3. **Publish throughput**: ``RabbitMqBus.publish`` of pre-built envelopes in batches, each
   batch awaited before the next (as the relay does), into a bound quorum queue.
4. **Outbox drain**: N rows pre-inserted, time for ``OutboxRelay.publish_pending`` to publish
   them all (distributed: to RabbitMQ; embedded: through the in-process bus, i.e. until the
   consumer applied each one, which is that bus's confirm).

Producers are open loop at a fixed rate: one transaction is due every 1/rate seconds and runs
as its own task (as concurrent requests in a service do, at most ``--producer-concurrency`` in
flight), so a slow commit does not hold back the next one. Each distributed run gets a new
consumer queue, deleted after it. Latency is taken from just after ``commit()`` returned (the moment
the event exists) to (a) the bus invoking the consumer's handler ("delivered") and (b) the
consumer's transaction having committed ("applied"). ``time.monotonic`` is CLOCK_MONOTONIC on
Linux, one clock for every process on the box.

Usage: ``.venv/bin/python -m bench.event_latency [--quick]``. Scratch databases
(``okada_bench_*``) and broker objects (``okada.bench.<run>*``, ``bench.<run>.*``) are
removed at the end, also on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from bench._common import (
    PYTHON,
    RESULTS,
    ROOT,
    command_line,
    fmt,
    machine_busy_pct,
    machine_lines,
    median_range,
    now_utc,
    source_fingerprint,
    summarise,
    table,
    versions,
    wait_until_quiet,
)
from bench._infra import (
    AMQP_URL,
    CpuProbe,
    delete_broker_objects,
    postgres_version,
    purge_queue,
    scratch_postgres,
)
from okada.contracts.base import IntegrationEvent
from okada.infra.bus.inprocess import InProcessBus
from okada.infra.bus.rabbitmq import RabbitMqBus
from okada.infra.bus.serde import encode
from okada.infra.db.engine import create_engine
from okada.infra.db.outbox import OutboxRelay
from okada.infra.db.platform_tables import add_platform_tables
from okada.infra.db.types import new_metadata
from okada.infra.db.uow import SqlUnitOfWork, idempotent_consumer
from okada.kernel.messages import Envelope

# Fingerprinted in the report, so a result names the code it measured.
SOURCE_DIRS = ("src/okada/infra", "src/okada/kernel", "src/okada/contracts")
EMBEDDED_POLL = 0.5  # okada.infra.hosting.service_store, embedded mode
DISTRIBUTED_POLL = 1.0  # same, distributed mode
RELAY_BATCH = 200  # OutboxRelay default
NOTE = "Livraison Akwa, Douala: 2 x riz parfumé 5 kg, 1 x huile 1 L, 6 x eau 1,5 L. " * 2


class OrderPlaced(IntegrationEvent, schema="bench.v1.OrderPlaced"):
    """A benchmark event about the size of a real order event (~0.5 KB on the wire)."""

    number: int
    store: str
    total_xaf: int
    note: str


class ThroughputProbe(OrderPlaced, schema="bench.v1.Throughput"):
    """The same event under another routing key, bound only to the throughput sink queue."""


metadata = new_metadata()
tables = add_platform_tables(metadata)
orders = sa.Table(
    "bench_orders",
    metadata,
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("total_xaf", sa.Integer, nullable=False),
)
effects = sa.Table(
    "bench_effects",
    metadata,
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
)


class BrokerTrouble(logging.Handler):
    """Counts the AMQP client's warnings (lost connections, reconnects) during a run.

    The broker is shared: another suite's fault test may close every client connection
    (``rabbitmqctl close_connection``). A run that lived through that is flagged rather than
    silently reported as our latency.
    """

    LOGGERS = ("aiormq", "aio_pika")

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1

    def __enter__(self) -> BrokerTrouble:
        for name in self.LOGGERS:
            logging.getLogger(name).addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).removeHandler(self)


def _event(number: int, cls: type[OrderPlaced] = OrderPlaced) -> OrderPlaced:
    return cls(entity_id=uuid.uuid4(), version=1, number=number, store="akwa-1",
               total_xaf=12_500 + number % 1000, note=NOTE)


def _uow_factory(
    engine: AsyncEngine, service: str, on_commit: Callable[[], None] | None = None
) -> Callable[[], SqlUnitOfWork]:
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    def make() -> SqlUnitOfWork:
        return SqlUnitOfWork(service=service, sessions=sessions, tables=tables,
                             on_commit=on_commit)

    return make


async def _create_schema(*engines: AsyncEngine) -> None:
    for engine in engines:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)


async def produce(
    uow: Callable[[], SqlUnitOfWork],
    numbers: range,
    rate: float,
    commits: dict[int, float],
    max_in_flight: int,
) -> dict[str, float]:
    """Commit one order + its event per number, one due every 1/rate s (open loop).

    Each transaction is its own task, as concurrent requests in a service are, so a slow
    commit does not delay the next one; at most ``max_in_flight`` run at once (beyond that
    the producer falls behind, which ``achieved_rate`` shows).
    """
    started = time.monotonic()
    slots = asyncio.Semaphore(max_in_flight)
    tasks: list[asyncio.Task[None]] = []
    in_flight = peak = errors = 0

    async def one(number: int) -> None:
        nonlocal in_flight, errors
        try:
            async with uow() as unit:
                await unit.session.execute(
                    sa.insert(orders).values(number=number, total_xaf=12_500 + number % 1000)
                )
                unit.publish(_event(number))
                await unit.commit()
            commits[number] = time.monotonic()
        except Exception:
            errors += 1  # counted and reported; the event is then "missing"
        finally:
            in_flight -= 1
            slots.release()

    for i, number in enumerate(numbers):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await slots.acquire()
        in_flight += 1
        peak = max(peak, in_flight)
        tasks.append(asyncio.create_task(one(number)))
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - started
    return {
        "achieved_rate": len(numbers) / elapsed if elapsed > 0 else float("nan"),
        "peak_in_flight": peak,
        "producer_errors": errors,
    }


class Recorder:
    """Wraps the consumer's bus handler to time delivery and application of each event."""

    def __init__(self, measure_from: int = 0) -> None:
        self.delivered: dict[int, float] = {}
        self.applied: dict[int, float] = {}
        self.done = asyncio.Event()
        self.expect = 0
        self.measure_from = measure_from
        self.cpu_at_first_measured: float | None = None

    def wrap(self, inner: Callable[[Envelope], Awaitable[None]]
             ) -> Callable[[Envelope], Awaitable[None]]:
        """Return the bus handler: record, run the idempotent consumer, record."""

        async def handle(envelope: Envelope) -> None:
            number = int(envelope.payload["number"])
            self.delivered.setdefault(number, time.monotonic())
            if number >= self.measure_from and self.cpu_at_first_measured is None:
                self.cpu_at_first_measured = time.process_time()
            await inner(envelope)
            self.applied.setdefault(number, time.monotonic())
            if self.expect and len(self.applied) >= self.expect:
                self.done.set()

        return handle


async def _apply(event: IntegrationEvent, uow: SqlUnitOfWork) -> None:
    assert isinstance(event, OrderPlaced)
    await uow.session.execute(sa.insert(effects).values(number=event.number))


def consumer_handler(engine: AsyncEngine, name: str, recorder: Recorder
                     ) -> Callable[[Envelope], Awaitable[None]]:
    """The consumer as a service writes it: ``idempotent_consumer`` on its own database."""
    return recorder.wrap(idempotent_consumer(
        name, _uow_factory(engine, name), _apply, {OrderPlaced.schema_name: OrderPlaced}
    ))


def latency_stats(
    commits: dict[int, float], recorder_delivered: dict[int, float],
    recorder_applied: dict[int, float], numbers: range,
) -> dict[str, Any]:
    """Percentiles (ms) of commit→delivered and commit→applied over ``numbers``."""
    delivered = [(recorder_delivered[n] - commits[n]) * 1000 for n in numbers
                 if n in recorder_delivered and n in commits]
    applied = [(recorder_applied[n] - commits[n]) * 1000 for n in numbers
               if n in recorder_applied and n in commits]
    return {
        "delivered_ms": summarise(delivered),
        "applied_ms": summarise(applied),
        # Share of events that waited for a poll instead of a wake-up (or for an overload).
        "applied_over_100ms_pct": 100 * sum(x > 100 for x in applied) / max(1, len(applied)),
        "missing": len(numbers) - len(applied),
    }


# -- embedded ---------------------------------------------------------------------------------


async def embedded_latency(
    tmp: Path, rate: float, label: str, args: argparse.Namespace
) -> dict[str, Any]:
    """Latency through SQLite outbox, relay, in-process bus and SQLite idempotent consumer."""
    tag = f"{rate:g}-{label}"
    producer = create_engine(f"sqlite+aiosqlite:///{tmp / f'producer-{tag}.db'}")
    consumer = create_engine(f"sqlite+aiosqlite:///{tmp / f'consumer-{tag}.db'}")
    await _create_schema(producer, consumer)
    bus = InProcessBus()
    relay = OutboxRelay(service="bench-producer", engine=producer,
                               outbox=tables["outbox"], bus=bus, poll_interval=EMBEDDED_POLL)
    recorder = Recorder()
    bus.subscribe("bench-consumer", [OrderPlaced.schema_name],
                  consumer_handler(consumer, "bench-consumer", recorder))
    await bus.start()
    task = asyncio.create_task(relay.run())
    warm = range(0, round(rate * args.warmup))
    measured = range(warm.stop, warm.stop + round(rate * args.duration))
    recorder.expect = measured.stop
    commits: dict[int, float] = {}
    probe = CpuProbe()
    try:
        make = _uow_factory(producer, "bench-producer", relay.wake)
        await produce(make, warm, rate, commits, args.producer_concurrency)
        before = probe.sample()
        produced = await produce(make, measured, rate, commits, args.producer_concurrency)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(recorder.done.wait(), EMBEDDED_POLL + 30)
        cpu = CpuProbe.diff(before, probe.sample())
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bus.close()
        await producer.dispose()
        await consumer.dispose()
    return {
        "mode": "embedded",
        "poll_interval_s": EMBEDDED_POLL,
        "target_rate": rate,
        **produced,
        "events": len(measured),
        **latency_stats(commits, recorder.delivered, recorder.applied, measured),
        "cpu": cpu,
        "consumer_cpu_s": None,  # same process as the producer in embedded mode
    }


async def embedded_drain(tmp: Path, batch: int, rows: int) -> dict[str, Any]:
    """Drain ``rows`` pre-inserted outbox rows through the in-process bus to the consumer."""
    producer = create_engine(f"sqlite+aiosqlite:///{tmp / f'drain-producer-{batch}.db'}")
    consumer = create_engine(f"sqlite+aiosqlite:///{tmp / f'drain-consumer-{batch}.db'}")
    await _create_schema(producer, consumer)
    bus = InProcessBus()
    recorder = Recorder()
    bus.subscribe("bench-consumer", [OrderPlaced.schema_name],
                  consumer_handler(consumer, "bench-consumer", recorder))
    await bus.start()
    try:
        await _fill_outbox(producer, rows, OrderPlaced)
        relay = OutboxRelay(service="bench-producer", engine=producer, outbox=tables["outbox"],
                            bus=bus, batch_size=batch)
        result = await _drain(relay, rows)
        result["applied"] = len(recorder.applied)
    finally:
        await bus.close()
        await producer.dispose()
        await consumer.dispose()
    return {"mode": "embedded", "batch_size": batch, **result}


async def _fill_outbox(engine: AsyncEngine, rows: int, cls: type[OrderPlaced]) -> None:
    """Insert ``rows`` unpublished outbox rows through the unit of work, 500 per commit."""
    make = _uow_factory(engine, "bench-producer")
    for start in range(0, rows, 500):
        async with make() as unit:
            for number in range(start, min(rows, start + 500)):
                unit.publish(_event(number, cls))
            await unit.commit()


async def _drain(relay: OutboxRelay, rows: int) -> dict[str, Any]:
    probe = CpuProbe()
    before = probe.sample()
    started = time.monotonic()
    published = 0
    with BrokerTrouble() as trouble:
        while True:
            # A failed batch returns 0 and stays in the outbox: it shows as "left" below.
            count = await relay.publish_pending()
            if count == 0:
                break
            published += count
    elapsed = time.monotonic() - started
    cpu = CpuProbe.diff(before, probe.sample())
    return {
        "rows": rows,
        "published": published,
        "backlog_after": await relay.backlog(),
        "seconds": elapsed,
        "rows_per_s": published / elapsed if elapsed > 0 else float("nan"),
        "cpu": cpu,
        "broker_warnings": trouble.count,
    }


# -- distributed ------------------------------------------------------------------------------


async def run_consumer(args: argparse.Namespace) -> None:
    """``--role consumer``: subscribe, print ``ready``, apply events, print the timings."""
    from okada.infra.observability.logging import configure_logging

    configure_logging(level="WARNING", json=True, service="bench-consumer")
    engine = create_engine(args.consumer_db)
    recorder = Recorder(measure_from=args.measure_from)
    recorder.expect = args.expect
    bus = RabbitMqBus(AMQP_URL, exchange=args.exchange, queue_prefix=args.queue_prefix)
    bus.subscribe(args.consumer, [OrderPlaced.schema_name],
                  consumer_handler(engine, args.consumer, recorder))
    await bus.start()
    print("ready", flush=True)
    with BrokerTrouble() as trouble:
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(recorder.done.wait(), args.timeout)
        finally:
            first = recorder.cpu_at_first_measured
            cpu = time.process_time() - first if first is not None else float("nan")
            await bus.close()
            await engine.dispose()
    print(json.dumps({"delivered": recorder.delivered, "applied": recorder.applied,
                      "cpu_s": cpu, "broker_warnings": trouble.count}), flush=True)


def _consumer_queues(exchange: str, prefix: str, consumers: list[str]) -> list[str]:
    """The work, dead-letter and retry queues ``RabbitMqBus`` declares for ``consumers``."""
    probe = RabbitMqBus(AMQP_URL, exchange=exchange, queue_prefix=prefix)
    names: list[str] = []
    for consumer in consumers:
        names += [probe.queue_name(consumer), probe.dlq_name(consumer),
                  *probe.wait_queue_names(consumer)]
    return names


async def distributed_latency(
    producer: AsyncEngine, consumer_url: str, exchange: str, prefix: str,
    rate: float, offset: int, consumer_name: str, args: argparse.Namespace,
) -> dict[str, Any]:
    """Latency through PostgreSQL outbox, relay, RabbitMQ and a consumer process.

    ``consumer_name`` must be new for every run and its queues are deleted right after it:
    a queue left bound to the exchange would keep collecting the next runs' events and hand
    that backlog to whoever consumes it next.
    """
    warm = range(offset, offset + round(rate * args.warmup))
    measured = range(warm.stop, warm.stop + round(rate * args.duration))
    total = len(warm) + len(measured)
    timeout = args.warmup + args.duration + DISTRIBUTED_POLL + 60
    proc = await asyncio.create_subprocess_exec(
        PYTHON, "-m", "bench.event_latency", "--role", "consumer", "--consumer-db", consumer_url,
        "--exchange", exchange, "--queue-prefix", prefix, "--consumer", consumer_name,
        "--expect", str(total), "--timeout", str(timeout), "--measure-from", str(measured.start),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        limit=1 << 26,  # the timings come back as one JSON line of a few hundred KB
    )
    bus = RabbitMqBus(AMQP_URL, exchange=exchange)  # publisher only: no subscriptions
    task: asyncio.Task[None] | None = None
    finished = False
    try:
        assert proc.stdout is not None
        ready = await asyncio.wait_for(proc.stdout.readline(), 60)
        if ready.strip() != b"ready":
            raise RuntimeError(f"consumer did not start: {ready!r}")
        await bus.start()
        relay = OutboxRelay(service="bench-producer", engine=producer,
                                   outbox=tables["outbox"], bus=bus,
                                   poll_interval=DISTRIBUTED_POLL)
        task = asyncio.create_task(relay.run())
        commits: dict[int, float] = {}
        make = _uow_factory(producer, "bench-producer", relay.wake)
        await produce(make, warm, rate, commits, args.producer_concurrency)
        probe = CpuProbe()
        before = probe.sample()
        with BrokerTrouble() as trouble:
            produced = await produce(make, measured, rate, commits, args.producer_concurrency)
            line = await asyncio.wait_for(proc.stdout.readline(), timeout)
        cpu_end = probe.sample()
        seen = json.loads(line)
        finished = True
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await bus.close()
        if proc.returncode is None:
            if not finished:
                proc.terminate()  # our own child, by pid
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await delete_broker_objects([], _consumer_queues(exchange, prefix, [consumer_name]))
    delivered = {int(k): v for k, v in seen["delivered"].items()}
    applied = {int(k): v for k, v in seen["applied"].items()}
    cpu = CpuProbe.diff(before, cpu_end, helpers=seen["cpu_s"])
    return {
        "mode": "distributed",
        "poll_interval_s": DISTRIBUTED_POLL,
        "target_rate": rate,
        **produced,
        "events": len(measured),
        **latency_stats(commits, delivered, applied, measured),
        "cpu": cpu,
        # From its first measured delivery: the consumer process's own CPU seconds.
        "consumer_cpu_s": seen["cpu_s"],
        "broker_warnings": trouble.count + seen["broker_warnings"],
    }


async def publish_throughput(
    bus: RabbitMqBus, sink_queue: str, total: int, batch: int
) -> dict[str, Any]:
    """Publish ``total`` pre-built envelopes in awaited batches of ``batch``; msgs/s."""
    await purge_queue(sink_queue)
    envelopes = [
        Envelope(schema=ThroughputProbe.schema_name,
                 payload=_event(n, ThroughputProbe).to_payload(), producer="bench-producer")
        for n in range(total)
    ]
    probe = CpuProbe()
    before = probe.sample()
    started = time.monotonic()
    error = None
    with BrokerTrouble() as trouble:
        try:
            for i in range(0, total, batch):
                await bus.publish(envelopes[i : i + batch])
        except Exception as exc:  # e.g. the broker connection was cut by someone else
            error = repr(exc)[:300]
    elapsed = time.monotonic() - started
    cpu = CpuProbe.diff(before, probe.sample())
    return {"total": total, "batch": batch, "seconds": elapsed,
            "msgs_per_s": total / elapsed if error is None else float("nan"),
            "cpu": cpu, "error": error, "broker_warnings": trouble.count}


def _rounds(args: argparse.Namespace, part: str) -> int:
    """How many rounds of ``part`` to run: 0 when ``--parts`` leaves it out."""
    if part not in args.parts:
        return 0
    return int(args.latency_rounds if part == "latency" else args.publish_rounds)


async def distributed_suite(args: argparse.Namespace, run_id: str) -> dict[str, Any]:
    """Latency, publish throughput and drain on PostgreSQL + RabbitMQ; cleans up after."""
    exchange = f"okada.bench.{run_id}"
    prefix = f"bench.{run_id}."
    consumers = ["sink"]  # and one consumer per latency run, added below
    out: dict[str, Any] = {"latency": [], "publish": [], "drain": []}
    try:
        async with scratch_postgres("producer") as (producer, _), \
                scratch_postgres("consumer") as (consumer, consumer_url):
            await _create_schema(producer, consumer)
            offset = 0
            for round_no in range(1, _rounds(args, "latency") + 1):
                for rate in args.rates:
                    _progress(f"distributed latency, {rate:g}/s")
                    name = f"bench-consumer-{rate:g}-r{round_no}"
                    consumers.append(name)
                    result = await distributed_latency(producer, consumer_url, exchange, prefix,
                                                       rate, offset, name, args)
                    offset += 1_000_000  # event numbers are primary keys: never reuse them
                    result["round"] = round_no
                    out["latency"].append(result)
                    _progress_latency(result)

            # A bound, unconsumed quorum queue for the throughput runs: declared by a bus
            # that subscribes and then disconnects, so it has the production topology.
            sink = RabbitMqBus(AMQP_URL, exchange=exchange, queue_prefix=prefix)

            async def ignore(envelope: Envelope) -> None:
                return None

            sink.subscribe("sink", [ThroughputProbe.schema_name], ignore)
            await sink.start()
            await sink.close()
            sink_queue = sink.queue_name("sink")
            bus = RabbitMqBus(AMQP_URL, exchange=exchange)
            await bus.start()
            try:
                for round_no in range(1, _rounds(args, "publish") + 1):
                    for total in args.publish_totals:
                        for batch in args.publish_batches:
                            result = await publish_throughput(bus, sink_queue, total, batch)
                            result["round"] = round_no
                            out["publish"].append(result)
                            _progress(f"publish {total} in batches of {batch}: "
                                      f"{result['msgs_per_s']:,.0f} msg/s")
                for batch in args.drain_batches if "drain" in args.parts else ():
                    async with producer.begin() as conn:
                        await conn.execute(sa.delete(tables["outbox"]))
                    await purge_queue(sink_queue)
                    await _fill_outbox(producer, args.drain_rows, ThroughputProbe)
                    relay = OutboxRelay(service="bench-producer", engine=producer,
                                        outbox=tables["outbox"], bus=bus, batch_size=batch)
                    result = await _drain(relay, args.drain_rows)
                    result.update(mode="distributed", batch_size=batch)
                    out["drain"].append(result)
                    _progress(f"distributed drain, batch {batch}: "
                              f"{result['rows_per_s']:,.0f} rows/s")
            finally:
                await bus.close()
    finally:
        await delete_broker_objects(
            [exchange, f"{exchange}.dlx", f"{exchange}.unrouted"],
            [f"{exchange}.unrouted", *_consumer_queues(exchange, prefix, consumers)],
        )
    return out


async def embedded_suite(args: argparse.Namespace) -> dict[str, Any]:
    """Latency and drain on SQLite + in-process bus, in a temporary directory."""
    out: dict[str, Any] = {"latency": [], "drain": []}
    with tempfile.TemporaryDirectory(prefix="okada-events-") as tmp:
        for round_no in range(1, _rounds(args, "latency") + 1):
            for rate in args.rates:
                _progress(f"embedded latency, {rate:g}/s")
                result = await embedded_latency(Path(tmp), rate, f"r{round_no}", args)
                result["round"] = round_no
                out["latency"].append(result)
                _progress_latency(result)
        for batch in args.drain_batches if "drain" in args.parts else ():
            result = await embedded_drain(Path(tmp), batch, args.embedded_drain_rows)
            out["drain"].append(result)
            _progress(f"embedded drain, batch {batch}: {result['rows_per_s']:,.0f} rows/s")
    return out


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _progress_latency(r: dict[str, Any]) -> None:
    d, a = r["delivered_ms"], r["applied_ms"]
    _progress(f"  delivered p50 {d['p50']:.1f} p99 {d['p99']:.1f} ms; applied p50 "
              f"{a['p50']:.1f} p99 {a['p99']:.1f} ms; missing {r['missing']}")


async def run_all(args: argparse.Namespace) -> dict[str, Any]:
    """Run every part and return the raw results."""
    from okada.infra.observability.logging import configure_logging

    # Warnings only, on stderr: info lines (bus.started...) would drown the progress output.
    configure_logging(level="WARNING", json=True, service="bench")
    run_id = uuid.uuid4().hex[:8]
    started = now_utc()
    load_start = os.getloadavg()
    embedded = await embedded_suite(args)
    distributed = await distributed_suite(args, run_id)
    probe_bus = RabbitMqBus(AMQP_URL, exchange=f"okada.bench.{run_id}.version")
    await probe_bus.start()
    broker = ".".join(map(str, probe_bus.broker_version))
    await probe_bus.close()
    await delete_broker_objects(
        [f"okada.bench.{run_id}.version", f"okada.bench.{run_id}.version.dlx",
         f"okada.bench.{run_id}.version.unrouted"],
        [f"okada.bench.{run_id}.version.unrouted"],
    )
    return {
        "started": started,
        "finished": now_utc(),
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "command": command_line(),
        "settings": {
            "rates": args.rates, "duration_s": args.duration, "warmup_s": args.warmup,
            "parts": args.parts, "latency_rounds": args.latency_rounds,
            "producer_concurrency": args.producer_concurrency,
            "publish_totals": args.publish_totals,
            "publish_batches": args.publish_batches, "publish_rounds": args.publish_rounds,
            "drain_rows": args.drain_rows, "embedded_drain_rows": args.embedded_drain_rows,
            "drain_batches": args.drain_batches,
            "embedded_poll_s": EMBEDDED_POLL, "distributed_poll_s": DISTRIBUTED_POLL,
            "relay_batch": RELAY_BATCH,
            "envelope_bytes": len(encode(Envelope(schema=OrderPlaced.schema_name,
                                                  payload=_event(1).to_payload(),
                                                  producer="bench-producer"))),
        },
        "versions": {
            **versions(["sqlalchemy", "asyncpg", "aiosqlite", "aio-pika", "aiormq", "pamqp",
                        "orjson", "pydantic", "uvloop"]),
            "sqlite": sqlite3.sqlite_version,
            "postgresql": await postgres_version(),
            "rabbitmq": broker,
        },
        "embedded": embedded,
        "distributed": distributed,
    }


def render(data: dict[str, Any]) -> str:
    """Render the markdown report."""
    s, v = data["settings"], data["versions"]
    emb, dist = data["embedded"], data["distributed"]
    out = [
        "# Event path: commit-to-handler latency, publish throughput, outbox drain",
        "",
        f"- Date (UTC): {data['started']} to {data['finished']}",
        f"- Command: `{data['command']}`",
        f"- Versions: Python {v['python']}, SQLAlchemy {v['sqlalchemy']}, asyncpg "
        f"{v['asyncpg']}, aiosqlite {v['aiosqlite']} (SQLite {v['sqlite']}), aio-pika "
        f"{v['aio-pika']} (aiormq {v['aiormq']}), PostgreSQL {v['postgresql']}, RabbitMQ "
        f"{v['rabbitmq']}",
        *machine_lines(data["load_average_start"], data["load_average_end"]),
        f"- Machine busy just before the run: {data.get('busy_before_pct', float('nan')):.0f}%",
        f"- Source measured: {', '.join(SOURCE_DIRS)} at {data.get('source', '?')}",
        "- Settings: PostgreSQL `synchronous_commit` and `fsync` at their defaults (on); "
        "SQLite WAL with `synchronous=NORMAL` (okada.infra.db.engine); quorum queues, "
        "persistent messages, publisher confirms, `mandatory` (okada.infra.bus.rabbitmq); "
        "consumer prefetch 50",
        f"- Relay: `OutboxRelay`, batch {s['relay_batch']}, woken on every commit "
        f"(`on_commit=relay.wake`), poll interval {s['embedded_poll_s']} s embedded / "
        f"{s['distributed_poll_s']} s distributed (as `okada.infra.hosting.service_store`)",
        f"- Producer: open loop at {' and '.join(f'{r:g}' for r in s['rates'])} events/s, "
        "one transaction per event (order "
        f"row + outbox row), {s['warmup_s']:g} s warm-up then {s['duration_s']:g} s measured; "
        f"envelope about {s['envelope_bytes']} bytes of JSON",
        "- The box is shared with other engineers' tests: 'others %' is the CPU the rest of the "
        "machine used during the window.",
        "",
        "## Latency: producer commit to consumer (ms)",
        "",
        "'delivered' = the bus calls the consumer's handler; 'applied' = the consumer's "
        "idempotent transaction (inbox row + effect) committed.",
        "",
    ]
    rows = []
    for r in [*emb["latency"], *dist["latency"]]:
        d, a, c = r["delivered_ms"], r["applied_ms"], r["cpu"]
        n = max(1, r["events"])
        dist_only = r["mode"] == "distributed"
        rows.append([
            r["mode"], f"{r['poll_interval_s']:g}",
            f"{r['target_rate']:g} / {r['achieved_rate']:.0f}", r.get("round", 1),
            f"{d['p50']:.1f}", f"{d['p95']:.1f}", f"{d['p99']:.1f}", f"{d['max']:.1f}",
            f"{a['p50']:.1f}", f"{a['p95']:.1f}", f"{a['p99']:.1f}", f"{a['max']:.1f}",
            f"{r['applied_over_100ms_pct']:.1f}", r["missing"] + r["producer_errors"],
            r.get("broker_warnings", "-"),
            f"{c['bench_cpu_s'] * 1000 / n:.2f}",
            f"{c['helpers_cpu_s'] * 1000 / n:.2f}" if dist_only else "(in producer)",
            f"{c['postgres_cpu_s'] * 1000 / n:.2f}" if dist_only else "-",
            f"{c['broker_cpu_s'] * 1000 / n:.2f}" if dist_only else "-",
            f"{c['others_pct']:.0f}",
        ])
    out.append(table(
        ["Mode", "poll s", "events/s target / achieved", "round", "delivered p50",
         "p95",
         "p99", "max", "applied p50", "p95", "p99", "max", "% applied > 100 ms", "lost",
         "AMQP client warnings",
         "producer+relay CPU ms/event", "consumer CPU ms/event", "PostgreSQL CPU ms/event",
         "RabbitMQ CPU ms/event", "others % machine"],
        rows,
    ))
    out += [
        "",
        "Producer transactions run open loop as concurrent tasks (at most "
        f"{s['producer_concurrency']} in flight). CPU columns are per measured event; "
        "PostgreSQL and RabbitMQ CPU are the whole servers over the window, so they include "
        "other clients' work. 'lost' counts events never applied plus failed producer "
        "transactions. 'AMQP client warnings' counts aiormq/aio-pika warnings during the run "
        "(a connection closed by the broker, a reconnect): a non-zero value means the run was "
        "disturbed, e.g. by another suite's fault test cutting every broker connection.",
        "",
        "## Publish throughput with confirms (RabbitMqBus.publish)",
        "",
        "Pre-built envelopes of the throughput schema, published in batches, each batch "
        "awaited (all confirms) before the next, into one bound, unconsumed quorum queue "
        "(purged before each run).",
        "",
    ]
    groups: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for r in dist["publish"]:
        groups.setdefault((r["total"], r["batch"]), []).append(r)
    rows = []
    for (total, batch), runs in sorted(groups.items()):
        good = [r for r in runs if r.get("error") is None]
        rates = [r["msgs_per_s"] for r in good]
        m, lo, hi = median_range(rates)
        rows.append([
            f"{total:,}", batch, f"{len(good)} of {len(runs)}", f"{m:,.0f}",
            f"{lo:,.0f}-{hi:,.0f}",
            fmt(statistics.median(r["cpu"]["bench_cpu_s"] * 1000 / total for r in runs), 3),
            fmt(statistics.median(r["cpu"]["broker_cpu_s"] * 1000 / total for r in runs), 3),
            " / ".join(f"{r['cpu']['others_pct']:.0f}" for r in runs),
            sum(r.get("broker_warnings", 0) for r in runs),
        ])
    out.append(table(
        ["Messages", "Batch", "good runs", "median msg/s", "min-max", "publisher CPU ms/msg",
         "RabbitMQ CPU ms/msg", "others % machine per run", "AMQP client warnings"],
        rows,
    ))
    failed = [r for r in dist["publish"] if r.get("error")]
    if failed:
        out += ["", "Failed publish runs (not in the medians): " + "; ".join(
            f"{r['total']}x{r['batch']} round {r['round']}: {r['error']}" for r in failed)]
    out += [
        "",
        "## Outbox drain (N rows pre-inserted, time until all are published)",
        "",
        "Distributed: PostgreSQL outbox to RabbitMQ (confirms), `FOR UPDATE SKIP LOCKED` "
        "batches. Embedded: SQLite outbox through the in-process bus, which confirms only "
        "when the consumer (idempotent, own SQLite file) has applied the event.",
        "",
    ]
    rows = []
    for r in [*emb["drain"], *dist["drain"]]:
        c = r["cpu"]
        n = max(1, r["published"])
        rows.append([
            r["mode"], f"{r['rows']:,}", r["batch_size"], f"{r['seconds']:.2f}",
            f"{r['rows_per_s']:,.0f}", r["backlog_after"],
            f"{c['bench_cpu_s'] * 1000 / n:.3f}",
            f"{c['postgres_cpu_s'] * 1000 / n:.3f}" if r["mode"] == "distributed" else "-",
            f"{c['broker_cpu_s'] * 1000 / n:.3f}" if r["mode"] == "distributed" else "-",
            f"{c['others_pct']:.0f}", r.get("broker_warnings", 0),
        ])
    out.append(table(
        ["Mode", "rows", "relay batch", "seconds", "rows/s", "left", "Python CPU ms/row",
         "PostgreSQL CPU ms/row", "RabbitMQ CPU ms/row", "others % machine",
         "AMQP client warnings"],
        rows,
    ))
    out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments; run as the benchmark (default) or as its consumer process."""
    parser = argparse.ArgumentParser(description="Event path latency and throughput")
    parser.add_argument("--quick", action="store_true", help="about one minute in total")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="first wait up to this long for the machine to be < 20%% busy")
    # 10/s is the city's design point, 50/s the W6 target, 200/s the stress point.
    parser.add_argument("--rates", type=float, nargs="+", default=[10.0, 50.0, 200.0],
                        help="producer events/s; one latency run per rate and mode")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--parts", nargs="+", choices=("latency", "publish", "drain"),
                        default=["latency", "publish", "drain"], help="what to measure")
    parser.add_argument("--latency-rounds", type=int, default=1,
                        help="repeat the latency runs (every rate) this often")
    parser.add_argument("--producer-concurrency", type=int, default=16,
                        help="most producer transactions in flight at once")
    parser.add_argument("--publish-totals", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--publish-batches", type=int, nargs="+", default=[1, 50, 200])
    parser.add_argument("--publish-rounds", type=int, default=2)
    parser.add_argument("--drain-rows", type=int, default=10000)
    parser.add_argument("--embedded-drain-rows", type=int, default=3000,
                        help="fewer than distributed: every row is also applied by the consumer")
    parser.add_argument("--drain-batches", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--output", type=Path, default=RESULTS / "event_latency.md")
    parser.add_argument("--no-write", action="store_true")
    # Consumer process (internal).
    parser.add_argument("--role", choices=("bench", "consumer"), default="bench",
                        help=argparse.SUPPRESS)
    parser.add_argument("--consumer-db", help=argparse.SUPPRESS)
    parser.add_argument("--exchange", help=argparse.SUPPRESS)
    parser.add_argument("--queue-prefix", help=argparse.SUPPRESS)
    parser.add_argument("--consumer", help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--measure-from", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=120.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    import uvloop

    if args.role == "consumer":
        uvloop.run(run_consumer(args))
        return
    if args.quick:
        args.duration, args.warmup = 8.0, 1.0
        args.publish_totals, args.publish_rounds = [1000], 1
        args.rates = [50.0, 200.0]
        args.drain_rows, args.embedded_drain_rows, args.drain_batches = 2000, 1000, [200]
    busy = wait_until_quiet(args.wait_quiet) if args.wait_quiet else machine_busy_pct()
    data = uvloop.run(run_all(args))
    data["busy_before_pct"] = busy
    data["source"] = source_fingerprint(*SOURCE_DIRS)
    report = render(data)
    print(report)
    if not args.no_write:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report + "\n")
        args.output.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
        _progress(f"wrote {args.output} and {args.output.with_suffix('.json')}")


if __name__ == "__main__":
    main()
