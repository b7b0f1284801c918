"""Reservation throughput on PostgreSQL: 20 concurrent clients vs one, on 50 hot products.

Each client loops reserve → release on a basket of 1-3 distinct products drawn from 50 hot
ones (one unit each), through the inventory application layer (``ReservationService`` over the
SQL unit of work: guarded updates, outbox rows, commit). Stock is large, so every reservation
should be held; what is measured is the cost of the guarded-update transaction under row
contention, not shortages. The HTTP stack and the outbox relay are left out on purpose: this
is the transactional core alone (W1/W5 measure the HTTP layer).

Runs are interleaved (1 client, 20 clients, 1, 20, …) on the same database after a warm-up,
as bench rules 1-2 ask, and the report gives the median over the pairs with min-max. The
stock invariant is checked at the end (nothing reserved, on hand untouched).

    .venv/bin/python -m bench.reservations --seconds 10 --pairs 3

It writes ``bench/results/reservations.md`` (``--no-write`` to only print).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import psutil
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

import okada.services.inventory as inventory_package
from bench._common import (
    RESULTS,
    command_line,
    fmt,
    machine_lines,
    median_range,
    now_utc,
    percentile,
    table,
    versions,
)
from okada.infra.db.engine import ensure_database
from okada.infra.db.migrations import upgrade
from okada.kernel.clock import SystemClock
from okada.services.inventory.adapters.orm import metadata, stock_items
from okada.services.inventory.adapters.repositories import InventoryUoW
from okada.services.inventory.application.errors import OutOfStock
from okada.services.inventory.application.reservations import ReservationService, ReserveBasket
from okada.services.inventory.domain.reservation import ReservationPolicy
from okada.services.inventory.domain.stock import StockItem

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432"
ON_HAND = 10_000_000


@dataclass
class Run:
    """One measured run."""

    clients: int
    seconds: float
    reserve_ms: list[float] = field(default_factory=list)
    release_ms: list[float] = field(default_factory=list)
    shortages: int = 0
    errors: int = 0
    cpu_self_s: float = 0.0
    cpu_postgres_s: float = 0.0

    @property
    def reservations_per_s(self) -> float:
        return len(self.reserve_ms) / self.seconds

    def p(self, q: float, which: str = "reserve") -> float:
        values = sorted(self.reserve_ms if which == "reserve" else self.release_ms)
        return percentile(values, q)


def _postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL server process (read only; we never signal them)."""
    total = 0.0
    for proc in psutil.process_iter(["name", "cpu_times"]):
        if proc.info["name"] == "postgres" and proc.info["cpu_times"] is not None:
            total += proc.info["cpu_times"].user + proc.info["cpu_times"].system
    return total


async def _client(service: ReservationService, store: uuid.UUID, products: list[uuid.UUID],
                  rng: random.Random, run: Run, stop_at: float) -> None:
    while time.perf_counter() < stop_at:
        lines = [(p, 1) for p in rng.sample(products, rng.randint(1, 3))]
        order_id = uuid.uuid4()
        started = time.perf_counter()
        try:
            await service.reserve(ReserveBasket(order_id=order_id, store_id=store, lines=lines))
        except OutOfStock:
            run.shortages += 1
            continue
        except Exception:
            run.errors += 1
            continue
        held = time.perf_counter()
        try:
            await service.release(order_id, reason="bench")
        except Exception:
            run.errors += 1
            continue
        done = time.perf_counter()
        if done <= stop_at:  # only cycles that finished inside the window count
            run.reserve_ms.append((held - started) * 1000)
            run.release_ms.append((done - held) * 1000)


async def _measure(service: ReservationService, store: uuid.UUID, products: list[uuid.UUID],
                   clients: int, seconds: float, seed: int) -> Run:
    run = Run(clients=clients, seconds=seconds)
    me = psutil.Process(os.getpid())
    cpu0, pg0 = me.cpu_times(), _postgres_cpu()
    stop_at = time.perf_counter() + seconds
    await asyncio.gather(*(
        _client(service, store, products, random.Random(seed * 1000 + i), run, stop_at)
        for i in range(clients)
    ))
    cpu1, pg1 = me.cpu_times(), _postgres_cpu()
    run.cpu_self_s = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    run.cpu_postgres_s = pg1 - pg0
    return run


async def _setup(engine: AsyncEngine, store: uuid.UUID, count: int) -> list[uuid.UUID]:
    await upgrade(engine, inventory_package.service.migrations, "inventory")
    products = sorted(uuid.uuid4() for _ in range(count))
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    tables = {n: metadata.tables[n] for n in ("outbox", "inbox", "idempotency_keys",
                                               "dead_letters")}
    async with InventoryUoW(service="inventory", sessions=sessions, tables=tables) as uow:
        for product in products:
            await uow.stock.add(StockItem(store_id=store, product_id=product, on_hand=ON_HAND,
                                          reserved=0))
        await uow.commit()
    return products


