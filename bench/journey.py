"""W14: the realistic load mix at fixed arrival rates, distributed mode, through the gateway.

What a city's peak looks like to the platform, scaled to what this box carries. The mix keeps
the proportions of the design point in /work/shared/reference/performance.md (2.14, W14: 10
orders/s, 700 API requests/s, 240 rider location updates/s), i.e. per order placed:

====================  =====  ==========================================================
kind                  count  request
====================  =====  ==========================================================
home                      6  ``GET /v1/app/home?lat=&lng=`` (signed in; a GPS point)
catalog                  24  ``GET /v1/catalog/stores/{id}/products?category=&limit=20``
product                  12  ``GET /v1/catalog/products/{id}``
checkout                  1  ``POST /v1/orders`` (3 lines; cash or MTN MoMo)
order                     6  ``GET /v1/orders/{id}`` (status poll of a recent own order)
tracking                 13  ``GET /v1/delivery/orders/{id}/tracking`` with If-None-Match
pings                     8  ``POST /v1/rider/locations``, 3 fixes per batch (24 updates)
====================  =====  ==========================================================

70 API requests and 24 location updates per order, as at the design point. Catalog and
product reads are anonymous, as the app browses a store (so the gateway's shared cache can
answer them); everything else carries the customer's or rider's token. An order poll with no
order placed yet reads the customer's order list instead; a tracking poll with no delivery
yet (a delivery exists once the store accepted the order) polls the order instead; both are
counted under the kind actually sent. Tracking polls of an order accepted less than 30 s
before, whose delivery no poll has seen yet, are counted as ``tracking_first``, where a 404
(the delivery job is created from orders' ``OrderAccepted`` event) is lag, not an error.

Around the mix, as the platform needs to move orders on (closed loop, not part of the mix's
rates, reported apart): the store's staff (Akwa demo account) poll their queue every second
and accept every confirmed order (which creates its delivery job and the dispatch of offers to
the riders online); for MTN MoMo orders the simulated customer finds the prompt on the MoMo
simulator and approves it, so the payment callback flows to payments and the order is
confirmed. Riders (accounts created by the demo operations account through the admin API,
signed in by OTP) go online around the store before the load; they do not accept offers.

Steps: an open-loop stepped ramp (``--steps`` multiples of ``--design-orders``, ``--duration``
s each). Request i of a step is due at ``t0 + i / rate`` and its latency counts from that
instant, so a stall shows in the percentiles (no coordinated omission). Per step and per
kind: throughput, p50/p95/p99, error rate (any status but the expected ones, or a transport
error); the CPU of every process of the run, of PostgreSQL, RabbitMQ and Redis, and of this
generator (its share of the machine is W13's validity check: <= 25%); PostgreSQL transactions
per request of the run's databases (``pg_stat_database``, which lags up to a second or so).

Knee: the first step whose p99 over the mix exceeds twice the 1x step's, or whose errors
exceed 1% of the mix. Verdicts at 1x: reads p95 <= 50 ms, order placement p95 <= 300 ms and
p99 <= 800 ms, rider pings p95 <= 20 ms, machine <= 60% busy, 0 errors below the knee, and
the knee at >= 3x the design rate.

Command: ``.venv/bin/python -m bench.journey`` (``--quick`` for a ~2-minute ramp). Results go to
``bench/results/journey.{md,json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._common import (
    RESULTS,
    command_line,
    machine_lines,
    now_utc,
    percentile,
    table,
    versions,
)
from bench._topology import (
    AKWA,
    IP_KEYED_LIMITS,
    POSTGRES_ADMIN,
    Answer,
    Client,
    Topology,
    _cpu_groups,
    _cpu_snapshot,
    _progress,
    drain,
    inventory_engine,
    open_stores_after_hours,
    order_body,
    set_available,
    sign_in,
    sign_in_phones,
    topology,
)

W14_ORDERS_PER_S = 10.0
MIX: tuple[tuple[str, int], ...] = (
    ("home", 6), ("catalog", 24), ("product", 12), ("checkout", 1), ("order", 6),
    ("tracking", 13), ("pings", 8),
)
"""Requests of each kind per order placed: W14's 70 API requests per order (700/s at 10
orders/s), location batches included (8 batches x 3 fixes = W14's 24 updates per order)."""
API_PER_ORDER = sum(n for _, n in MIX)
FIXES_PER_BATCH = 3
READ_KINDS = ("home", "catalog", "product", "order", "order_list", "tracking", "tracking_first")
EXPECTED: dict[str, frozenset[int]] = {
    "home": frozenset({200}), "catalog": frozenset({200}), "product": frozenset({200}),
    "checkout": frozenset({201}), "order": frozenset({200}), "order_list": frozenset({200}),
    "tracking": frozenset({200, 304}), "pings": frozenset({200}),
    # The first polls of a newly accepted order: its delivery job comes from an event, so a
    # 404 within TRACK_GRACE_S of the accept is the platform's lag, reported but not an error.
    "tracking_first": frozenset({200, 304, 404}),
    "staff_queue": frozenset({200}), "staff_accept": frozenset({200}),
    "momo_prompts": frozenset({200}), "momo_approve": frozenset({200}),
}
SIDE_KINDS = ("staff_queue", "staff_accept", "momo_prompts", "momo_approve")
"""The store's and the MoMo payer's requests: closed loop, outside the mix's rates."""
# Journey-only limits raised at the gateway on top of the checkout ones: anonymous browsing
# is keyed by client IP, and so are the simulators' payment callbacks, all from 127.0.0.1 here.
RAISED_LIMITS = (*IP_KEYED_LIMITS, "reads", "callbacks")
OPERATIONS_PHONE = "+237650100301"
AKWA_STAFF_NATIONAL = "650100102"
TRACK_AFTER_S = 3.0  # a delivery exists once orders' OrderAccepted reached delivery
TRACK_GRACE_S = 30.0

READS_P95_MS = 50.0
PLACE_P95_MS = 300.0
PLACE_P99_MS = 800.0
PINGS_P95_MS = 20.0
KNEE_GOAL = 3.0
CPU_GOAL_PCT = 60.0
GENERATOR_MAX_PCT = 25.0


# -- state ------------------------------------------------------------------------------------


@dataclass
class Order:
    """An order this run placed (201), as the generator follows it."""

    id: str
    customer: int
    method: str
    created: float
    accepted: float | None = None
    etag: str | None = None


@dataclass
class Recorder:
    """Statuses and latencies (ms, from the due time) per request kind, for one step."""

    statuses: dict[str, dict[int, int]] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def add(self, kind: str, status: int, latency_ms: float, detail: str = "") -> None:
        by_status = self.statuses.setdefault(kind, {})
        by_status[status] = by_status.get(status, 0) + 1
        self.latencies.setdefault(kind, []).append(latency_ms)
        if status not in EXPECTED[kind] and len(self.errors) < 30:
            self.errors.append(f"{kind} {status} {detail[:160]}")


@dataclass
class World:
    """Everything the actors share: tokens, catalog, orders placed, the current recorder."""

    client: Client
    store_id: str
    products: list[str]
    categories: list[str]
    customers: list[tuple[str, str]]
    riders: list[tuple[str, str]]
    staff: str
    rng: random.Random
    momo_share: float
    recorder: Recorder = field(default_factory=Recorder)
    orders: list[Order] = field(default_factory=list)
    by_id: dict[str, Order] = field(default_factory=dict)
    accepted: list[Order] = field(default_factory=list)
    rider_spots: list[tuple[float, float]] = field(default_factory=list)
    background: set[asyncio.Task[None]] = field(default_factory=set)
    momo_approved: int = 0
    momo_missed: int = 0
    accepted_count: int = 0

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def timed(world: World, kind: str, due: float, method: str, path: str, *,
                json_body: Any = None, params: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None) -> Answer | None:
    """Send one request and record it under ``kind``, latency from ``due`` (the intended
    start); a transport error or timeout is status 0 with the time it took to fail."""
    recorder = world.recorder  # the step the request was sent in, even if it ends later
    loop = asyncio.get_running_loop()
    try:
        answer = await world.client.request(method, path, json_body=json_body, params=params,
                                            headers=headers)
    except Exception as exc:  # a failed request is a data point, not a crash
        recorder.add(kind, 0, 1000 * (loop.time() - due), repr(exc))
        return None
    recorder.add(kind, answer.status_code, 1000 * (loop.time() - due), answer.text)
    return answer


# -- the mix ----------------------------------------------------------------------------------


async def send(world: World, kind: str, due: float) -> None:
    """One request of the mix, of ``kind``, due at ``due``."""
    rng = world.rng
    if kind == "home":
        token, _ = rng.choice(world.customers)
        await timed(world, "home", due, "GET", "/v1/app/home", headers=_bearer(token), params={
            "lat": round(AKWA[0] + rng.uniform(-0.01, 0.01), 5),
            "lng": round(AKWA[1] + rng.uniform(-0.01, 0.01), 5)})
    elif kind == "catalog":
        await timed(world, "catalog", due, "GET", f"/v1/catalog/stores/{world.store_id}/products",
                    params={"category": rng.choice(world.categories), "limit": 20})
    elif kind == "product":
        await timed(world, "product", due, "GET",
                    f"/v1/catalog/products/{rng.choice(world.products)}")
    elif kind == "checkout":
        await checkout(world, due)
    elif kind == "order" or (kind == "tracking" and not world.accepted):
        await poll_order(world, due)
    elif kind == "tracking":
        await poll_tracking(world, due)
    elif kind == "pings":
        await ping(world, due)
    else:
        raise ValueError(kind)


async def checkout(world: World, due: float) -> None:
    index = world.rng.randrange(len(world.customers))
    token, phone = world.customers[index]
    method = "mtn_momo" if world.rng.random() < world.momo_share else "cash"
    body = order_body(world.store_id, world.products, phone, world.rng, method=method)
    answer = await timed(world, "checkout", due, "POST", "/v1/orders", json_body=body, headers={
        **_bearer(token), "Idempotency-Key": f"bench-{uuid.uuid4()}", "Accept-Language": "fr"})
    if answer is not None and answer.status_code == 201:
        order = Order(body["id"], index, method, asyncio.get_running_loop().time())
        world.orders.append(order)
        world.by_id[order.id] = order
        if method == "mtn_momo":
            world.spawn(approve_momo(world, order, phone))


async def poll_order(world: World, due: float) -> None:
    loop = asyncio.get_running_loop()
    # Orders of the last two minutes: the ones whose customers are still watching them.
    live = [o for o in world.orders[-200:] if loop.time() - o.created < 120]
    order = world.rng.choice(live) if live else None
    if order is None:
        token, _ = world.rng.choice(world.customers)
        await timed(world, "order_list", due, "GET", "/v1/orders", headers=_bearer(token),
                    params={"limit": 10})
        return
    token, _ = world.customers[order.customer]
    await timed(world, "order", due, "GET", f"/v1/orders/{order.id}", headers=_bearer(token))


async def poll_tracking(world: World, due: float) -> None:
    loop = asyncio.get_running_loop()
    ready = [o for o in world.accepted[-200:]
             if o.accepted is not None and loop.time() - o.accepted >= TRACK_AFTER_S]
    if not ready:
        await poll_order(world, due)
        return
    order = world.rng.choice(ready)
    token, _ = world.customers[order.customer]
    headers = _bearer(token)
    if order.etag:
        headers["If-None-Match"] = order.etag
    # Until a poll saw the delivery (an ETag), and within the grace period, it is a first poll.
    kind = "tracking" if order.etag or loop.time() - (order.accepted or 0) > TRACK_GRACE_S \
        else "tracking_first"
    answer = await timed(world, kind, due, "GET",
                         f"/v1/delivery/orders/{order.id}/tracking", headers=headers)
    if answer is not None and answer.status_code == 200 and answer.etag:
        order.etag = answer.etag


async def ping(world: World, due: float) -> None:
    """A batch of fixes from the next rider: a short walk around its spot, one fix a second
    up to now (phone clock), so consecutive batches of a rider move forward in time."""
    index = world.rng.randrange(len(world.riders))
    token, _ = world.riders[index]
    lat, lng = world.rider_spots[index]
    lat += world.rng.uniform(-0.0005, 0.0005)
    lng += world.rng.uniform(-0.0005, 0.0005)
    world.rider_spots[index] = (lat, lng)
    now = dt.datetime.now(dt.UTC)
    pings = [{"lat": round(lat + j * 0.0001, 6), "lng": round(lng, 6), "accuracy_m": 8,
              "at": (now - dt.timedelta(seconds=FIXES_PER_BATCH - 1 - j)).isoformat()}
             for j in range(FIXES_PER_BATCH)]
    await timed(world, "pings", due, "POST", "/v1/rider/locations", json_body={"pings": pings},
                headers=_bearer(token))


# -- around the mix: the store and the MoMo payer ----------------------------------------------


async def approve_momo(world: World, order: Order, phone: str) -> None:
    """The customer answers the MoMo prompt of ``order`` on the simulator, as a person would
    a second or two after checkout; gives up after 30 s (counted as missed)."""
    loop = asyncio.get_running_loop()
    payer = phone.lstrip("+")
    for _ in range(30):
        await asyncio.sleep(1.0)
        found = await timed(world, "momo_prompts", loop.time(), "GET",
                            "/_sim/mtn-momo/_control/requests", params={"payer": payer})
        if found is None or found.status_code != 200:
            continue
        prompt = next((r for r in found.json() if r.get("externalId") == order.id
                       and r.get("status") == "PENDING"), None)
        if prompt is None:
            continue
        answer = await timed(world, "momo_approve", loop.time(), "POST",
                             f"/_sim/mtn-momo/_control/requests/{prompt['reference']}/approve",
                             json_body={})
        if answer is not None and answer.status_code == 200:
            world.momo_approved += 1
            return
    world.momo_missed += 1


async def store_staff(world: World, stop: asyncio.Event) -> None:
    """The Akwa store's tablet: every second, list the confirmed orders and accept each of
    this run's (accepting creates the delivery job, which tracking then shows)."""
    loop = asyncio.get_running_loop()
    in_flight: set[str] = set()

    async def accept(order: Order) -> None:
        answer = await timed(world, "staff_accept", loop.time(), "POST",
                             f"/v1/merchant/orders/{order.id}/accept", json_body={},
                             headers=_bearer(world.staff))
        in_flight.discard(order.id)
        if answer is not None and answer.status_code == 200:
            order.accepted = loop.time()
            world.accepted.append(order)
            world.accepted_count += 1

    while not stop.is_set():
        started = loop.time()
        page = await timed(world, "staff_queue", started, "GET", "/v1/merchant/orders",
                           headers=_bearer(world.staff),
                           params={"store_id": world.store_id, "status": "CONFIRMED",
                                   "limit": 50})
        if page is not None and page.status_code == 200:
            for item in page.json().get("data", []):
                order = world.by_id.get(str(item.get("id")))
                if order is not None and order.accepted is None and order.id not in in_flight:
                    in_flight.add(order.id)
                    world.spawn(accept(order))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.05, 1.0 - (loop.time() - started)))


