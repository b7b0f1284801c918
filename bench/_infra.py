"""Scratch PostgreSQL databases, broker clean-up and CPU probes for the event benchmarks.

Self-contained on purpose (no import from ``tests``): the benchmarks must keep working while
other engineers change the test helpers.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aio_pika
import asyncpg  # type: ignore[import-untyped]
import psutil
import redis.asyncio as redis
from sqlalchemy.ext.asyncio import AsyncEngine

from okada.infra.db.engine import create_engine, ensure_database

POSTGRES = "postgresql://postgres@127.0.0.1:5432"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
REDIS_URL = "redis://127.0.0.1:6379/0"


@asynccontextmanager
async def scratch_postgres(label: str) -> AsyncIterator[tuple[AsyncEngine, str]]:
    """Yield (engine, url) on a fresh database ``okada_bench_<label>_<hex>``; drop it after."""
    name = f"okada_bench_{label}_{uuid.uuid4().hex[:8]}"
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    await ensure_database(url)
    engine = create_engine(url)
    try:
        yield engine, url
    finally:
        await engine.dispose()
        conn = await asyncpg.connect(f"{POSTGRES}/postgres", timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def postgres_version() -> str:
    """Return the server version string, e.g. ``15.20``."""
    conn = await asyncpg.connect(f"{POSTGRES}/postgres", timeout=10)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def delete_broker_objects(exchanges: Sequence[str], queues: Sequence[str]) -> None:
    """Delete the queues and exchanges a run declared (by exact name; missing ones are fine)."""
    connection = await aio_pika.connect(AMQP_URL, timeout=10)
    try:
        for name in queues:
            channel = await connection.channel()
            try:
                await channel.queue_delete(name)
            except aio_pika.exceptions.ChannelClosed:
                pass  # not there: the channel is closed by the broker, the next one is fresh
            finally:
                if not channel.is_closed:
                    await channel.close()
        for name in exchanges:
            channel = await connection.channel()
            try:
                await channel.exchange_delete(name)
            except aio_pika.exceptions.ChannelClosed:
                pass
            finally:
                if not channel.is_closed:
                    await channel.close()
    finally:
        await connection.close()


async def drop_databases(prefix: str) -> list[str]:
    """Drop every PostgreSQL database whose name starts with ``prefix``; return their names."""
    conn = await asyncpg.connect(f"{POSTGRES}/postgres", timeout=10)
    try:
        rows = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1",
                                prefix + "%")
        for row in rows:
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
        return [row["datname"] for row in rows]
    finally:
        await conn.close()


async def purge_broker(exchange: str, queue_prefix: str) -> list[str]:
    """Delete a topology's queues (by prefix) and exchanges; return the queues' names."""
    listed = subprocess.run(["rabbitmqctl", "-q", "list_queues", "name"], capture_output=True,
                            text=True, timeout=60)
    names = [line.strip() for line in listed.stdout.splitlines()
             if line.strip().startswith((queue_prefix, exchange))]
    await delete_broker_objects([exchange, f"{exchange}.dlx", f"{exchange}.unrouted"], names)
    return names


async def purge_redis(prefix: str) -> int:
    """Delete every Redis key starting with ``prefix`` (in batches); return how many."""
    client = redis.from_url(REDIS_URL)
    deleted = 0
    try:
        keys = [k async for k in client.scan_iter(match=prefix + "*", count=1000)]
        for i in range(0, len(keys), 500):
            deleted += await client.delete(*keys[i : i + 500])
    finally:
        await client.aclose()
    return deleted


async def purge_queue(name: str) -> None:
    """Empty one queue, so every throughput run starts with the same short queue."""
    connection = await aio_pika.connect(AMQP_URL, timeout=10)
    try:
        channel = await connection.channel()
        queue = await channel.get_queue(name, ensure=True)  # passive: never creates it
        await queue.purge()
    finally:
        await connection.close()


def _cpu_by_pid(names: tuple[str, ...]) -> dict[int, float]:
    found: dict[int, float] = {}
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] in names:
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            found[proc.pid] = t.user + t.system
    return found


def _used(a: dict[int, float], b: dict[int, float]) -> float:
    # Per pid, so a backend that exits during the window does not count negative (its time
    # is lost: a small undercount) and one that starts counts in full.
    return sum(cpu - a.get(pid, 0.0) for pid, cpu in b.items())


@dataclass
class CpuSample:
    """CPU seconds at one instant: this process, the broker, PostgreSQL, the machine."""

    wall: float
    own: float
    broker: dict[int, float]
    postgres: dict[int, float]
    machine_busy: float
    machine_total: float


class CpuProbe:
    """Samples CPU time of this process, RabbitMQ (beam.smp) and PostgreSQL (all backends).

    Broker and database figures include whatever other clients (other engineers' tests) made
    them do during the window; the ``others`` share of the machine shows how busy the rest of
    the box was.
    """

    def __init__(self) -> None:
        self._self = psutil.Process()

    def sample(self) -> CpuSample:
        """Take a sample (PostgreSQL backends are listed each time: they come and go)."""
        t = psutil.cpu_times()
        total = sum(t)
        own = self._self.cpu_times()
        return CpuSample(
            wall=time.monotonic(),
            own=own.user + own.system,
            broker=_cpu_by_pid(("beam.smp",)),
            postgres=_cpu_by_pid(("postgres",)),
            machine_busy=total - t.idle - getattr(t, "iowait", 0.0),
            machine_total=total,
        )

    @staticmethod
    def diff(a: CpuSample, b: CpuSample, helpers: float = 0.0) -> dict[str, float]:
        """CPU used between two samples; ``helpers`` is CPU of our own child processes.

        ``helpers`` (measured by the children themselves) is reported apart and kept out of
        ``others_pct``, which is then only what the rest of the box used.
        """
        own = b.own - a.own
        broker = _used(a.broker, b.broker)
        postgres = _used(a.postgres, b.postgres)
        busy = b.machine_busy - a.machine_busy
        total = max(1e-9, b.machine_total - a.machine_total)
        return {
            "wall_s": b.wall - a.wall,
            "bench_cpu_s": own,
            "helpers_cpu_s": helpers,
            "broker_cpu_s": broker,
            "postgres_cpu_s": postgres,
            "machine_busy_pct": 100 * busy / total,
            "others_pct": 100 * max(0.0, busy - own - helpers - broker - postgres) / total,
        }