async def main(args: argparse.Namespace) -> None:
    name = f"okada_bench_reservations_{uuid.uuid4().hex[:8]}"
    url = f"{POSTGRES}/{name}"
    await ensure_database(url)
    engine = create_async_engine(url, pool_size=args.clients, max_overflow=0, pool_timeout=60)
    load_start = os.getloadavg()
    try:
        store = uuid.uuid4()
        products = await _setup(engine, store, args.products)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        tables = {n: metadata.tables[n] for n in ("outbox", "inbox", "idempotency_keys",
                                                   "dead_letters")}
        clock = SystemClock()
        service = ReservationService(
            uow_factory=lambda: InventoryUoW(service="inventory", sessions=sessions,
                                             tables=tables, clock=clock),
            clock=clock, policy=ReservationPolicy())
        await _measure(service, store, products, args.clients, args.warmup, seed=0)
        runs: list[Run] = []
        for pair in range(args.pairs):
            for clients in (1, args.clients):
                run = await _measure(service, store, products, clients, args.seconds,
                                     seed=pair * 2 + clients)
                runs.append(run)
                print(f"pair {pair + 1}: {clients:>2} client(s): "
                      f"{run.reservations_per_s:,.0f} reservations/s, p50 {run.p(50):.2f} ms, "
                      f"p95 {run.p(95):.2f} ms, p99 {run.p(99):.2f} ms, "
                      f"errors {run.errors}, shortages {run.shortages}", flush=True)
        async with engine.connect() as conn:
            row = (await conn.execute(sa.select(
                sa.func.sum(stock_items.c.reserved), sa.func.min(stock_items.c.on_hand),
                sa.func.max(stock_items.c.on_hand)))).one()
            pg_version = str(await conn.scalar(sa.text("SHOW server_version")))
        invariant = (int(row[0]), int(row[1]), int(row[2])) == (0, ON_HAND, ON_HAND)
        report = _report(args, runs, invariant, f"PostgreSQL {pg_version}", load_start,
                         os.getloadavg())
        print(report)
        if not args.no_write:
            RESULTS.mkdir(parents=True, exist_ok=True)
            (RESULTS / "reservations.md").write_text(report)
    finally:
        await engine.dispose()
        conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres", timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def _report(args: argparse.Namespace, runs: list[Run], invariant: bool, pg_version: str,
            load_start: Any, load_end: Any) -> str:
    def med(clients: int, value: Any) -> str:
        values = [value(r) for r in runs if r.clients == clients]
        middle, low, high = median_range(values)
        return f"{fmt(middle)} ({fmt(low)} to {fmt(high)})"

    rows = []
    for clients in (1, args.clients):
        rows.append([
            f"{clients} client{'s' if clients > 1 else ''}",
            med(clients, lambda r: r.reservations_per_s),
            med(clients, lambda r: r.p(50)),
            med(clients, lambda r: r.p(95)),
            med(clients, lambda r: r.p(99)),
            med(clients, lambda r: r.p(50, "release")),
            med(clients, lambda r: r.p(99, "release")),
            med(clients, lambda r: 1000 * r.cpu_self_s / max(1, len(r.reserve_ms))),
            med(clients, lambda r: 1000 * r.cpu_postgres_s / max(1, len(r.reserve_ms))),
            med(clients, lambda r: 100 * r.cpu_self_s / r.seconds),
            med(clients, lambda r: 100 * r.cpu_postgres_s / r.seconds),
        ])
    ratios = [b.reservations_per_s / a.reservations_per_s
              for a, b in zip(runs[::2], runs[1::2], strict=True)]
    ratio, low, high = median_range(ratios)
    errors = sum(r.errors for r in runs)
    shortages = sum(r.shortages for r in runs)
    soft = versions(["sqlalchemy", "asyncpg"])
    lines = [
        "# Reservations on PostgreSQL: 20 concurrent clients vs one",
        "",
        f"Run {now_utc()} with:",
        "",
        "```",
        command_line(),
        "```",
        "",
        f"Each client loops reserve → release of a basket of 1-3 distinct products (one unit "
        f"each) drawn from {args.products} hot products of one store, through "
        "`ReservationService` on the SQL unit of work (guarded `UPDATE … WHERE on_hand - "
        "reserved >= :q` per line in product-id order, reservation rows, outbox rows, commit). "
        "No HTTP, no outbox relay: the transactional core alone. "
        f"{args.pairs} interleaved pairs of {args.seconds:g} s after a {args.warmup:g} s "
        f"warm-up; pool of {args.clients} connections; values are the median over the pairs "
        "(min to max). Latency is per call, closed loop: use it to compare the two columns, not "
        "as an open-loop service latency.",
        "",
        table(
            ["", "reservations/s", "reserve p50 ms", "reserve p95 ms", "reserve p99 ms",
             "release p50 ms", "release p99 ms", "app CPU ms/cycle", "PG CPU ms/cycle",
             "app CPU %", "PG CPU %"],
            rows,
        ),
        "",
        f"- Throughput ratio {args.clients} clients / 1 client: {fmt(ratio)} "
        f"({fmt(low)} to {fmt(high)}).",
        f"- Errors {errors}, shortages {shortages}; invariant after the run (nothing reserved, "
        f"on hand untouched): {'held' if invariant else 'BROKEN'}.",
        "- CPU per cycle (one reserve + one release) is the benchmark process (application "
        "and driver, load generation included) and all PostgreSQL server processes; CPU % is "
        "of one core over the window (100 % = one core busy). The box has 2 cores shared "
        "with PostgreSQL and whatever else runs: see the load average below.",
        *machine_lines(load_start, load_end, {
            "Software": f"{pg_version}; " + ", ".join(f"{k} {v}" for k, v in soft.items()),
            "Settings": "PostgreSQL defaults (fsync and synchronous_commit on), read committed",
        }),
        "",
    ]
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--products", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