# -- steps ------------------------------------------------------------------------------------


@dataclass
class Step:
    multiplier: float
    orders_per_s: float
    duration: float
    recorder: Recorder = field(default_factory=Recorder)
    cpu: dict[str, float] = field(default_factory=dict)
    machine_pct: float = 0.0
    wall: float = 0.0
    late_start_ms: float = 0.0
    pg_xacts: int | None = None

    @property
    def rate(self) -> float:
        return self.orders_per_s * API_PER_ORDER

    def summary(self) -> dict[str, Any]:
        rec = self.recorder
        kinds: dict[str, Any] = {}
        for kind, lats in rec.latencies.items():
            ordered = sorted(lats)
            statuses = rec.statuses[kind]
            sent = sum(statuses.values())
            ok = sum(n for s, n in statuses.items() if s in EXPECTED[kind])
            kinds[kind] = {
                "sent": sent, "ok": ok, "errors": sent - ok,
                "error_pct": 100 * (sent - ok) / sent if sent else 0.0,
                "throughput": ok / self.duration,
                "p50_ms": percentile(ordered, 50), "p95_ms": percentile(ordered, 95),
                "p99_ms": percentile(ordered, 99), "max_ms": ordered[-1],
                "statuses": {str(s): n for s, n in sorted(statuses.items())},
            }
        mix_lats = sorted(x for k, v in rec.latencies.items() if k not in SIDE_KINDS for x in v)
        reads = sorted(x for k in READ_KINDS for x in rec.latencies.get(k, []))
        mix_sent = sum(v["sent"] for k, v in kinds.items() if k not in SIDE_KINDS)
        mix_errors = sum(v["errors"] for k, v in kinds.items() if k not in SIDE_KINDS)
        pings_ok = kinds.get("pings", {}).get("ok", 0)
        total_cpu = sum(self.cpu.values())
        return {
            "multiplier": self.multiplier, "orders_per_s": self.orders_per_s,
            "api_rate": self.rate, "duration": self.duration, "wall": self.wall,
            "mix_sent": mix_sent, "mix_errors": mix_errors,
            "mix_error_pct": 100 * mix_errors / mix_sent if mix_sent else 0.0,
            "mix_throughput": (mix_sent - mix_errors) / self.duration,
            "location_updates_per_s": pings_ok * FIXES_PER_BATCH / self.duration,
            "mix_p50_ms": percentile(mix_lats, 50) if mix_lats else None,
            "mix_p95_ms": percentile(mix_lats, 95) if mix_lats else None,
            "mix_p99_ms": percentile(mix_lats, 99) if mix_lats else None,
            "reads_p95_ms": percentile(reads, 95) if reads else None,
            "reads_p99_ms": percentile(reads, 99) if reads else None,
            "kinds": kinds,
            "cpu_s": self.cpu,
            "cpu_ms_per_request": {k: 1000 * v / max(mix_sent, 1) for k, v in self.cpu.items()},
            "cpu_pct_of_machine": {k: 100 * v / max(1e-9, self.wall * (os.cpu_count() or 1))
                                   for k, v in self.cpu.items()},
            "run_cpu_pct_of_machine": 100 * total_cpu / max(1e-9,
                                                            self.wall * (os.cpu_count() or 1)),
            "machine_busy_pct": self.machine_pct,
            "late_start_p99_ms": self.late_start_ms,
            "pg_xacts_per_request": None if self.pg_xacts is None
            else self.pg_xacts / max(mix_sent, 1),
            "sample_errors": rec.errors[:10],
        }


