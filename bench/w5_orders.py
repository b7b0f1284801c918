"""W5: order placement over HTTP versus pgbench replaying the same SQL, side by side in one run.

What is compared (performance.md W5, issue #6):

* **direct**: ``POST /v1/orders`` sent straight to the orders service (bearer token verified
  by the service). Cash on delivery, 3 lines, inline address, fresh ``Idempotency-Key`` and
  client order id: orders claims the key, reads its local read models (store, offers, user
  language), gets a quote from delivery over HTTP, reserves the basket at inventory over HTTP
  (one transaction: reservation, lines, guarded stock updates, outbox row), then appends the
  events with the read model and the outbox rows in one transaction, and stores the response
  under the key;
* **gateway**: the same request through the distributed gateway (JWT, deny-list, rate limiter,
  proxy);
* **pgbench**: ``bench/sql/w5_order.sql``, the 21 statements in 9 transactions one checkout
  executes in the orders and inventory databases (captured with ``log_statement = 'all'``;
  see the file), against a copy of this run's two databases in one scratch database
  (``pg_dump``, schemas ``o`` and ``i``), ``-M prepared``, JSON payloads copied from a
  checkout of the same run.

Same client count for the three (``--clients``: HTTP keep-alive connections, each its own
customer, closed loop; pgbench ``-c``). Rounds interleave direct, gateway and pgbench (order
rotated every round); the ratios HTTP/pgbench are taken per round, median (min-max) reported.
Then open loop (fixed arrival rate, latency counted from each request's due time) at
``--load-fraction`` of each HTTP path's median maximum; pgbench runs ``-R`` at the gateway's
rate for comparison. Last, the oversell check: the product's available stock set to 10, 100
buyers order one unit at once through the gateway: exactly 10 answered 201, 90 answered 409,
10 units reserved, none available.

Every window samples CPU seconds of each service process (with its children), PostgreSQL
(every server process, backends that exited in the window included through the postmaster's
children times), RabbitMQ, Redis, this generator and pgbench: CPU ms per placement explains the
ratio on a 2-core box that runs everything.

Topology: ``bench.checkout.topology`` with only what a checkout needs (simulators for the OTP
SMS, identity, catalog, inventory, orders, delivery, the gateway); names unique to the run,
removed at the end (the pgbench copy shares the run's database prefix, so it is dropped too).
The outbox relays run as deployed (their cost is W6's subject).

Command: ``.venv/bin/python -m bench.w5_orders`` (``--quick`` ~2 min). Results:
``bench/results/w5_orders.{md,json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

from bench._common import (
    RESULTS,
    ROOT,
    command_line,
    fmt,
    machine_busy_pct,
    machine_lines,
    median_range,
    now_utc,
    percentile,
    source_fingerprint,
    table,
    versions,
    wait_until_quiet,
)
from bench.checkout import (
    AKWA,
    IP_KEYED_LIMITS,
    Client,
    Topology,
    drain,
    inventory_engine,
    open_stores_after_hours,
    order_body,
    set_available,
    sign_in,
    stock_of,
    topology,
)

SQL = ROOT / "bench" / "sql" / "w5_order.sql"
POSTGRES = "postgresql://postgres@127.0.0.1:5432"
SERVICES = ["identity", "catalog", "inventory", "orders", "delivery"]
RATIO_GOAL = 0.5
TAIL_GOAL = 4.0  # p99 <= 4 x p50 at 50% load
OVERSELL_BUYERS = 100
OVERSELL_UNITS = 10
# Gateway policies lifted for the run (the GCRA script still runs on every request): the
# IP-keyed ones (every customer comes from 127.0.0.1) and "money" (30 orders a minute per
# customer: each bench customer places orders back to back).
RAISED_LIMITS = (*IP_KEYED_LIMITS, "money")


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- CPU --------------------------------------------------------------------------------------


def _tree_cpu(pid: int) -> float:
    total = 0.0
    with contextlib.suppress(psutil.Error):
        parent = psutil.Process(pid)
        for proc in [parent, *parent.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                total += t.user + t.system
    return total


def _by_name(name: str) -> dict[int, float]:
    found: dict[int, float] = {}
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] == name:
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                found[proc.pid] = t.user + t.system
    return found


def _postmaster_children() -> float:
    """CPU of PostgreSQL backends that already exited (pgbench's close at the end of a run):
    the postmaster reaps them, so their time lands in its children's times."""
    for proc in psutil.process_iter(["name", "ppid"]):
        if proc.info["name"] != "postgres":
            continue
        with contextlib.suppress(psutil.Error):
            if psutil.Process(proc.info["ppid"]).name() != "postgres":
                t = proc.cpu_times()
                return float(t.children_user + t.children_system)
    return 0.0


class CpuWindow:
    """CPU seconds used between ``start()`` and ``stop()`` by every process that matters."""

    def __init__(self, topo: Topology) -> None:
        self._topo = topo

    def _sample(self) -> dict[str, Any]:
        own = psutil.Process().cpu_times()
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = psutil.cpu_times()
        return {
            "procs": {name: _tree_cpu(p.pid) for name, p in self._topo.procs.items()},
            "postgres": _by_name("postgres"),
            "postmaster_children": _postmaster_children(),
            "rabbitmq": _by_name("beam.smp"),
            "redis": _by_name("redis-server"),
            "generator": own.user + own.system,
            # pgbench is our child: its time arrives here once it has been waited for.
            "pgbench": kids.ru_utime + kids.ru_stime,
            "busy": sum(t) - t.idle - getattr(t, "iowait", 0.0),
            "total": sum(t),
            "wall": time.monotonic(),
        }

    def start(self) -> None:
        self._a = self._sample()

    def stop(self) -> dict[str, float]:
        a, b = self._a, self._sample()
        used = {name: b["procs"][name] - a["procs"].get(name, 0.0) for name in b["procs"]}
        # Per pid; a backend that exited in the window: its whole time moved to the
        # postmaster's children, so its time before the window is taken off again.
        pg = sum(cpu - a["postgres"].get(pid, 0.0) for pid, cpu in b["postgres"].items())
        pg -= sum(cpu for pid, cpu in a["postgres"].items() if pid not in b["postgres"])
        pg += b["postmaster_children"] - a["postmaster_children"]
        used["postgres"] = pg
        for name in ("rabbitmq", "redis"):
            used[name] = sum(cpu - a[name].get(pid, 0.0) for pid, cpu in b[name].items())
        used["generator"] = b["generator"] - a["generator"]
        used["pgbench"] = b["pgbench"] - a["pgbench"]
        busy = b["busy"] - a["busy"]
        total = max(1e-9, b["total"] - a["total"])
        used["_machine_pct"] = 100 * busy / total
        used["_others_pct"] = 100 * max(0.0, busy - sum(
            v for k, v in used.items() if not k.startswith("_"))) / total
        used["_wall"] = b["wall"] - a["wall"]
        # Another user of the box may restart the shared broker (fault tests): flagged, since
        # the relays then fail and retry instead of publishing.
        used["_broker_restarted"] = float(set(a["rabbitmq"]) != set(b["rabbitmq"]))
        return used


def per_unit_ms(cpu: dict[str, float], units: int) -> dict[str, float]:
    """CPU ms per placement (or per pgbench transaction), per process; idle ones left out."""
    return {k: 1000 * v / max(units, 1) for k, v in cpu.items()
            if not k.startswith("_") and v > 0.0005}


# -- setup ------------------------------------------------------------------------------------


class Bench:
    """What the measurements need: clients, customers, the store and its products."""

    def __init__(self, topo: Topology, args: argparse.Namespace) -> None:
        self.topo = topo
        self.args = args
        self.direct_url = f"http://127.0.0.1:{topo.port('orders')}"
        self.customers: list[tuple[str, str]] = []
        self.store_id = ""
        self.products: list[str] = []
        self.rng = random.Random(5)
        self.engine: Any = None
        self.sample: dict[str, Any] = {}

    def headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "Idempotency-Key": f"w5-{uuid.uuid4()}",
                "Accept-Language": "fr"}

    async def prepare(self, client: Client) -> None:
        """Find the store, give it stock, sign customers in, wait until a checkout passes."""
        stores = (await client.get("/v1/catalog/stores", params={"lat": AKWA[0],
                                                                  "lng": AKWA[1]})).json()
        self.store_id = stores["data"][0]["id"]
        page = (await client.get(f"/v1/catalog/stores/{self.store_id}/products",
                                 params={"limit": 100})).json()
        self.products = [p["id"] for p in page["data"]][: self.args.products]
        if len(self.products) < 10:
            raise RuntimeError(f"the demo store has too few products: {len(self.products)}")
        self.engine = await inventory_engine(self.topo)
        await set_available(self.engine, self.store_id, None, 10_000_000)
        count = max(self.args.clients, self.args.customers)
        await open_stores_after_hours(self.topo)
        progress(f"signing {count} customers in")
        self.customers = await sign_in(client, count)
        # Orders learns the catalog from catalog's events: wait until a checkout passes.
        deadline = time.monotonic() + 240
        while True:
            token, phone = self.customers[0]
            body = order_body(self.store_id, self.products, phone, self.rng)
            key = f"w5-probe-{uuid.uuid4()}"
            answer = await client.post("/v1/orders", json=body, headers={
                **self.headers(token), "Idempotency-Key": key})
            if answer.status_code == 201:
                self.sample = {"order_id": body["id"], "key": key, "contact": phone}
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"no checkout succeeds: {answer.status_code} {answer.text}")
            await asyncio.sleep(2)
        backlog = await drain(self.topo, 240)
        progress(f"first checkout placed; queues drained (backlog left {backlog})")


