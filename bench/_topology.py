"""The distributed topology the HTTP benchmarks run against, and their client helpers.

Shared by ``bench.checkout`` (checkouts per second) and ``bench.journey`` (the realistic mix):
every service in ``okada.runtime.registry.SERVICES`` as its own process (``okada serve
<name>``, one uvicorn worker each) on PostgreSQL, RabbitMQ and Redis, the simulators, and the
distributed gateway with its production rate limits except the ones keyed by client IP (every
simulated customer comes from 127.0.0.1). Names (databases, exchange, queues, Redis keys) are
unique to the run and removed at the end, also on failure.

Also here: the aiohttp client the generators use, OTP sign-in through the gateway, direct SQL
on inventory's stock (to give products plenty of stock, and to check conservation), the
checkout body, and the CPU grouping (per process of the run, plus PostgreSQL, RabbitMQ and
Redis as a whole).

``python -m bench._topology serve-gateway [policy,...]`` runs the gateway process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
HOST = "127.0.0.1"
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
REDIS_URL = "redis://127.0.0.1:6379/0"
RESULTS = ROOT / "bench" / "results"
AKWA = (4.0485, 9.699)  # the demo dark store in Akwa, Douala
IP_KEYED_LIMITS = ("otp_ip", "otp_phone", "writes")
"""Gateway limits the checkout benchmark raises (every customer signs in from one IP)."""


# -- processes --------------------------------------------------------------------------------


def serve_gateway(raised: Sequence[str] = IP_KEYED_LIMITS) -> None:
    """The distributed gateway with the ``raised`` limit policies lifted to 10**6/s.

    Every simulated customer (and the simulators' callbacks) comes from 127.0.0.1, so the
    limits keyed by client IP would refuse a load that real phones spread over many
    addresses. The limiter still runs its GCRA script on every request, so its cost is
    measured; with 300 customers at 80 checkouts/s each customer sends 16 orders a minute,
    under the per-principal write limit anyway.
    """
    from okada.cli.main import _uvicorn
    from okada.infra.ratelimit import RateLimitPolicy
    from okada.infra.settings import PlatformSettings, default_port
    from okada.runtime.distributed import create_gateway_process_app

    settings = PlatformSettings.for_service("gateway")
    app = create_gateway_process_app(settings)
    policies = app.state.limits.policies
    for name in raised:
        policies[name] = RateLimitPolicy(name, limit=10**6, period_seconds=1)
    _uvicorn(app, HOST, default_port("gateway") + settings.port_offset)


@dataclass
class Topology:
    """Processes this run started and the names it owns."""

    run: str
    env: dict[str, str]
    offset: int
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    def port(self, name: str) -> int:
        from okada.infra.settings import default_port

        return default_port(name) + self.offset

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port('gateway')}"


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _env(run: str, offset: int, label: str = "co") -> dict[str, str]:
    """The processes' environment; ``label`` (``co`` checkout, ``jr`` journey) keeps each
    benchmark's names apart from the others' and from the tests'."""
    return {
        **os.environ,
        "OKADA_MODE": "distributed",
        "OKADA_INTERNAL_SECRET": f"bench-{label}-{secrets.token_hex(16)}",
        "OKADA_DATABASE_PREFIX": f"okada_bench_{label}_{run}_",
        "OKADA_AMQP_EXCHANGE": f"okada.bench.{label}.{run}",
        "OKADA_AMQP_QUEUE_PREFIX": f"bench.{label}.{run}.",
        "OKADA_REDIS_PREFIX": f"okada-bench-{label}-{run}:",
        "OKADA_PORT_OFFSET": str(offset),
        "OKADA_LOG_LEVEL": "WARNING",
        "OKADA_SEED_DEMO_DATA": "false",
        # One IP signs every customer in; the per-phone OTP limits stay as deployed.
        "IDENTITY_OTP_PER_IP_PER_HOUR": str(10**6),
        "IDENTITY_OTP_PER_PREFIX_PER_DAY": str(10**6),
        "IDENTITY_ACCESS_TOKEN_TTL_SECONDS": "1800",
    }


def _start(topo: Topology, name: str, command: list[str], logdir: Path) -> None:
    log = logdir / f"{name}.log"
    with log.open("wb") as handle:
        topo.procs[name] = subprocess.Popen(
            command, cwd=ROOT, env=topo.env, stdout=handle, stderr=handle,
            start_new_session=True,
        )
    topo.logs[name] = log


def _wait_ready(topo: Topology, names: list[str], timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    pending = list(names)
    while pending:
        for name in list(pending):
            proc = topo.procs[name]
            if proc.poll() is not None:
                tail = topo.logs[name].read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")
            path = "/healthz" if name in ("simulators", "gateway") else "/readyz"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://{HOST}:{topo.port(name)}{path}", timeout=2).status_code \
                        == 200:
                    pending.remove(name)
        if pending and time.monotonic() > deadline:
            raise RuntimeError(f"not ready after {timeout:.0f}s: {pending}")
        if pending:
            time.sleep(0.5)


def _stop_all(topo: Topology) -> None:
    for proc in topo.procs.values():
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in topo.procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


async def _cleanup(topo: Topology) -> dict[str, Any]:
    from bench._infra import drop_databases, purge_broker, purge_redis

    env = topo.env
    return {
        "databases": len(await drop_databases(env["OKADA_DATABASE_PREFIX"])),
        "queues": len(await purge_broker(env["OKADA_AMQP_EXCHANGE"],
                                         env["OKADA_AMQP_QUEUE_PREFIX"])),
        "redis_keys": await purge_redis(env["OKADA_REDIS_PREFIX"]),
    }


@contextlib.contextmanager
def topology(args: argparse.Namespace, logdir: Path, *, label: str = "co",
             raised: Sequence[str] = IP_KEYED_LIMITS) -> Iterator[Topology]:
    """Start everything, seed the demo data once all are ready; stop and clean up after.

    ``args`` needs ``port_offset`` and ``services`` (None: every registered service);
    ``raised`` are the gateway's limit policies lifted (see :func:`serve_gateway`).
    """
    from okada.runtime.registry import SERVICES

    run = uuid.uuid4().hex[:8]
    topo = Topology(run, _env(run, args.port_offset, label), args.port_offset)
    services = args.services or list(SERVICES)
    try:
        _start(topo, "simulators", [PYTHON, "-m", "okada.cli.main", "serve", "simulators"],
               logdir)
        _start(topo, "identity", [PYTHON, "-m", "okada.cli.main", "serve", "identity"], logdir)
        _wait_ready(topo, ["simulators", "identity"], 120)
        others = [s for s in services if s != "identity"]
        for name in others:
            _start(topo, name, [PYTHON, "-m", "okada.cli.main", "serve", name], logdir)
        _start(topo, "gateway", [PYTHON, "-m", "bench._topology", "serve-gateway",
                                 ",".join(raised)], logdir)
        _wait_ready(topo, [*others, "gateway"], 300)
        _progress("all processes ready; loading the demo data")
        subprocess.run([PYTHON, "-m", "okada.cli.main", "seed", *services], cwd=ROOT, env=topo.env,
                       check=True, capture_output=True, timeout=600)
        yield topo
    finally:
        _progress("stopping the topology and cleaning up")
        _stop_all(topo)
        try:
            topo.env["cleanup"] = json.dumps(asyncio.run(_cleanup(topo)))
        except Exception as exc:  # still report the run
            topo.env["cleanup"] = f"failed: {exc!r}"


def queues_backlog(topo: Topology) -> int:
    """Messages (ready + unacked) in this run's consumer queues (retry and dead-letter
    queues and the catch-all of unrouted messages excluded)."""
    listed = subprocess.run(["rabbitmqctl", "-q", "list_queues", "name", "messages"],
                            capture_output=True, text=True, timeout=60)
    prefix = topo.env["OKADA_AMQP_QUEUE_PREFIX"]
    total = 0
    for line in listed.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith(prefix) and parts[1].isdigit() \
                and not parts[0].endswith(".dlq") and ".retry." not in parts[0]:
            total += int(parts[1])
    return total


async def drain(topo: Topology, timeout: float = 300.0) -> int:
    """Wait until the consumers applied the seed's events (thousands of catalog events
    that orders, notifications and the gateway consume), so the steps measure checkouts
    and not the tail of the seed; return the backlog left."""
    deadline = time.monotonic() + timeout
    while True:
        backlog = await asyncio.to_thread(queues_backlog, topo)
        if backlog == 0 or time.monotonic() > deadline:
            return backlog
        await asyncio.sleep(2)


# -- client -----------------------------------------------------------------------------------


@dataclass
class Answer:
    """What the load generator keeps of a response."""

    status_code: int
    text: str
    etag: str | None = None  # for conditional polls (If-None-Match)

    def json(self) -> Any:
        return json.loads(self.text)


class Client:
    """A small aiohttp client (the generator's CPU counts against the box: httpx's pure-Python
    HTTP/1.1 stack costs it about twice as much per request). Same calls as httpx's."""

    def __init__(self, base_url: str, *, timeout: float, connections: int) -> None:
        import aiohttp

        self._base = base_url
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout),
            connector=aiohttp.TCPConnector(limit=connections, force_close=False),
            json_serialize=json.dumps,
            # Mobile apps accept compressed answers: let the gateway compress as it would.
            headers={"Accept-Encoding": "gzip"},
        )

    async def request(self, method: str, path: str, *, json_body: Any = None,
                      params: dict[str, Any] | None = None,
                      headers: dict[str, str] | None = None) -> Answer:
        async with self._session.request(method, self._base + path, json=json_body,
                                         params=params, headers=headers) as response:
            return Answer(response.status, await response.text(), response.headers.get("ETag"))

    async def post(self, path: str, *, json: Any = None,
                   headers: dict[str, str] | None = None) -> Answer:
        return await self.request("POST", path, json_body=json, headers=headers)

    async def get(self, path: str, *, params: dict[str, Any] | None = None,
                  headers: dict[str, str] | None = None) -> Answer:
        return await self.request("GET", path, params=params, headers=headers)

    async def aclose(self) -> None:
        await self._session.close()