def pattern(rng: random.Random) -> list[str]:
    """One order's worth of requests in a shuffled order (exact proportions, spread out)."""
    kinds = [kind for kind, count in MIX for _ in range(count)]
    rng.shuffle(kinds)
    return kinds


async def pg_transactions(prefix: str) -> int:
    """Committed + rolled back transactions so far in the run's databases."""
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(POSTGRES_ADMIN, timeout=10)
    try:
        value = await conn.fetchval(
            "SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database WHERE datname LIKE $1",
            prefix + "%")
        return int(value or 0)
    finally:
        await conn.close()


async def run_step(world: World, topo: Topology, step: Step) -> None:
    """Open loop: mix request i is due at t0 + i / rate, latency counted from that instant."""
    loop = asyncio.get_running_loop()
    world.recorder = step.recorder
    kinds = pattern(random.Random(int(step.multiplier * 1000)))
    total = int(step.rate * step.duration)
    groups = _cpu_groups(topo)
    prefix = topo.env["OKADA_DATABASE_PREFIX"]
    pg_before = await pg_transactions(prefix)
    tasks: list[asyncio.Task[None]] = []
    late: list[float] = []
    before = _cpu_snapshot(groups)
    t0 = loop.time() + 0.05
    for i in range(total):
        due = t0 + i / step.rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            late.append(-delay * 1000)
        tasks.append(loop.create_task(send(world, kinds[i % len(kinds)], due)))
    await asyncio.gather(*tasks)
    after = _cpu_snapshot(groups)
    step.wall = loop.time() - t0
    step.cpu = {k: after[k] - before[k] for k in after if not k.startswith("_")}
    step.machine_pct = 100 * (after["_busy"] - before["_busy"]) / max(
        1e-9, after["_total"] - before["_total"])
    late.sort()
    # How far behind schedule the generator itself sent (its own lag, included in latency).
    step.late_start_ms = percentile(late, 99) if len(late) > total // 100 else 0.0
    with contextlib.suppress(Exception):  # a statistics read is not worth failing the run
        step.pg_xacts = await pg_transactions(prefix) - pg_before