# -- HTTP load --------------------------------------------------------------------------------


async def closed_http(bench: Bench, base_url: str, clients: int, duration: float,
                      warmup: float) -> dict[str, Any]:
    """``clients`` customers each place orders back to back; count the 201s that complete
    inside the measured window (after ``warmup`` s)."""
    client = Client(base_url, timeout=60, connections=clients)
    loop = asyncio.get_running_loop()
    cpu = CpuWindow(bench.topo)
    start = loop.time()
    t0, t1 = start + warmup, start + warmup + duration
    done: list[tuple[float, float, int]] = []
    errors: list[str] = []

    async def worker(i: int) -> None:
        token, phone = bench.customers[i]
        rng = random.Random(i * 7919 + int(start))
        while loop.time() < t1:
            body = order_body(bench.store_id, bench.products, phone, rng)
            sent = loop.time()
            try:
                answer = await client.post("/v1/orders", json=body, headers=bench.headers(token))
                status = answer.status_code
                if status != 201 and len(errors) < 5:
                    errors.append(f"{status} {answer.text[:160]}")
            except Exception as exc:  # a transport error counts as a failed placement
                status = 0
                if len(errors) < 5:
                    errors.append(repr(exc)[:160])
            done.append((sent, loop.time(), status))
            if status != 201:
                await asyncio.sleep(0.05)  # a refusal is instant: do not spin on it

    async def window() -> dict[str, float]:
        await asyncio.sleep(max(0.0, t0 - loop.time()))
        cpu.start()
        await asyncio.sleep(max(0.0, t1 - loop.time()))
        return cpu.stop()

    try:
        measured = asyncio.create_task(window())
        await asyncio.gather(measured, *(worker(i) for i in range(clients)))
        used = measured.result()
    finally:
        await client.aclose()
    inside = [(s, e, st) for s, e, st in done if t0 <= e <= t1]
    ok = [e - s for s, e, st in inside if st == 201]
    lat = sorted(1000 * x for x in ok)
    return {
        "throughput": len(ok) / duration,
        "placed": len(ok),
        "failed": sum(1 for *_, st in inside if st != 201),
        "mean_ms": statistics.fmean(lat) if lat else None,
        "p50_ms": percentile(lat, 50) if lat else None,
        "p99_ms": percentile(lat, 99) if lat else None,
        "cpu_s": used,
        "cpu_ms": per_unit_ms(used, len(ok)),
        "errors": errors,
    }