# -- setup ------------------------------------------------------------------------------------


async def open_stores_after_hours(topo: Topology) -> None:
    """Open, around the clock, the demo stores their hours close right now, as ``okada demo``
    does (operations change the hours through the API): a benchmark must run at any hour.
    Checkouts then wait (the benchmarks' probe loops) until orders and delivery got the
    catalog event."""
    import httpx

    from okada.cli import demo

    async with httpx.AsyncClient(base_url=topo.url, timeout=15.0) as client:
        await demo.open_stores_after_hours(
            demo.DemoContext(client=client, lang="en", out=lambda _line: None))


async def sign_in(client: Any, count: int) -> list[tuple[str, str]]:
    """Sign ``count`` new customers in by OTP; return (token, E.164 phone) pairs.

    Numbers are random MTN ones (677 ...), never the simulators' magic 670 00 00 0x ones.
    """
    return await sign_in_phones(client, [f"677{s:06d}" for s in random.sample(range(10**6),
                                                                               count)])


async def sign_in_phones(client: Any, nationals: Sequence[str],
                         device: str = "bench-checkout") -> list[tuple[str, str]]:
    """Sign these national numbers in by OTP through the gateway (the code read from the SMS
    simulator, 8 at a time); return (access token, E.164 phone) pairs in the same order."""
    sem = asyncio.Semaphore(8)

    async def one(national: str) -> tuple[str, str]:
        e164 = f"+237{national}"
        async with sem:
            answer = await client.post("/v1/auth/otp/request", json={"phone": national})
            if answer.status_code != 202:
                raise RuntimeError(f"OTP request: {answer.status_code} {answer.text[:300]}")
            messages = (await client.get("/_sim/sms/messages", params={"to": e164})).json()
            match = re.search(r"\b(\d{6})\b", messages[0]["text"]) if messages else None
            if not match:
                raise RuntimeError(f"no OTP SMS for {e164}")
            answer = await client.post("/v1/auth/otp/verify", json={
                "phone": national, "code": match.group(1), "device_id": device})
            if answer.status_code != 200:
                raise RuntimeError(f"OTP verify: {answer.status_code} {answer.text[:300]}")
            return answer.json()["access_token"], e164

    return list(await asyncio.gather(*(one(n) for n in nationals)))