# -- setup ------------------------------------------------------------------------------------


async def operations_token(client: Client) -> str:
    """Password + TOTP login of the demo operations account (a code is accepted once: if this
    window's code was used already, the next window's is still accepted)."""
    import pyotp

    from okada.services.identity.application.demo import (
        DEMO_OPERATIONS_PASSWORD,
        DEMO_OPERATIONS_TOTP_SECRET,
    )

    totp = pyotp.TOTP(DEMO_OPERATIONS_TOTP_SECRET)
    last = ""
    for at in (time.time(), time.time() + 30):
        answer = await client.post("/v1/auth/password/login", json={
            "phone": OPERATIONS_PHONE, "password": DEMO_OPERATIONS_PASSWORD,
            "totp": totp.at(at), "device_id": "bench-journey"})
        if answer.status_code == 200:
            return str(answer.json()["access_token"])
        last = f"{answer.status_code} {answer.text[:200]}"
    raise RuntimeError(f"operations login: {last}")


async def make_riders(client: Client, count: int, rng: random.Random
                      ) -> list[tuple[str, str]]:
    """Create ``count`` rider accounts as operations would, sign them in by OTP and put them
    online around the Akwa store (delivery learns a rider from identity's event: retried)."""
    ops = await operations_token(client)
    nationals = [f"6503{n:05d}" for n in rng.sample(range(10**5), count)]
    for national in nationals:
        answer = await client.post("/v1/admin/users", headers=_bearer(ops), json={
            "phone": f"+237{national}", "roles": ["rider"], "name": "Bench rider"})
        if answer.status_code != 201:
            raise RuntimeError(f"rider account: {answer.status_code} {answer.text[:300]}")
    riders = await sign_in_phones(client, nationals, device="bench-journey")
    deadline = time.monotonic() + 180
    pending = list(range(count))
    while pending:
        still = []
        for index in pending:
            answer = await client.post("/v1/rider/shift", headers=_bearer(riders[index][0]),
                                       json={"status": "online", "lat": AKWA[0], "lng": AKWA[1]})
            if answer.status_code != 200:
                still.append(index)
                last = f"{answer.status_code} {answer.text[:200]}"
        pending = still
        if pending and time.monotonic() > deadline:
            raise RuntimeError(f"{len(pending)} riders cannot go online: {last}")
        if pending:
            await asyncio.sleep(2)
    return riders