async def open_http(bench: Bench, base_url: str, rate: float, duration: float,
                    connections: int) -> dict[str, Any]:
    """Open loop: placement i is due at t0 + i/rate; its latency counts from that instant."""
    client = Client(base_url, timeout=60, connections=connections)
    loop = asyncio.get_running_loop()
    cpu = CpuWindow(bench.topo)
    total = max(1, int(rate * duration))
    statuses: dict[str, int] = {}
    lat: list[float] = []
    rng = random.Random(int(rate * 1000))

    async def one(i: int, due: float) -> None:
        token, phone = bench.customers[i % len(bench.customers)]
        body = order_body(bench.store_id, bench.products, phone, rng)
        try:
            status = (await client.post("/v1/orders", json=body,
                                        headers=bench.headers(token))).status_code
        except Exception:  # counted as status 0
            status = 0
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if status == 201:
            lat.append(1000 * (loop.time() - due))

    tasks = []
    try:
        cpu.start()
        t0 = loop.time() + 0.05
        for i in range(total):
            due = t0 + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
        used = cpu.stop()
    finally:
        await client.aclose()
    lat.sort()
    return {"rate": rate, "sent": total, "statuses": statuses, **latency_summary(lat),
            "cpu_ms": per_unit_ms(used, statuses.get("201", 0)),
            "machine_pct": used["_machine_pct"], "others_pct": used["_others_pct"],
            "broker_restarted": bool(used["_broker_restarted"])}