async def inventory_engine(topo: Topology) -> Any:
    from sqlalchemy.ext.asyncio import create_async_engine

    prefix = topo.env["OKADA_DATABASE_PREFIX"]
    return create_async_engine(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{prefix}inventory")


async def stock_of(engine: Any, store_id: str) -> dict[str, tuple[int, int]]:
    """(on_hand, reserved) per product of the store."""
    import sqlalchemy as sa

    async with engine.connect() as conn:
        rows = await conn.execute(sa.text(
            "SELECT product_id, on_hand, reserved FROM stock_items WHERE store_id = :s"),
            {"s": store_id})
        return {str(r[0]): (int(r[1]), int(r[2])) for r in rows}


async def holds_of(engine: Any, order_ids: list[str]) -> dict[str, tuple[str, dict[str, int]]]:
    """Inventory's reservations of these orders: order id -> (status, {product: quantity})."""
    import sqlalchemy as sa

    found: dict[str, tuple[str, dict[str, int]]] = {}
    async with engine.connect() as conn:
        rows = await conn.execute(sa.text(
            "SELECT r.order_id, r.status, l.product_id, l.quantity FROM reservations r "
            "JOIN reservation_lines l ON l.order_id = r.order_id "
            "WHERE r.order_id = ANY(CAST(:ids AS uuid[]))"), {"ids": order_ids})
        for order_id, status, product_id, quantity in rows:
            found.setdefault(str(order_id), (str(status), {}))[1][str(product_id)] = int(quantity)
    return found


async def set_available(engine: Any, store_id: str, product_ids: list[str] | None,
                        available: int) -> None:
    """Give products exactly ``available`` units on sale (on_hand = reserved + available)."""
    import sqlalchemy as sa

    query = ("UPDATE stock_items SET on_hand = reserved + :a, version = version + 1 "
             "WHERE store_id = :s")
    params: dict[str, Any] = {"a": available, "s": store_id}
    if product_ids is not None:
        query += " AND product_id = ANY(CAST(:p AS uuid[]))"
        params["p"] = product_ids
    async with engine.begin() as conn:
        await conn.execute(sa.text(query), params)


def order_body(store_id: str, products: list[str], phone: str, rng: random.Random,
               lines: int = 3, method: str = "cash") -> dict[str, Any]:
    """A checkout body: ``lines`` distinct products (1-2 units each), an inline address with
    a GPS pin near the Akwa store, paid by ``method`` (mobile money from ``phone``)."""
    lat, lng = AKWA
    payment: dict[str, Any] = {"method": method}
    if method != "cash":
        payment["phone"] = phone
    return {
        "id": str(uuid.uuid4()),
        "store_id": store_id,
        "lines": [{"product_id": p, "quantity": rng.randint(1, 2)}
                  for p in rng.sample(products, lines)],
        "address": {
            "city": "Douala", "quartier": "Akwa", "landmark": "Face pharmacie du Centre",
            "lat": lat + rng.uniform(-0.004, 0.004), "lng": lng + rng.uniform(-0.004, 0.004),
            "contact_phone": phone,
        },
        "payment": payment,
        "note": "Appelez en arrivant",
    }


# -- CPU ----------------------------------------------------------------------------------------


def _cpu_groups(topo: Topology) -> dict[str, list[psutil.Process]]:
    groups: dict[str, list[psutil.Process]] = {}
    for name, proc in topo.procs.items():
        with contextlib.suppress(psutil.Error):
            parent = psutil.Process(proc.pid)
            groups[name] = [parent, *parent.children(recursive=True)]
    return groups


def _cpu_snapshot(groups: dict[str, list[psutil.Process]]) -> dict[str, float]:
    snap: dict[str, float] = {}
    for name, procs in groups.items():
        total = 0.0
        for p in procs:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        snap[name] = total
    procs = list(psutil.process_iter(["name", "ppid", "cpu_times"]))
    names_by_pid = {p.pid: p.info["name"] for p in procs}
    for label, names in (("postgres", ("postgres",)), ("rabbitmq", ("beam.smp",)),
                         ("redis", ("redis-server",))):
        total = 0.0
        for p in procs:
            times = p.info["cpu_times"]
            if p.info["name"] not in names or times is None:
                continue
            total += times.user + times.system
            if names_by_pid.get(p.info["ppid"]) not in names:
                # The server's root process (the postmaster) reaps its backends: the time of
                # those that exited is in its children's times, so pool churn neither loses
                # CPU nor makes a difference of two snapshots negative.
                total += times.children_user + times.children_system
        snap[label] = total
    own = psutil.Process().cpu_times()
    snap["generator"] = own.user + own.system
    t = psutil.cpu_times()
    snap["_busy"] = sum(t) - t.idle - getattr(t, "iowait", 0.0)
    snap["_total"] = sum(t)
    return snap


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the benchmarks' gateway process.")
    parser.add_argument("mode", choices=["serve-gateway"])
    parser.add_argument("raised", nargs="?", default=",".join(IP_KEYED_LIMITS),
                        help="comma-separated limit policies to lift")
    args = parser.parse_args(argv)
    serve_gateway([p for p in args.raised.split(",") if p])


if __name__ == "__main__":
    main()