async def audit(world: World, limit: int = 400) -> dict[str, int]:
    """Status of (up to ``limit``) orders of the run, read as their customers would."""
    sem = asyncio.Semaphore(16)
    counts: dict[str, int] = {}

    async def one(order: Order) -> None:
        token, _ = world.customers[order.customer]
        async with sem:
            try:
                answer = await world.client.get(f"/v1/orders/{order.id}", headers=_bearer(token))
                status = str(answer.json().get("status")) if answer.status_code == 200 \
                    else f"HTTP {answer.status_code}"
            except Exception as exc:  # counted, the audit goes on
                status = type(exc).__name__
        key = f"{order.method}:{status}"
        counts[key] = counts.get(key, 0) + 1

    await asyncio.gather(*(one(o) for o in world.orders[-limit:]))
    return dict(sorted(counts.items()))


async def measure(args: argparse.Namespace, topo: Topology) -> dict[str, Any]:
    client = Client(topo.url, timeout=30, connections=args.connections)
    rng = random.Random(42)
    stop = asyncio.Event()
    try:
        stores = (await client.get("/v1/catalog/stores", params={"lat": AKWA[0],
                                                                  "lng": AKWA[1]})).json()
        store_id = stores["data"][0]["id"]
        page = (await client.get(f"/v1/catalog/stores/{store_id}/products",
                                 params={"limit": 100})).json()
        products = [p["id"] for p in page["data"]][: args.products]
        categories = [c["id"] for c in
                      (await client.get("/v1/catalog/categories",
                                        params={"flat": "true"})).json()["data"]]
        if len(products) < 10 or not categories:
            raise RuntimeError(f"demo catalog too small: {len(products)} products, "
                               f"{len(categories)} categories")
        engine = await inventory_engine(topo)
        try:
            await set_available(engine, store_id, None, 1_000_000)
        finally:
            await engine.dispose()
        await open_stores_after_hours(topo)
        _progress(f"signing {args.customers} customers and the Akwa staff in")
        customers = await sign_in(client, args.customers)
        staff = (await sign_in_phones(client, [AKWA_STAFF_NATIONAL], "bench-journey"))[0][0]
        _progress(f"creating {args.riders} riders and putting them online")
        riders = await make_riders(client, args.riders, rng)
        world = World(client, store_id, products, categories, customers, riders, staff, rng,
                      args.momo_share,
                      rider_spots=[(AKWA[0] + rng.uniform(-0.01, 0.01),
                                    AKWA[1] + rng.uniform(-0.01, 0.01)) for _ in riders])
        # Orders' read models are fed by the seed's events: wait until a checkout goes through.
        deadline = time.monotonic() + 180
        while True:
            await checkout(world, asyncio.get_running_loop().time())
            if world.orders:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"no checkout succeeds: {world.recorder.errors[-3:]}")
            await asyncio.sleep(2)
        _progress("waiting for the consumers to apply the seed's events")
        backlog = await drain(topo)
        staff_task = asyncio.get_running_loop().create_task(store_staff(world, stop))
        _progress(f"warm-up at 1x for {args.warmup:.0f} s (backlog left {backlog})")
        warmup = Step(1.0, args.design_orders, args.warmup)
        await run_step(world, topo, warmup)
        await asyncio.sleep(args.pause)
        steps: list[Step] = []
        for multiplier in args.steps:
            step = Step(multiplier, args.design_orders * multiplier, args.duration)
            _progress(f"step {multiplier:g}x: {step.orders_per_s:.2f} orders/s, "
                      f"{step.rate:.0f} req/s for {args.duration:.0f} s")
            await run_step(world, topo, step)
            steps.append(step)
            s = step.summary()
            _progress(f"  -> p99 {_ms(s['mix_p99_ms'])} ms, checkout p95 "
                      f"{_ms(s['kinds'].get('checkout', {}).get('p95_ms'))} ms, errors "
                      f"{s['mix_error_pct']:.1f}%, machine {s['machine_busy_pct']:.0f}%, "
                      f"generator {s['cpu_pct_of_machine'].get('generator', 0):.1f}%")
            if (s["mix_p99_ms"] or 0) > 10_000 or s["mix_error_pct"] > 20:
                _progress("  far past saturation: the higher steps are not run")
                break
            await asyncio.sleep(args.pause)
        # The store and the payers finish with the orders already placed, bounded.
        world.recorder = Recorder()
        await asyncio.sleep(min(10.0, args.pause * 2))
        stop.set()
        await staff_task
        pending = list(world.background)
        if pending:
            await asyncio.wait(pending, timeout=35)
        statuses = await audit(world)
    finally:
        stop.set()
        await client.aclose()
    return {
        "store_id": store_id, "products": len(products), "categories": len(categories),
        "customers": len(customers), "riders": len(riders), "seed_backlog_left": backlog,
        "warmup": warmup.summary(), "steps": [s.summary() for s in steps],
        "orders_placed": len(world.orders), "accepted_by_store": world.accepted_count,
        "momo_approved": world.momo_approved, "momo_prompt_missed": world.momo_missed,
        "order_status_audit": statuses,
    }