def latency_summary(lat: list[float]) -> dict[str, float | None]:
    """p50/p95/p99/max of sorted latencies (ms), ``None`` when there are none."""
    if not lat:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    return {"p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95),
            "p99_ms": percentile(lat, 99), "max_ms": lat[-1]}


# -- pgbench ----------------------------------------------------------------------------------


def _psql(url: str, sql: str, stdin: bytes | None = None) -> None:
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, *(
        ["-c", sql] if sql else ["-f", "-"])], input=stdin, check=True, capture_output=True,
        timeout=600)


async def pgbench_database(bench: Bench) -> dict[str, str]:
    """Copy the run's orders and inventory databases into one scratch database (schemas
    ``o`` and ``i``) and return the ``-D`` variables of ``w5_order.sql``: ids and the JSON
    payloads of a checkout of this run."""
    import asyncpg  # type: ignore[import-untyped]

    prefix = bench.topo.env["OKADA_DATABASE_PREFIX"]
    target = f"{POSTGRES}/{prefix}pgbench"
    admin = await asyncpg.connect(f"{POSTGRES}/postgres", timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{prefix}pgbench"')
    finally:
        await admin.close()
    for source, schema in (("orders", "o"), ("inventory", "i")):
        dump = subprocess.run(["pg_dump", "--no-owner", "--no-privileges", "-d",
                               f"{POSTGRES}/{prefix}{source}"], check=True, capture_output=True,
                              timeout=600).stdout
        await asyncio.to_thread(_psql, target, "", dump)
        await asyncio.to_thread(_psql, target,
                                f"ALTER SCHEMA public RENAME TO {schema}; CREATE SCHEMA public;")
    order_id = bench.sample["order_id"]
    conn = await asyncpg.connect(target, timeout=10)
    try:
        await conn.execute("CREATE TABLE public.bench_products (product_id uuid PRIMARY KEY)")
        await conn.executemany("INSERT INTO public.bench_products VALUES ($1::uuid)",
                               [(p,) for p in bench.products])
        await conn.execute("UPDATE i.stock_items SET on_hand = reserved + 10000000")
        await conn.execute("ANALYZE")
        placed = await conn.fetchrow(
            "SELECT data::text AS data, actor_id FROM o.order_events "
            "WHERE stream_id = $1 AND version = 1", uuid.UUID(order_id))
        view = await conn.fetchrow("SELECT state::text AS state, contact_phone "
                                   "FROM o.orders_view WHERE order_id = $1", uuid.UUID(order_id))
        envelopes = {row["schema"]: row["envelope"] for row in await conn.fetch(
            "SELECT schema, envelope::text AS envelope FROM o.outbox WHERE aggregate_id = $1 "
            "UNION ALL SELECT schema, envelope::text FROM i.outbox WHERE aggregate_id = $1",
            order_id)}
        stored = await conn.fetchrow(
            "SELECT fingerprint, response_headers::text AS headers, response_body "
            "FROM o.idempotency_keys WHERE key = $1", bench.sample["key"])
    finally:
        await conn.close()
    if placed is None or view is None or stored is None or len(envelopes) < 3:
        raise RuntimeError(f"the sample checkout {order_id} is incomplete in the copy")
    return {
        "store": bench.store_id,
        "customer": str(placed["actor_id"]),
        "contact": str(view["contact_phone"]),
        "fingerprint": str(stored["fingerprint"]),
        "event_placed": str(placed["data"]),
        "view_state": str(view["state"]),
        "env_reserved": envelopes["inventory.v1.StockReserved"],
        "env_placed": envelopes["orders.v1.OrderPlaced"],
        "env_confirmed": envelopes["orders.v1.OrderConfirmed"],
        "resp_headers": str(stored["headers"]),
        "resp_body": str(stored["response_body"]),
    }


def _pgbench_command(bench: Bench, variables: dict[str, str], clients: int,
                     duration: float, extra: list[str]) -> list[str]:
    prefix = bench.topo.env["OKADA_DATABASE_PREFIX"]
    command = ["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", "1",
               "-T", str(max(1, round(duration))), "-f", str(SQL), *extra]
    for name, value in variables.items():
        command += ["-D", f"{name}={value}"]
    return [*command, f"{POSTGRES}/{prefix}pgbench"]


def _pgbench_figure(pattern: str, output: str) -> str:
    """The first group of ``pattern`` in pgbench's report; a clear error if it is missing."""
    found = re.search(pattern, output)
    if found is None:
        raise RuntimeError(f"pgbench report without {pattern!r}: {output[-2000:]}")
    return found.group(1)


def closed_pgbench(bench: Bench, variables: dict[str, str], clients: int,
                   duration: float) -> dict[str, Any]:
    """pgbench at full speed for ``duration`` s; TPS as pgbench counts it (connections
    excluded), CPU over the whole run (connections included: a few ms)."""
    cpu = CpuWindow(bench.topo)
    cpu.start()
    done = subprocess.run(_pgbench_command(bench, variables, clients, duration, []),
                          capture_output=True, text=True, timeout=duration + 120)
    used = cpu.stop()
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed: {done.stderr[-2000:]}")
    tps = float(_pgbench_figure(r"tps = ([\d.]+)", done.stdout))
    mean = re.search(r"latency average = ([\d.]+) ms", done.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    count = int(_pgbench_figure(r"number of transactions actually processed: (\d+)",
                                done.stdout))
    aborted = len(re.findall(r"client \d+ aborted", done.stderr))
    return {"throughput": tps, "placed": count, "aborted_clients": aborted,
            "failed": int(failed.group(1)) if failed else 0,
            "mean_ms": float(mean.group(1)) if mean else None, "cpu_s": used,
            "cpu_ms": per_unit_ms(used, count), "errors": []}


def open_pgbench(bench: Bench, variables: dict[str, str], rate: float, duration: float,
                 clients: int) -> dict[str, Any]:
    """pgbench ``-R rate``: each transaction's latency counts from its scheduled start (the
    per-transaction log's time includes the schedule lag)."""
    logdir = Path(tempfile.mkdtemp(prefix="w5-pgbench-"))
    cpu = CpuWindow(bench.topo)
    cpu.start()
    done = subprocess.run(
        _pgbench_command(bench, variables, clients, duration,
                         ["-R", f"{rate:.2f}", "-l", f"--log-prefix={logdir}/tx"]),
        capture_output=True, text=True, timeout=duration + 120)
    used = cpu.stop()
    try:
        if done.returncode != 0:
            raise RuntimeError(f"pgbench -R failed: {done.stderr[-2000:]}")
        lat: list[float] = []
        for path in logdir.iterdir():
            for line in path.read_text().splitlines():
                fields = line.split()
                if len(fields) >= 6 and fields[2] not in ("skipped", "failed"):
                    lat.append(int(fields[2]) / 1000)
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    lat.sort()
    return {"rate": rate, "sent": len(lat), "statuses": {"ok": len(lat)},
            **latency_summary(lat), "cpu_ms": per_unit_ms(used, len(lat)),
            "machine_pct": used["_machine_pct"], "others_pct": used["_others_pct"],
            "broker_restarted": bool(used["_broker_restarted"])}


# -- oversell ---------------------------------------------------------------------------------


async def oversell(bench: Bench) -> dict[str, Any]:
    """100 buyers order one unit each of a product with 10 units left, all at once, through
    the gateway. Business rule: never more sold (201) or reserved than available."""
    product = bench.products[-1]
    await set_available(bench.engine, bench.store_id, [product], OVERSELL_UNITS)
    before = (await stock_of(bench.engine, bench.store_id))[product]
    client = Client(bench.topo.url, timeout=60, connections=OVERSELL_BUYERS)
    rng = random.Random(11)
    try:
        async def one(i: int) -> int:
            token, phone = bench.customers[i % len(bench.customers)]
            body = order_body(bench.store_id, [product], phone, rng, lines=1)
            body["lines"][0]["quantity"] = 1
            return (await client.post("/v1/orders", json=body,
                                      headers=bench.headers(token))).status_code

        statuses = await asyncio.gather(*(one(i) for i in range(OVERSELL_BUYERS)))
    finally:
        await client.aclose()
    after = (await stock_of(bench.engine, bench.store_id))[product]
    counts: dict[str, int] = {}
    for status in statuses:
        counts[str(status)] = counts.get(str(status), 0) + 1
    reserved = after[1] - before[1]
    available = after[0] - after[1]
    return {
        "buyers": OVERSELL_BUYERS, "units": OVERSELL_UNITS, "statuses": counts,
        "reserved_delta": reserved, "available_after": available,
        "oversold": counts.get("201", 0) > OVERSELL_UNITS or reserved > OVERSELL_UNITS
        or available < 0,
        # The goal: exactly the 10 units sold (201 and held), none available after.
        "ok": counts.get("201", 0) == OVERSELL_UNITS and reserved == OVERSELL_UNITS
        and available == 0,
        # Stricter: every other buyer told "out of stock" (a 504 from an overloaded gateway
        # leaves the buyer to retry with the same key; it sold nothing: reserved says so).
        "all_answered": counts.get("201", 0) + counts.get("409", 0) == OVERSELL_BUYERS,
    }


# -- the run ----------------------------------------------------------------------------------


async def measure(args: argparse.Namespace, topo: Topology) -> dict[str, Any]:
    bench = Bench(topo, args)
    gateway = Client(topo.url, timeout=60, connections=32)
    try:
        await bench.prepare(gateway)
    finally:
        await gateway.aclose()
    try:
        progress("copying the orders and inventory databases for pgbench")
        variables = await pgbench_database(bench)
        paths = {"direct": bench.direct_url, "gateway": topo.url}
        progress(f"warm-up {args.warmup:.0f} s per path")
        for url in paths.values():
            await closed_http(bench, url, args.clients, args.warmup, 1.0)
        await asyncio.to_thread(closed_pgbench, bench, variables, args.clients, args.warmup)
        rounds: list[dict[str, Any]] = []
        order = ["direct", "gateway", "pgbench"]
        for r in range(args.rounds):
            shift = r % len(order)
            this = order[shift:] + order[:shift]
            result: dict[str, Any] = {}
            for name in this:
                if name == "pgbench":
                    result[name] = await asyncio.to_thread(
                        closed_pgbench, bench, variables, args.clients, args.duration)
                else:
                    result[name] = await closed_http(bench, paths[name], args.clients,
                                                     args.duration, args.ramp)
                if args.drain:  # the next window starts with empty queues
                    await drain(topo, 60)
            result["order"] = this
            rounds.append(result)
            progress(f"round {r + 1}/{args.rounds}: " + ", ".join(
                f"{n} {result[n]['throughput']:.1f}/s" for n in this))
        medians = {n: statistics.median(r[n]["throughput"] for r in rounds) for n in order}
        latency: dict[str, Any] = {}
        rates = {n: max(0.5, args.load_fraction * medians[n]) for n in ("direct", "gateway")}
        for name in ("direct", "gateway"):
            progress(f"open loop {name} at {rates[name]:.1f}/s for {args.open_duration:.0f} s")
            latency[name] = await open_http(bench, paths[name], rates[name], args.open_duration,
                                            4 * args.clients)
            if args.drain:
                await drain(topo, 60)
        progress(f"open loop pgbench at {rates['gateway']:.1f}/s")
        latency["pgbench"] = await asyncio.to_thread(
            open_pgbench, bench, variables, rates["gateway"], args.open_duration, args.clients)
        progress(f"oversell check: {OVERSELL_BUYERS} buyers, {OVERSELL_UNITS} units")
        last_ten = await oversell(bench)
    finally:
        if bench.engine is not None:
            await bench.engine.dispose()
    return {"rounds": rounds, "medians": medians, "rates": rates, "latency": latency,
            "oversell": last_ten, "store_id": bench.store_id, "products": len(bench.products),
            "statements": statement_count()}


def statement_count() -> dict[str, int]:
    """Statements and explicit transactions of the pgbench script (the \\gset stand-in for
    Python's id generation excluded): every statement starts a line with its keyword."""
    lines = SQL.read_text().splitlines()
    sql = [x for x in lines if re.match(r"(INSERT|SELECT|UPDATE) ", x)]
    return {"statements": len(sql) - 1,
            "explicit_transactions": sum(1 for x in lines if x.startswith("BEGIN"))}


def bench_versions() -> dict[str, str]:
    found = versions(["fastapi", "starlette", "uvicorn", "sqlalchemy", "asyncpg", "aiohttp",
                      "aio-pika", "redis"])
    for name, command in (("postgresql", ["psql", "-X", "-At", "-d", f"{POSTGRES}/postgres",
                                          "-c", "SHOW server_version"]),
                          ("pgbench", ["pgbench", "--version"])):
        with contextlib.suppress(Exception):
            found[name] = subprocess.run(command, capture_output=True, text=True,
                                         timeout=30).stdout.strip()
    return found


# -- report -----------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _restarts(result: dict[str, Any], paths: tuple[str, ...]) -> str:
    hit = [p for p in paths if result[p]["cpu_s"].get("_broker_restarted")]
    return ("**yes** (" + ", ".join(hit) + ")") if hit else "no"


def ratios(rounds: list[dict[str, Any]], path: str) -> list[float]:
    return [r[path]["throughput"] / r["pgbench"]["throughput"] for r in rounds
            if r["pgbench"]["throughput"] > 0]


def cpu_table(rounds: list[dict[str, Any]], paths: list[str]) -> str:
    """Median CPU ms per placement per process, over the rounds."""
    procs = sorted({k for r in rounds for p in paths for k in r[p]["cpu_ms"]})
    rows = []
    for path in paths:
        cells = []
        for proc in procs:
            values = [r[path]["cpu_ms"].get(proc, 0.0) for r in rounds]
            cells.append(f"{statistics.median(values):.2f}")
        total = statistics.median(sum(r[path]["cpu_ms"].values()) for r in rounds)
        rows.append([path, *cells, f"**{total:.1f}**"])
    return table(["path", *procs, "total"], rows)


def render(data: dict[str, Any]) -> str:
    res, s = data["result"], data["settings"]
    rounds = res["rounds"]
    out = [
        "# W5: order placement over HTTP vs pgbench with the same SQL",
        "",
        f"- Date (UTC): {data['started']} to {data['finished']} ({data['elapsed_s']:.0f} s)",
        f"- Command: `{data['command']}`",
        f"- Run `{data['run']}`; measured source {data['source']}",
        *machine_lines(data["load_start"], data["load_end"], data["versions"]),
        f"- Machine busy just before the run: {data['busy_before_pct']:.0f}%",
        f"- Topology: {', '.join(SERVICES)}, simulators and the gateway, one uvicorn process "
        "each, not pinned; PostgreSQL, RabbitMQ and Redis are the box's shared servers; "
        "outbox relays on (as deployed).",
        f"- Placement: `POST /v1/orders`, cash on delivery, 3 lines of {res['products']} "
        "products, inline address, fresh Idempotency-Key and order id. pgbench: "
        f"`bench/sql/w5_order.sql`, {res['statements']['statements']} statements of which "
        f"{res['statements']['explicit_transactions']} explicit transactions + autocommit "
        "ones, `-M prepared`, on a copy of the run's orders + inventory databases.",
        f"- Closed loop: {s['rounds']} rounds of direct, gateway, pgbench (order rotated), "
        f"{s['duration']:.0f} s windows, {s['clients']} clients each (HTTP: keep-alive "
        f"connections, one customer each; pgbench -c {s['clients']} -j 1). Open loop: "
        f"{s['open_duration']:.0f} s at {s['load_fraction']:.0%} of each HTTP path's median "
        "maximum; pgbench -R at the gateway's rate.",
        "",
    ]
    verdict_rows = []
    tail_ok = {}
    for path in ("direct", "gateway"):
        m, lo, hi = median_range(ratios(rounds, path))
        lat = res["latency"][path]
        tail = (lat["p99_ms"] / lat["p50_ms"]) if lat["p50_ms"] else float("nan")
        tail_ok[path] = tail <= TAIL_GOAL
        verdict_rows.append([
            f"{path} / pgbench", f"{res['medians'][path]:.1f}", f"{res['medians']['pgbench']:.0f}",
            f"**{fmt(m, 3)}** ({fmt(lo, 3)}-{fmt(hi, 3)})",
            "met" if m >= RATIO_GOAL else "**NOT met**",
            f"{lat['rate']:.1f}/s", f"{_ms(lat['p50_ms'])} / {_ms(lat['p95_ms'])} / "
            f"{_ms(lat['p99_ms'])}", f"{fmt(tail, 1)}x",
            "met" if tail_ok[path] else "**NOT met**",
        ])
    ov = res["oversell"]
    out += [
        "## Report row",
        "",
        table(["ratio", "placements/s (median)", "pgbench TPS (median)", "ratio median (min-max)",
               f"goal >= {RATIO_GOAL}", "open-loop rate", "p50 / p95 / p99 ms", "p99/p50",
               f"goal p99 <= {TAIL_GOAL:.0f}x p50"], verdict_rows),
        "",
        f"**Oversell** ({ov['buyers']} concurrent buyers, {ov['units']} units, through the "
        f"gateway): {ov['statuses']}, reserved +{ov['reserved_delta']}, available after "
        f"{ov['available_after']}: "
        f"{'met (exactly 10 sold, 0 oversold)' if ov['ok'] else '**NOT met**'}"
        f"{' - OVERSOLD' if ov['oversold'] else ''}"
        f"{'' if ov['all_answered'] else '; not every other buyer got its 409 in time'}.",
        "",
        "## Closed-loop rounds",
        "",
        table(["round", "order", "direct /s", "gateway /s", "pgbench TPS", "direct/pgbench",
               "gateway/pgbench", "failed (d/g/pgb)", "others % (d/g/pgb)",
               "broker restarted"],
              [[i + 1, ",".join(r["order"]), f"{r['direct']['throughput']:.1f}",
                f"{r['gateway']['throughput']:.1f}", f"{r['pgbench']['throughput']:.0f}",
                fmt(r["direct"]["throughput"] / max(r["pgbench"]["throughput"], 1e-9), 3),
                fmt(r["gateway"]["throughput"] / max(r["pgbench"]["throughput"], 1e-9), 3),
                "/".join(str(r[p]["failed"]) for p in ("direct", "gateway", "pgbench"))
                + (f" ({r['pgbench']['aborted_clients']} pgbench clients aborted)"
                   if r["pgbench"].get("aborted_clients") else ""),
                "/".join(f"{r[p]['cpu_s']['_others_pct']:.0f}"
                         for p in ("direct", "gateway", "pgbench")),
                _restarts(r, ("direct", "gateway", "pgbench"))]
               for i, r in enumerate(rounds)]),
        "",
        "## CPU ms per placement (pgbench: per transaction = one checkout's SQL), median",
        "",
        cpu_table(rounds, ["direct", "gateway", "pgbench"]),
        "",
        "`postgres` counts every PostgreSQL process of the shared server (other users "
        "included, see 'others %'); `generator` is this benchmark's aiohttp client; `pgbench` "
        "the pgbench client. The HTTP rows' `postgres` figure against pgbench's is the cost "
        "of the same SQL sent by the services (plus the relays' and background polls' "
        "queries); the rest of the gap is Python: the services' own CPU.",
        "",
        "## Open loop (latency from the due time)",
        "",
        table(["path", "rate /s", "sent", "statuses", "p50 ms", "p95 ms", "p99 ms", "max ms",
               "machine %", "others %", "broker restarted"],
              [[p, f"{x['rate']:.1f}", x["sent"], x["statuses"], _ms(x["p50_ms"]),
                _ms(x["p95_ms"]), _ms(x["p99_ms"]), _ms(x["max_ms"]),
                f"{x['machine_pct']:.0f}", f"{x['others_pct']:.0f}",
                "**yes**" if x.get("broker_restarted") else "no"]
               for p, x in res["latency"].items()]),
    ]
    errors = [e for r in rounds for p in ("direct", "gateway") for e in r[p]["errors"]]
    if errors:
        out += ["", "## Sample of failed placements", "", *(f"- `{e}`" for e in errors[:8])]
    out += ["", f"Clean-up: {data.get('cleanup')}"]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=60.0, help="closed-loop window, s")
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--ramp", type=float, default=2.0,
                        help="s of load before each closed-loop window")
    parser.add_argument("--open-duration", type=float, default=60.0)
    parser.add_argument("--load-fraction", type=float, default=0.5)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--customers", type=int, default=32)
    parser.add_argument("--products", type=int, default=30)
    parser.add_argument("--port-offset", type=int, default=3500)
    parser.add_argument("--wait-quiet", type=float, default=0.0)
    parser.add_argument("--no-drain", dest="drain", action="store_false",
                        help="do not wait for empty queues between windows (rabbitmqctl)")
    parser.add_argument("--quick", action="store_true", help="~2 min: short windows, 2 rounds")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup, args.drain = 2, 8.0, 2.0, False
        args.open_duration, args.ramp, args.customers = 8.0, 1.0, 16
    args.services = SERVICES
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.wait_quiet:
        wait_until_quiet(args.wait_quiet)
    started, t_start = now_utc(), time.monotonic()
    data: dict[str, Any] = {"command": command_line(), "started": started,
                            "load_start": os.getloadavg(), "busy_before_pct": machine_busy_pct(),
                            "source": source_fingerprint("src/okada", "bench"),
                            "settings": {k: v for k, v in vars(args).items() if k != "services"}}
    logdir = Path(tempfile.mkdtemp(prefix="okada-bench-w5-"))
    with topology(args, logdir, label="w5", raised=RAISED_LIMITS) as topo:
        data["run"] = topo.run
        data["result"] = asyncio.run(measure(args, topo))
    data["cleanup"] = topo.env.get("cleanup")
    data["finished"], data["elapsed_s"] = now_utc(), time.monotonic() - t_start
    data["load_end"] = os.getloadavg()
    data["versions"] = bench_versions()
    report = render(data)
    print(report)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "w5_orders.json").write_text(json.dumps(data, indent=1, default=str))
        (RESULTS / "w5_orders.md").write_text(report)


if __name__ == "__main__":
    main()