# -- verdicts and report ----------------------------------------------------------------------


def knee(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The first step whose mix p99 exceeds twice the 1x step's, or whose errors exceed 1%."""
    base = next((s for s in steps if s["multiplier"] == 1.0), None)
    base_p99 = base["mix_p99_ms"] if base else None
    for s in steps:
        reasons = []
        if s["mix_error_pct"] > 1.0:
            reasons.append(f"errors {s['mix_error_pct']:.1f}% > 1%")
        if base_p99 and s["multiplier"] > 1.0 and (s["mix_p99_ms"] or 0) > 2 * base_p99:
            reasons.append(f"p99 {s['mix_p99_ms']:.0f} ms > 2 x {base_p99:.0f} ms")
        if reasons:
            return {"multiplier": s["multiplier"], "orders_per_s": s["orders_per_s"],
                    "reasons": reasons, "base_p99_ms": base_p99}
    return {"multiplier": None, "beyond": steps[-1]["multiplier"] if steps else None,
            "reasons": [], "base_p99_ms": base_p99}


def verdicts(steps: list[dict[str, Any]], bend: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(target, figure, met) at the 1x step, then the knee and the errors below it."""
    base = next((s for s in steps if s["multiplier"] == 1.0), None)
    out: list[tuple[str, str, bool]] = []
    if base is None:
        return [("1x step", "not run", False)]
    kinds = base["kinds"]
    for kind in ("home", "catalog", "product", "order", "tracking"):
        if kind in kinds:
            p95 = kinds[kind]["p95_ms"]
            out.append((f"{kind} p95 <= {READS_P95_MS:.0f} ms", f"{p95:.0f} ms",
                        p95 <= READS_P95_MS))
    place = kinds.get("checkout")
    if place:
        out.append((f"order placement p95 <= {PLACE_P95_MS:.0f} ms", f"{place['p95_ms']:.0f} ms",
                    place["p95_ms"] <= PLACE_P95_MS))
        out.append((f"order placement p99 <= {PLACE_P99_MS:.0f} ms", f"{place['p99_ms']:.0f} ms",
                    place["p99_ms"] <= PLACE_P99_MS))
    pings = kinds.get("pings")
    if pings:
        out.append((f"rider pings p95 <= {PINGS_P95_MS:.0f} ms (section 4)",
                    f"{pings['p95_ms']:.0f} ms", pings["p95_ms"] <= PINGS_P95_MS))
    out.append((f"machine busy <= {CPU_GOAL_PCT:.0f}% at 1x (W14)",
                f"{base['machine_busy_pct']:.0f}% (this run's processes "
                f"{base['run_cpu_pct_of_machine']:.0f}%)",
                base["machine_busy_pct"] <= CPU_GOAL_PCT))
    if bend["multiplier"] is None:
        figure = f"no knee up to {bend['beyond']:g}x"
        met = (bend["beyond"] or 0) >= KNEE_GOAL
    else:
        figure = f"{bend['multiplier']:g}x ({'; '.join(bend['reasons'])})"
        met = bend["multiplier"] >= KNEE_GOAL
    out.append((f"knee >= {KNEE_GOAL:g}x the design rate", figure, met))
    below = [s for s in steps if bend["multiplier"] is None or s["multiplier"] < bend["multiplier"]]
    errors = sum(s["mix_errors"] for s in below)
    out.append(("0 errors below the knee (W14)", f"{errors} errors", errors == 0))
    gen = max((s["cpu_pct_of_machine"].get("generator", 0.0) for s in steps), default=0.0)
    out.append((f"generator <= {GENERATOR_MAX_PCT:.0f}% of the machine (W13 validity)",
                f"max {gen:.1f}%", gen <= GENERATOR_MAX_PCT))
    return out


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def render(data: dict[str, Any]) -> str:
    result = data["result"]
    steps = result["steps"]
    design = data["design_orders"]
    bend = knee(steps)
    checks = verdicts(steps, bend)
    procs = sorted({k for s in steps for k in s["cpu_s"]})
    kinds = [k for k, _ in MIX] + ["order_list", "tracking_first", *SIDE_KINDS]
    out = [
        "# W14: the realistic mix at fixed arrival rates (distributed mode, through the gateway)",
        "",
        f"Command: `{data['command']}`  ",
        f"Date: {data['date']}; run `{data['run']}`",
        "",
        *machine_lines(data["load_start"], data["load_end"], dict(data["versions"])),
        "",
        f"**Design rate of this run (1x): {design:g} order(s)/s, {design * API_PER_ORDER:.0f} API "
        f"requests/s, {design * 8 * FIXES_PER_BATCH:.0f} location updates/s**: W14's mix "
        f"(10 orders/s, 700 API requests/s, 240 location updates/s) scaled by "
        f"{design / W14_ORDERS_PER_S:g}. The full W14 point is above what this 2-core box "
        f"carries today (the checkout benchmark tops out near 10 cash checkouts/s alone), so the "
        f"ramp is scaled to it; the proportions are W14's. Mix per order: "
        + ", ".join(f"{k} {n}" for k, n in MIX)
        + f" ({FIXES_PER_BATCH} fixes per ping batch); MTN MoMo share "
        f"{data['momo_share']:.0%}, the rest cash.",
        "",
        f"Setup: {result['customers']} customers and the Akwa store's staff signed in by OTP, "
        f"{result['riders']} riders created by operations and online around the store, "
        f"{result['products']} products with ample stock, {result['categories']} categories; "
        f"seed backlog left before the load {result['seed_backlog_left']}. During the run "
        f"{result['orders_placed']} orders were placed, {result['accepted_by_store']} accepted "
        f"by the store, {result['momo_approved']} MoMo prompts approved "
        f"({result['momo_prompt_missed']} not found within 30 s).",
        f"Order statuses afterwards (method:status, the last "
        f"{sum(result['order_status_audit'].values())} orders): "
        f"{result['order_status_audit']}.",
        "",
        "## Verdicts (at the 1x step unless stated)",
        "",
        table(["target", "figure", "verdict"],
              [[t, f, "met" if ok else "**NOT met**"] for t, f, ok in checks]),
        "",
        "## Steps (the mix only; side actors below)",
        "",
        table(["step", "orders/s", "API req/s sent", "ok req/s", "loc. updates/s", "p50 ms",
               "p95 ms", "p99 ms", "reads p95 ms", "errors %", "machine busy %",
               "generator % of machine", "PG xacts / req"],
              [[f"{s['multiplier']:g}x", f"{s['orders_per_s']:.2f}",
                f"{s['mix_sent'] / s['duration']:.0f}", f"{s['mix_throughput']:.0f}",
                f"{s['location_updates_per_s']:.0f}", _ms(s["mix_p50_ms"]),
                _ms(s["mix_p95_ms"]), _ms(s["mix_p99_ms"]), _ms(s["reads_p95_ms"]),
                f"{s['mix_error_pct']:.2f}", f"{s['machine_busy_pct']:.0f}",
                f"{s['cpu_pct_of_machine'].get('generator', 0):.1f}",
                "-" if s["pg_xacts_per_request"] is None else f"{s['pg_xacts_per_request']:.2f}"]
               for s in steps]),
        "",
        "Knee: " + ("none within the ramp" if bend["multiplier"] is None
                    else f"{bend['multiplier']:g}x ({'; '.join(bend['reasons'])})") + ".",
        "",
        "## Per endpoint and step",
        "",
        table(["kind", "step", "sent", "ok /s", "p50 ms", "p95 ms", "p99 ms", "max ms",
               "errors %", "statuses"],
              [[k, f"{s['multiplier']:g}x", s["kinds"][k]["sent"],
                f"{s['kinds'][k]['throughput']:.1f}", _ms(s["kinds"][k]["p50_ms"]),
                _ms(s["kinds"][k]["p95_ms"]), _ms(s["kinds"][k]["p99_ms"]),
                _ms(s["kinds"][k]["max_ms"]), f"{s['kinds'][k]['error_pct']:.1f}",
                s["kinds"][k]["statuses"]]
               for k in kinds for s in steps if k in s["kinds"]]),
        "",
        "`staff_*` and `momo_*` are the store's tablet and the MoMo payer (closed loop, "
        "latency from send, not part of the mix). `order_list` is an order poll sent before "
        "any order of the run existed; `tracking_first` are tracking polls "
        f"of an order accepted less than {TRACK_GRACE_S:.0f} s before whose delivery was not "
        "seen yet (404 there is the event lag from orders to delivery, not an error).",
        "",
        "## CPU by process: share of the machine (%) and ms per mix request",
        "",
        table(["step", *procs],
              [[f"{s['multiplier']:g}x",
                *(f"{s['cpu_pct_of_machine'].get(p, 0):.1f}% / "
                  f"{s['cpu_ms_per_request'].get(p, 0):.2f}" for p in procs)]
               for s in steps]),
        "",
        "`generator` is this benchmark's own process (aiohttp client, side actors included). "
        "`postgres`, `rabbitmq` and `redis` count every process of those servers, including "
        "other users of the box. PG xacts / req: transactions in the run's databases "
        "(pg_stat_database, which lags about a second) per mix request sent.",
    ]
    errors = [e for s in steps for e in s["sample_errors"]]
    if errors:
        out += ["", "## Sample of errors", "", *(f"- `{e}`" for e in errors[:15])]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--design-orders", type=float, default=0.5,
                        help="orders/s of the 1x step (W14's mix scaled to it)")
    parser.add_argument("--steps", default="0.5,1,2,3,4", help="multiples of the design rate")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--pause", type=float, default=5.0)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--riders", type=int, default=40)
    parser.add_argument("--products", type=int, default=60)
    parser.add_argument("--momo-share", type=float, default=0.5)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--port-offset", type=int, default=4000)
    parser.add_argument("--services", type=lambda v: [s for s in v.split(",") if s],
                        default=None, help="services to run (default: every registered one)")
    parser.add_argument("--quick", action="store_true",
                        help="~2 min of load: steps 0.5,1,2,3 x 15 s, fewer accounts")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.duration, args.warmup, args.pause = "0.5,1,2,3", 15.0, 8.0, 3.0
        args.customers, args.riders = 40, 8
    args.steps = [float(m) for m in args.steps.split(",") if m.strip()]
    if 1.0 not in args.steps:
        parser.error("--steps must include 1 (the knee and the verdicts are relative to it)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    logdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"okada-bench-journey-{os.getpid()}"
    logdir.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"command": command_line(), "date": now_utc(),
                            "load_start": os.getloadavg(), "design_orders": args.design_orders,
                            "momo_share": args.momo_share, "mix": dict(MIX),
                            "args": dict(vars(args))}
    with topology(args, logdir, label="jr", raised=RAISED_LIMITS) as topo:
        data["run"] = topo.run
        data["result"] = asyncio.run(measure(args, topo))
    data["cleanup"] = topo.env.get("cleanup")
    data["load_end"] = os.getloadavg()
    data["versions"] = versions(["fastapi", "uvicorn", "sqlalchemy", "asyncpg", "aio-pika",
                                 "redis", "aiohttp"])
    steps = data["result"]["steps"]
    data["knee"] = knee(steps)
    data["verdicts"] = [{"target": t, "figure": f, "met": ok}
                        for t, f, ok in verdicts(steps, data["knee"])]
    report = render(data)
    print(report)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "journey.json").write_text(json.dumps(data, indent=1, default=str))
        (RESULTS / "journey.md").write_text(report)


if __name__ == "__main__":
    main()
