"""W7: the distributed gateway versus calling the service directly, W1 + W4 + W5-like requests.

The distributed topology runs on PostgreSQL, Redis and RabbitMQ with names unique to the run
(databases ``okada_bench_w7_<run>_*``, exchange ``okada.bench.w7.<run>``, queues
``bench.w7.<run>.*``, Redis keys ``okada-bench-w7-<run>:*``, ports 8000 + ``--port-offset``):
the simulators, the identity and catalog services (``python -m okada.cli.main serve <name>``,
one uvicorn worker each; catalog seeds the demo catalog) and the gateway. Customers sign in
through the gateway by OTP (code read from the SMS simulator). Every workload is measured
twice, with the same requests and the same bearer tokens:

* **direct**: at the service's own port; the service verifies the bearer JWT itself;
* **gateway**: at the gateway, which verifies the JWT, checks the deny-list (Redis), charges
  the GCRA rate limiter (Redis EVALSHA), signs the principal header and forwards over its
  pooled aiohttp connection; the service then checks the HMAC of that header.

Workloads: ``me`` (W1-like: ``GET /v1/users/me``, auth + one small read), ``catalog`` (W4-like:
``GET /v1/catalog/stores/<Okada Akwa>/products?limit=20`` with the Authorization header, so the
gateway never answers from its shared response cache) and ``place`` (W5-like write:
``POST /v1/users/me/places``, one transaction with an outbox row, 201).

Settings that differ from production, all bench-only configuration (nothing in ``src`` is
changed): the gateway process is ``create_gateway_process_app`` served by the CLI's own uvicorn
runner, with its ``reads``, ``writes``, ``money`` and ``otp_*`` policies raised (a
one-principal flood is exactly what they exist to stop; the Redis script still runs on every
request, same keys, same round trip); identity gets ``IDENTITY_OTP_PER_IP_PER_HOUR`` /
``_PER_PREFIX_PER_DAY`` raised (many sign-ins from 127.0.0.1), ``IDENTITY_MAX_PLACES_PER_USER``
raised and ``IDENTITY_ACCESS_TOKEN_TTL_SECONDS`` = 1800 (tokens outlive the run). Log level WARNING.

The write workload's cost grows with the caller's number of places (each create reads them),
so the ``places`` table is emptied before every ``place`` run, each connection uses its own
customer (``--users``), and the run waits for the outbox relay to drain afterwards.

Method (performance.md section 1, scaled down): server processes not pinned by default (as
deployed on the 2-core box; ``--server-cpus 0`` puts them all on one core, which charges the
gateway's CPU fully against the service's), the generator pinned to ``--generator-cpu``;
closed-loop rounds alternate direct/gateway (order flipped every round) for the throughput
ratio; then open loop at ``--load-fraction`` of the slower path's median maximum (as W1 does:
each path then runs at or below that fraction of its own maximum) for p50/p95/p99, the same
arrival rate for both paths. Each run records CPU seconds of the gateway, the service,
PostgreSQL (whole server, exited backends included), Redis, RabbitMQ, the generator
and the whole machine at the exact window edges.

Usage: ``.venv/bin/python -m bench.w7_gateway [--quick]``. Internal entry points:
``python -m bench.w7_gateway serve-gateway`` (the gateway process) and ``python -m
bench.w7_gateway loadgen SPEC [loadgen options]`` (``bench.loadgen`` with one request per
connection from SPEC, 2xx counted as success).
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
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    spread,
    table,
    versions,
    wait_until_quiet,
)
from bench._infra import drop_databases, purge_broker, purge_redis

HOST = "127.0.0.1"
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
REDIS_URL = "redis://127.0.0.1:6379/0"
AKWA = "9df0d27b-bce4-585c-8ca5-f94b8590276a"  # uuid5 of "store:akwa" (scripts/make_seed.py)
PAGE = f"/v1/catalog/stores/{AKWA}/products?limit=20"
PLACE_BODY = (
    '{"label":"Bureau","city":"Douala","quartier":"Bonamoussadi",'
    '"landmark":"derrière la pharmacie du Carrefour","directions":"portail bleu",'
    '"is_default":false}'
).encode()
BIG = 1_000_000_000  # "unlimited" for the raised bench limits


@dataclass(frozen=True)
class Workload:
    """One request kind, sent identically to the gateway and to its service."""

    key: str
    label: str
    method: str
    path: str
    service: str
    body: bytes = b""


WORKLOADS = (
    Workload("me", "W1-like GET /v1/users/me", "GET", "/v1/users/me", "identity"),
    Workload("catalog", "W4-like GET catalog page (20 items), with Authorization", "GET", PAGE,
             "catalog"),
    Workload("place", "W5-like POST /v1/users/me/places (write + outbox)", "POST",
             "/v1/users/me/places", "identity", PLACE_BODY),
)
PATHS = ("direct", "gateway")
SERVICE_PORTS = {"gateway": 8000, "identity": 8101, "catalog": 8102, "simulators": 8190}


# -- gateway process --------------------------------------------------------------------------


def serve_gateway() -> None:
    """Run the distributed gateway exactly as ``okada serve gateway`` does, limits raised."""
    from okada.cli.main import _uvicorn
    from okada.infra.ratelimit import RateLimitPolicy
    from okada.infra.settings import PlatformSettings, default_port
    from okada.runtime.distributed import create_gateway_process_app

    settings = PlatformSettings.for_service("gateway")
    app = create_gateway_process_app(settings)
    policies = app.state.limits.policies
    for name in ("reads", "writes", "money", "otp_ip", "otp_phone"):
        policies[name] = RateLimitPolicy(name, limit=BIG, period_seconds=1)
    _uvicorn(app, HOST, default_port("gateway") + settings.port_offset)


def serve_service(name: str) -> None:
    """``okada serve <name>`` (kept for older command lines; ``--fixed-pool N`` now only sets
    ``OKADA_DB_POOL_SIZE=N``, the production pool being fixed since issue #3's review)."""
    from okada.cli.main import main as okada_main

    sys.exit(okada_main(["serve", name]))


# -- load generator shim ----------------------------------------------------------------------


def _pg_ours(prefix: str) -> dict[int, float]:
    """CPU seconds of every PostgreSQL backend connected to one of this run's databases."""
    import psutil

    found: dict[int, float] = {}
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] != "postgres" or prefix not in " ".join(proc.info["cmdline"] or ()):
            continue
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            found[proc.pid] = t.user + t.system
    return found


def _by_name(names: tuple[str, ...]) -> dict[int, float]:
    import psutil

    found: dict[int, float] = {}
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] in names:
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                found[proc.pid] = t.user + t.system
    return found


def _postmaster_children() -> dict[int, float]:
    """CPU of PostgreSQL processes that already exited: the postmaster reaps its backends, so
    their time ends up in its children's times (key -1, a running total)."""
    import psutil

    for proc in psutil.process_iter(["name", "ppid"]):
        if proc.info["name"] != "postgres":
            continue
        with contextlib.suppress(psutil.Error):
            if psutil.Process(proc.info["ppid"]).name() != "postgres":
                t = proc.cpu_times()
                return {-1: t.children_user + t.children_system}
    return {-1: 0.0}


def _group_samples(prefix: str) -> dict[str, dict[int, float]]:
    return {
        "postgres_ours": _pg_ours(prefix),
        # Every PostgreSQL process, plus backends that exited in the window (pool churn):
        # other clients' work is included, the 'others %' column shows how much there was.
        "postgres_all": {**_by_name(("postgres",)), **_postmaster_children()},
        "redis": _by_name(("redis-server",)),
        "rabbitmq": _by_name(("beam.smp",)),
    }


def _group_used(a: dict[int, float], b: dict[int, float]) -> float:
    # Per pid: a backend that exits in the window loses its time (small undercount), one that
    # starts in it counts in full.
    return sum(cpu - a.get(pid, 0.0) for pid, cpu in b.items())


def run_loadgen(spec_path: str, argv: list[str]) -> None:
    """``bench.loadgen`` with a request per connection (round robin) and 2xx as success.

    The spec (JSON) holds ``requests`` (raw HTTP/1.1 requests, latin-1 text) and
    ``pg_prefix`` (database name prefix whose backends' CPU is reported). Everything else,
    including the timing of the window and the JSON printed, is ``bench.loadgen``'s.
    """
    import itertools

    import uvloop

    from bench import loadgen as lg

    spec = json.loads(Path(spec_path).read_text())
    cycle = itertools.cycle([r.encode("latin-1") for r in spec["requests"]])
    samples: list[dict[str, dict[int, float]]] = []
    original_cpu = lg._cpu_seconds

    def cpu_seconds(pids: list[int]) -> dict[str, float]:
        # Called by loadgen at the exact window edges; also sample the process groups.
        samples.append(_group_samples(spec["pg_prefix"]))
        return original_cpu(pids)

    class SpecConnection(lg.Connection):
        """A loadgen connection sending its own request; any 2xx counts as a success."""

        def __init__(self, gen: Any) -> None:
            super().__init__(gen)
            self.request = next(cycle)

        def send(self, intended: float) -> None:
            self.intended = intended
            self.busy = True
            self.gen.in_flight += 1
            self.transport.write(self.request)

        def data_received(self, data: bytes) -> None:
            # No pipelining: a response starts on an empty buffer. loadgen only counts 200 as
            # a success; 201 (the write) is one too. A status line split across reads (never
            # seen on loopback) would count as an error, not as a success.
            if self.need < 0 and not self.buffer and data[:10] == b"HTTP/1.1 2":
                data = b"HTTP/1.1 200" + data[12:]
            super().data_received(data)

    lg.Connection = SpecConnection  # type: ignore[misc]
    lg._cpu_seconds = cpu_seconds
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--mode", choices=("closed", "open"), default="closed")
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--drain", type=float, default=5.0)
    parser.add_argument("--pid", type=int, action="append", default=[])
    args = parser.parse_args(argv)
    if args.host != HOST:
        parser.error("this generator only talks to 127.0.0.1")
    result = uvloop.run(lg.run(args))
    start, end = samples[0], samples[1]
    result["groups_cpu_s"] = {name: _group_used(start[name], end[name]) for name in start}
    result["pg_backends_started"] = len(set(end["postgres_ours"]) - set(start["postgres_ours"]))
    result["pg_backends_ended"] = len(set(start["postgres_ours"]) - set(end["postgres_ours"]))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


# -- topology ---------------------------------------------------------------------------------


@dataclass
class Proc:
    """A process this run started (its own session, so its whole group can be stopped)."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Topology:
    """The running processes and the names this run owns."""

    run: str
    env: dict[str, str]
    offset: int
    procs: dict[str, Proc] = field(default_factory=dict)

    @property
    def db_prefix(self) -> str:
        return self.env["OKADA_DATABASE_PREFIX"]

    def port(self, name: str) -> int:
        return SERVICE_PORTS[name] + self.offset


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _pin(cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus] if cpus else []


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        # As uvicorn does: connections of a previous run in TIME_WAIT do not block the port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _env(run: str, offset: int) -> dict[str, str]:
    return {
        **os.environ,
        "OKADA_MODE": "distributed",
        "OKADA_INTERNAL_SECRET": f"bench-w7-{secrets.token_hex(16)}",
        "OKADA_DATABASE_PREFIX": f"okada_bench_w7_{run}_",
        "OKADA_AMQP_EXCHANGE": f"okada.bench.w7.{run}",
        "OKADA_AMQP_QUEUE_PREFIX": f"bench.w7.{run}.",
        "OKADA_REDIS_PREFIX": f"okada-bench-w7-{run}:",
        "OKADA_PORT_OFFSET": str(offset),
        "OKADA_LOG_LEVEL": "WARNING",
        "OKADA_SEED_DEMO_DATA": "false",
        "CATALOG_SEED_DEMO_DATA": "true",
        "IDENTITY_OTP_PER_IP_PER_HOUR": str(BIG),
        "IDENTITY_OTP_PER_PREFIX_PER_DAY": str(BIG),
        "IDENTITY_MAX_PLACES_PER_USER": str(BIG),
        "IDENTITY_ACCESS_TOKEN_TTL_SECONDS": "1800",
    }


def _http(port: int, method: str, path: str, headers: dict[str, str] | None = None,
          body: bytes = b"", timeout: float = 10.0) -> tuple[int, bytes]:
    """One request on a fresh connection (setup and checks only, never measured)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", "Connection: close",
             "Accept: application/json"]
    for key, value in (headers or {}).items():
        lines.append(f"{key}: {value}")
    if body or method in ("POST", "PUT", "PATCH"):
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    answer = b"".join(chunks)
    head, _, payload = answer.partition(b"\r\n\r\n")
    status = int(head[9:12]) if head.startswith(b"HTTP/1.1 ") else 0
    if b"transfer-encoding: chunked" in head.lower():
        payload = _dechunk(payload)
    return status, payload


def _dechunk(data: bytes) -> bytes:
    out, rest = [], data
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out.append(rest[:size])
        rest = rest[size + 2 :]
    return b"".join(out)


def _wait_ready(topo: Topology, name: str, path: str, timeout: float) -> None:
    proc = topo.procs[name]
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc.process.poll() is not None:
            tail = proc.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{name} exited with {proc.process.returncode}:\n{tail}")
        try:
            status, body = _http(proc.port, "GET", path, timeout=3)
            if status == 200:
                return
            last = f"{status} {body[:300]!r}"
        except OSError as exc:
            last = repr(exc)
        time.sleep(0.5)
    raise RuntimeError(f"{name} not ready after {timeout:.0f}s: {last}")


def _start(topo: Topology, name: str, command: list[str], logdir: Path) -> None:
    log = logdir / f"{name}.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            command, cwd=ROOT, env=topo.env, stdout=handle, stderr=handle,
            start_new_session=True,
        )
    topo.procs[name] = Proc(name, topo.port(name), process, log)


def _stop_all(topo: Topology) -> None:
    """Stop every process group this run started: SIGTERM, then SIGKILL after 20 s."""
    for proc in topo.procs.values():
        if proc.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in topo.procs.values():
        try:
            proc.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.process.pid, signal.SIGKILL)
            proc.process.wait(timeout=10)
        # Anything left in the group (there should be nothing): kill it too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.process.pid, signal.SIGKILL)


def _cleanup(topo: Topology) -> dict[str, Any]:
    """Drop the run's databases, broker objects and Redis keys; report what went."""
    done: dict[str, Any] = {}
    for label, job in (
        ("databases", lambda: drop_databases(topo.db_prefix)),
        ("queues", lambda: purge_broker(topo.env["OKADA_AMQP_EXCHANGE"],
                                        topo.env["OKADA_AMQP_QUEUE_PREFIX"])),
        ("redis_keys", lambda: purge_redis(topo.env["OKADA_REDIS_PREFIX"])),
    ):
        try:
            done[label] = asyncio.run(job())
        except Exception as exc:  # clean up the rest even when one part fails
            done[label] = f"failed: {exc!r}"
            _progress(f"clean-up of {label} failed: {exc!r}")
    return done


@contextlib.contextmanager
def topology(args: argparse.Namespace, logdir: Path) -> Iterator[Topology]:
    """Start simulators, identity, catalog and the gateway; stop and clean everything after."""
    run = uuid.uuid4().hex[:8]
    topo = Topology(run, _env(run, args.port_offset), args.port_offset)
    if args.fixed_pool:
        topo.env["OKADA_DB_POOL_SIZE"] = str(args.fixed_pool)
    busy = [n for n in SERVICE_PORTS if not _port_free(topo.port(n))]
    if busy:
        raise SystemExit(f"ports in use for {busy} at offset {args.port_offset}: "
                         "choose another --port-offset")
    pin = _pin(args.server_cpus)
    try:
        _start(topo, "simulators", [*pin, PYTHON, "-m", "okada.cli.main", "serve",
                                    "simulators"], logdir)
        service = ["-m", "okada.cli.main", "serve"]
        _start(topo, "identity", [*pin, PYTHON, *service, "identity"], logdir)
        _wait_ready(topo, "simulators", "/healthz", 60)
        _wait_ready(topo, "identity", "/readyz", 120)
        # Catalog after identity: its first bearer check fetches identity's JWKS.
        _start(topo, "catalog", [*pin, PYTHON, *service, "catalog"], logdir)
        _start(topo, "gateway", [*pin, PYTHON, "-m", "bench.w7_gateway", "serve-gateway"],
               logdir)
        _wait_ready(topo, "catalog", "/readyz", 240)
        _wait_ready(topo, "gateway", "/healthz", 60)
        yield topo
    finally:
        _progress("stopping the topology and cleaning up")
        _stop_all(topo)
        topo.env["cleanup"] = json.dumps(_cleanup(topo), default=str)


# -- customers --------------------------------------------------------------------------------


def sign_in(topo: Topology, count: int) -> list[str]:
    """Sign ``count`` new customers in through the gateway (OTP via the SMS simulator)."""
    gateway = topo.port("gateway")
    suffixes = random.sample(range(10**6), count)
    tokens = []
    for suffix in suffixes:
        national = f"677{suffix:06d}"
        e164 = f"+237{national}"
        status, body = _http(gateway, "POST", "/v1/auth/otp/request",
                             {"Accept-Language": "en"}, json.dumps({"phone": national}).encode())
        if status != 202:
            raise RuntimeError(f"OTP request: {status} {body[:300]!r}")
        status, body = _http(gateway, "GET", f"/_sim/sms/messages?to=%2B{e164[1:]}")
        messages = json.loads(body) if status == 200 else []
        match = re.search(r"\b(\d{6})\b", messages[0]["text"]) if messages else None
        if not match:
            raise RuntimeError(f"no OTP SMS for {e164}: {status} {body[:300]!r}")
        status, body = _http(
            gateway, "POST", "/v1/auth/otp/verify", {},
            json.dumps({"phone": national, "code": match.group(1),
                        "device_id": "bench-w7"}).encode(),
        )
        if status != 200:
            raise RuntimeError(f"OTP verify: {status} {body[:300]!r}")
        tokens.append(json.loads(body)["access_token"])
    return tokens


def raw_request(workload: Workload, port: int, token: str) -> str:
    """The exact bytes (as latin-1 text) one connection sends for ``workload``."""
    lines = [f"{workload.method} {workload.path} HTTP/1.1", f"Host: {HOST}:{port}",
             "Accept: application/json", "Accept-Language: fr",
             f"Authorization: Bearer {token}"]
    if workload.body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(workload.body)}"]
    # latin-1 maps bytes 1:1, so the UTF-8 body survives the JSON spec file unchanged.
    return "\r\n".join(lines) + "\r\n\r\n" + workload.body.decode("latin-1")


def check_workloads(topo: Topology, token: str) -> dict[str, dict[str, Any]]:
    """Send each workload once both ways; fail early on anything but 2xx."""
    seen: dict[str, dict[str, Any]] = {}
    for w in WORKLOADS:
        for path in PATHS:
            port = topo.port("gateway" if path == "gateway" else w.service)
            status, body = _http(port, w.method, w.path,
                                 {"Authorization": f"Bearer {token}", "Accept-Language": "fr"},
                                 w.body)
            if not 200 <= status < 300:
                raise RuntimeError(f"{w.key} via {path}: {status} {body[:400]!r}")
            seen.setdefault(w.key, {})[path] = {"status": status, "bytes": len(body)}
    return seen


async def _truncate_places(topo: Topology) -> None:
    import asyncpg

    conn = await asyncpg.connect(
        f"postgresql://postgres@127.0.0.1:5432/{topo.db_prefix}identity", timeout=10
    )
    try:
        await conn.execute("DELETE FROM places")
    finally:
        await conn.close()


async def _outbox_backlog(topo: Topology) -> int:
    import asyncpg

    conn = await asyncpg.connect(
        f"postgresql://postgres@127.0.0.1:5432/{topo.db_prefix}identity", timeout=10
    )
    try:
        return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
    finally:
        await conn.close()


def _drain_outbox(topo: Topology, limit: float = 30.0) -> float:
    """Wait until identity's relay has published every event (so it does not run into the
    next measurement); return the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if asyncio.run(_outbox_backlog(topo)) == 0:
            break
        time.sleep(0.25)
    return time.monotonic() - started


# -- measurement ------------------------------------------------------------------------------


def generate(
    topo: Topology,
    workload: Workload,
    path: str,
    specs: dict[tuple[str, str], Path],
    *,
    mode: str,
    duration: float,
    warmup: float,
    connections: int,
    cpu: str | None,
    rate: float = 0.0,
    port: int | None = None,
    spec: Path | None = None,
) -> dict[str, Any]:
    """One generator process against ``path`` for ``workload``; its JSON plus derived figures."""
    if workload.key == "place" and port is None:
        asyncio.run(_truncate_places(topo))
    target = port or topo.port("gateway" if path == "gateway" else workload.service)
    gateway_pid = topo.procs["gateway"].process.pid
    service_pid = topo.procs[workload.service].process.pid
    command = [
        *_pin(cpu), PYTHON, "-m", "bench.w7_gateway", "loadgen",
        str(spec or specs[(workload.key, path)]),
        "--port", str(target), "--mode", mode, "--duration", str(duration),
        "--warmup", str(warmup), "--connections", str(connections),
        "--pid", str(gateway_pid), "--pid", str(service_pid),
    ]
    if mode == "open":
        command += ["--rate", str(rate)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          timeout=duration + warmup + 90)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    drained = _drain_outbox(topo) if workload.key == "place" and port is None else 0.0
    ok = max(1, result["ok"])
    window = result["window_s"]
    cores = os.cpu_count() or 1
    groups = result["groups_cpu_s"]
    cpu_s = {
        "gateway": result["pid_cpu_s"][str(gateway_pid)],
        "service": result["pid_cpu_s"][str(service_pid)],
        "postgres": groups["postgres_all"],
        "postgres_ours": groups["postgres_ours"],
        "redis": groups["redis"],
        "rabbitmq": groups["rabbitmq"],
        "generator": result["generator_cpu_s"],
    }
    known = sum(v for k, v in cpu_s.items() if k != "postgres_ours")
    result.update(
        workload=workload.key,
        path=path,
        outbox_drain_s=drained,
        generator_stderr=done.stderr[-1000:],
        ms_per_req={k: v * 1000 / ok for k, v in cpu_s.items()},
        core_pct={k: 100 * v / window for k, v in cpu_s.items()},
        generator_machine_pct=100 * cpu_s["generator"] / (window * cores),
        others_machine_pct=100 * max(0.0, result["machine_busy_s"] - known)
        / max(1e-9, result["machine_total_s"]),
        machine_busy_pct=100 * result["machine_busy_s"] / max(1e-9, result["machine_total_s"]),
    )
    return result


def _wait_for_other_benchmarks(max_wait: float) -> float:
    """Wait (up to ``max_wait`` s) until no other ``python -m bench.*`` process runs."""
    import psutil

    me = psutil.Process()
    mine = {me.pid, *(p.pid for p in me.parents())}
    started = time.monotonic()
    while True:
        others = []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            cmd = " ".join(proc.info["cmdline"] or ())
            if proc.info["pid"] not in mine and re.search(r"-m bench\.\w", cmd):
                others.append(cmd[:100])
        if not others or time.monotonic() - started >= max_wait:
            return time.monotonic() - started
        _progress(f"waiting for other benchmarks to finish: {others[0]}")
        time.sleep(15)


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Do the whole W7 measurement and return the raw results."""
    multi = len(os.sched_getaffinity(0)) >= 2 and not args.no_pin
    if not multi:
        args.server_cpus = args.generator_cpu = None
    started, load_start = now_utc(), os.getloadavg()
    workloads = [w for w in WORKLOADS if w.key in args.workloads]
    with topology(args, tmp) as topo:
        _progress(f"topology up (run {topo.run}); signing in {args.users} customers")
        t0 = time.monotonic()
        tokens = sign_in(topo, args.users)
        sign_in_s = time.monotonic() - t0
        checks = check_workloads(topo, tokens[0])
        specs: dict[tuple[str, str], Path] = {}
        for w in workloads:
            for path in PATHS:
                port = topo.port("gateway" if path == "gateway" else w.service)
                spec = tmp / f"spec-{w.key}-{path}.json"
                spec.write_text(json.dumps({
                    "requests": [raw_request(w, port, t) for t in tokens],
                    "pg_prefix": topo.db_prefix,
                }))
                specs[(w.key, path)] = spec
        common = {"connections": args.connections, "cpu": args.generator_cpu}

        # W13: the generator against a trivial responder, same requests and connections.
        canned_port = _free_port()
        canned = subprocess.Popen([*_pin(args.server_cpus), PYTHON, "-m", "bench.w1_apps",
                                   "canned", str(canned_port)], cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        try:
            _wait_port(canned_port)
            calibration = generate(topo, WORKLOADS[0], "canned", specs, mode="closed",
                                   duration=args.calibration, warmup=args.gen_warmup,
                                   port=canned_port, spec=specs[("me", "direct")], **common)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(canned.pid, signal.SIGTERM)
            canned.wait(timeout=10)
        _progress(f"generator vs canned responder: {calibration['rps']:,.0f} req/s")

        for w in workloads:
            for path in PATHS:
                generate(topo, w, path, specs, mode="closed", duration=args.warmup,
                         warmup=0.2, **common)
        _progress("warm-up done")
        closed: list[dict[str, Any]] = []
        for round_no in range(1, args.rounds + 1):
            order = PATHS if round_no % 2 else PATHS[::-1]
            for w in workloads:
                for path in order:
                    r = generate(topo, w, path, specs, mode="closed", duration=args.duration,
                                 warmup=args.gen_warmup, **common)
                    r["round"] = round_no
                    closed.append(r)
                    _progress(f"round {round_no} {w.key:8} {path:8}: {r['rps']:8,.0f} req/s, "
                              f"{r['errors']} errors, others {r['others_machine_pct']:.0f}%")
        # W1's convention: a fraction of the slower path's maximum, so that neither path runs
        # above that fraction of its own maximum.
        rates = {
            w.key: round(args.load_fraction * min(
                statistics.median(r["rps"] for r in closed
                                  if r["workload"] == w.key and r["path"] == path)
                for path in PATHS))
            for w in workloads
        }
        opened: list[dict[str, Any]] = []
        for round_no in range(1, args.latency_rounds + 1):
            order = PATHS if round_no % 2 else PATHS[::-1]
            for w in workloads:
                for path in order:
                    r = generate(topo, w, path, specs, mode="open", rate=rates[w.key],
                                 duration=args.latency_duration, warmup=args.gen_warmup,
                                 **common)
                    r["round"] = round_no
                    opened.append(r)
                    lat = r["latency_ms"]
                    _progress(f"open {round_no} {w.key:8} {path:8} @ {rates[w.key]}/s: p50 "
                              f"{lat['p50']:.2f} p95 {lat['p95']:.2f} p99 {lat['p99']:.2f} ms, "
                              f"{r['errors']} errors")
        pg_version = asyncio.run(_postgres_version())
        logs = {name: p.log.read_text(errors="replace")[-1500:] for name, p in topo.procs.items()}
        env = topo.env
    return {
        "started": started,
        "finished": now_utc(),
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "run": topo.run,
        "settings": {
            "server_cpus": args.server_cpus,
            "generator_cpu": args.generator_cpu,
            "connections": args.connections,
            "users": args.users,
            "rounds": args.rounds,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "gen_warmup_s": args.gen_warmup,
            "latency_rounds": args.latency_rounds,
            "latency_duration_s": args.latency_duration,
            "load_fraction": args.load_fraction,
            "port_offset": args.port_offset,
            "fixed_pool": args.fixed_pool,
            "open_rates": rates,
        },
        "sign_in_s": sign_in_s,
        "checks": checks,
        "calibration": calibration,
        "closed": closed,
        "open": opened,
        "server_logs": {k: v for k, v in logs.items() if v.strip()},
        "cleanup": json.loads(env.get("cleanup", "{}")),
        "versions": {
            **versions(["fastapi", "starlette", "uvicorn", "httptools", "uvloop", "sqlalchemy",
                        "asyncpg", "redis", "aio-pika", "aiohttp", "httpx", "pyjwt",
                        "orjson", "pydantic"]),
            "postgresql": pg_version,
            "redis-server": _redis_version(),
            "rabbitmq": _rabbit_version(),
        },
        "command": command_line(),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


async def _postgres_version() -> str:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_ADMIN, timeout=10)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def _redis_version() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        return str(client.info("server").get("redis_version", "?"))
    except Exception:
        return "?"
    finally:
        client.close()


def _rabbit_version() -> str:
    with contextlib.suppress(Exception):
        done = subprocess.run(["rabbitmqctl", "-q", "version"], capture_output=True, text=True,
                              timeout=30)
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    return "?"


# -- report -----------------------------------------------------------------------------------


def _rows(runs: list[dict[str, Any]], workload: str, path: str) -> list[dict[str, Any]]:
    return [r for r in runs if r["workload"] == workload and r["path"] == path]


def _med(runs: list[dict[str, Any]], workload: str, path: str, get: Any) -> float:
    values = [get(r) for r in _rows(runs, workload, path)]
    return statistics.median(values) if values else float("nan")


def _box_ms(r: dict[str, Any]) -> float:
    """CPU ms per request of every process taking part (PostgreSQL counted once)."""
    return float(sum(v for k, v in r["ms_per_req"].items() if k != "postgres_ours"))


def ratios(closed: list[dict[str, Any]], workload: str) -> list[float]:
    """Per-round gateway/direct ratios of closed-loop req/s."""
    by_round: dict[int, dict[str, float]] = {}
    for r in closed:
        if r["workload"] == workload:
            by_round.setdefault(r["round"], {})[r["path"]] = r["rps"]
    return [v["gateway"] / v["direct"] for _, v in sorted(by_round.items())
            if v.get("gateway") and v.get("direct")]


def render(data: dict[str, Any]) -> str:
    """Render the results as the markdown report."""
    s, v = data["settings"], data["versions"]
    closed, opened, cal = data["closed"], data["open"], data["calibration"]
    keys = [w for w in WORKLOADS if any(r["workload"] == w.key for r in closed)]
    servers_pin = (f"all pinned to CPU(s) {s['server_cpus']}" if s["server_cpus"]
                   else "not pinned (they share both cores with the databases)")
    out = [
        "# W7: gateway vs direct (distributed mode)",
        "",
        f"- Date (UTC): {data['started']} to {data['finished']}",
        f"- Command: `{data['command']}`",
        f"- Versions: Python {v['python']}, FastAPI {v['fastapi']}, Starlette {v['starlette']}, "
        f"uvicorn {v['uvicorn']} (httptools {v['httptools']}, uvloop {v['uvloop']}), "
        f"SQLAlchemy {v['sqlalchemy']}, asyncpg {v['asyncpg']}, redis-py {v['redis']}, "
        f"aio-pika {v['aio-pika']}, aiohttp {v['aiohttp']}, httpx {v['httpx']}, "
        f"PyJWT {v['pyjwt']}, orjson {v['orjson']}, pydantic {v['pydantic']}; PostgreSQL "
        f"{v['postgresql']}, Redis {v['redis-server']}, RabbitMQ {v['rabbitmq']} "
        "(defaults: fsync and synchronous_commit on)",
        *machine_lines(data["load_average_start"], data["load_average_end"]),
        f"- Machine busy just before the run: {data.get('busy_before_pct', float('nan')):.0f}%",
        "- Topology: distributed mode, one process each for the simulators, identity, catalog "
        "(demo catalog seeded) and the gateway, each one uvicorn worker as `okada serve` runs "
        f"it, {servers_pin}; PostgreSQL, Redis and RabbitMQ are the "
        f"box's shared servers (not pinned). Generator pinned to CPU {s['generator_cpu']}, "
        f"{s['connections']} keep-alive connections, each with its own customer's token "
        f"({s['users']} customers signed in through the gateway by OTP).",
        f"- Closed loop: {s['rounds']} rounds; in each, every workload runs direct and via the "
        f"gateway back to back (order flipped every round), {s['duration_s']} s windows after "
        f"a {s['warmup_s']} s warm-up per pair. Open loop: {s['latency_rounds']} round(s) of "
        f"{s['latency_duration_s']} s per path at {s['load_fraction']:.0%} of the slower path's "
        "median maximum for the workload (the same arrival rate for both paths, each at or "
        "below that fraction of its own maximum).",
        "- Bench-only settings: the gateway's `reads`/`writes`/`money`/`otp_*` GCRA limits raised "
        "(the Redis script still runs on every request), identity's OTP caps and "
        "max places raised, access tokens valid 30 min, log level WARNING. Nothing in `src` "
        "is changed.",
        *([f"- **Pool size**: services started with a fixed pool of "
           f"{s['fixed_pool']} connections (`--fixed-pool`, `OKADA_DB_POOL_SIZE`), not the "
           "default of 10."] if s.get("fixed_pool") else []),
        "- The `place` table is emptied before every `place` run and the outbox relay is "
        "allowed to drain after it, so every write run starts from the same state.",
        "- The box is shared: 'others %' is the CPU every process not listed used during the "
        "window. CPU ms per request is the figure least disturbed by it.",
        "",
        "Workloads: " + "; ".join(f"**{w.key}** {w.label}" for w in keys) + ".",
        "",
        "## Report row",
        "",
    ]
    rows = []
    all_ratios = []
    for w in keys:
        m, lo, hi = median_range(ratios(closed, w.key))
        all_ratios.append(m)
        lat = {p: {q: _med(opened, w.key, p, lambda r, q=q: r["latency_ms"][q])
                   for q in ("p50", "p95", "p99")} for p in PATHS}
        gw_cpu = _med(closed, w.key, "gateway", lambda r: r["ms_per_req"]["gateway"])
        svc_gw = _med(closed, w.key, "gateway", lambda r: r["ms_per_req"]["service"])
        svc_direct = _med(closed, w.key, "direct", lambda r: r["ms_per_req"]["service"])
        gw_open = _med(opened, w.key, "gateway", lambda r: r["ms_per_req"]["gateway"])
        box = {p: _med(closed, w.key, p, _box_ms) for p in PATHS}
        svc_open = _med(opened, w.key, "gateway", lambda r: r["ms_per_req"]["service"])
        rows.append([
            w.key,
            f"{_med(closed, w.key, 'direct', lambda r: r['rps']):,.0f}",
            f"{_med(closed, w.key, 'gateway', lambda r: r['rps']):,.0f}",
            f"**{fmt(m)}** ({fmt(lo)}-{fmt(hi)})",
            f"{s['open_rates'][w.key]:,}/s",
            " / ".join(f"{lat['direct'][q]:.2f}" for q in ("p50", "p95", "p99")),
            " / ".join(f"{lat['gateway'][q]:.2f}" for q in ("p50", "p95", "p99")),
            f"{lat['gateway']['p50'] - lat['direct']['p50']:+.2f} / "
            f"{lat['gateway']['p99'] - lat['direct']['p99']:+.2f}",
            f"{gw_cpu:.3f}",
            f"{svc_direct:.3f} / {svc_gw:.3f}",
            f"**{gw_cpu / svc_gw:.0%}** / {gw_open / svc_open:.0%}",
            f"{box['direct']:.2f} / {box['gateway']:.2f} "
            f"(**{box['direct'] / box['gateway']:.2f}**)",
        ])
    out.append(table(
        ["Workload", "direct max req/s", "gateway max req/s", "median ratio gw/direct (min-max)",
         "arrival rate", "direct p50/p95/p99 ms", "gateway p50/p95/p99 ms",
         "added p50 / p99 ms", "gateway CPU ms/req", "service CPU ms/req direct / via gw",
         "gateway CPU / service CPU, closed / open loop",
         "whole-box CPU ms/req direct / gateway (efficiency ratio)"],
        rows,
    ))
    geo = statistics.geometric_mean(all_ratios) if all_ratios else float("nan")
    out += [
        "",
        f"Mix (equal weights, geometric mean of the three median ratios): **{fmt(geo)}**.",
        "",
        "Goal (performance.md W7): ratio >= 0.7, added p50 <= 1 ms and p99 <= 5 ms at 50% load, "
        "gateway CPU <= 30% of service CPU. Ratios are per round (direct and gateway back to "
        "back), median over rounds. 'Gateway CPU / service CPU' is CPU ms per request of the "
        "gateway process over that of the service process, both in the gateway runs. "
        "Latencies are medians over the open-loop rounds. The efficiency ratio is the CPU "
        "every process spent per request direct over via the gateway (gateway, service, "
        "PostgreSQL, Redis, RabbitMQ, generator): the throughput ratio a box whose every core "
        "is busy would see. Direct, the single service process saturates one core and leaves "
        "the other partly idle, which the gateway then uses: the throughput ratio is "
        "therefore higher than the efficiency ratio wherever the machine was not saturated "
        "(see 'machine busy %' below).",
        "",
        "## CPU ms per request, every process (medians of the closed-loop runs)",
        "",
    ]
    procs = ("gateway", "service", "postgres", "postgres_ours", "redis", "rabbitmq",
             "generator")
    cpu_rows = []
    for kind, runs in (("closed", closed), ("open", opened)):
        for w in keys:
            for p in PATHS:
                per = {k: _med(runs, w.key, p, lambda r, k=k: r["ms_per_req"][k])
                       for k in procs}
                cpu_rows.append([
                    w.key, p, kind, *(f"{per[k]:.3f}" for k in procs),
                    f"{sum(v for k, v in per.items() if k != 'postgres_ours'):.3f}",
                    f"{_med(runs, w.key, p, lambda r: r['pg_backends_started']):.0f}",
                    f"{_med(runs, w.key, p, lambda r: r['generator_machine_pct']):.0f}%",
                    f"{_med(runs, w.key, p, lambda r: r['others_machine_pct']):.0f}%",
                ])
    out += [
        table(["Workload", "path", "loop", "gateway", "service",
               "PostgreSQL (whole server)", "of which this run's live backends",
               "Redis (whole server)", "RabbitMQ (whole server)", "generator", "sum",
               "new PG backends in window", "generator % of machine", "others % of machine"],
              cpu_rows),
        "",
        "Direct runs show a small gateway figure: its idle loop (timers, broker heartbeats). "
        "Redis, RabbitMQ and PostgreSQL figures are the whole servers (other engineers' "
        "clients included; 'others %' shows how busy the rest of the box was); PostgreSQL "
        "also counts backends that exited during the window (through the postmaster's "
        "children times): the services' pools are fixed (10 connections, no overflow, "
        "`create_engine`), so new backends should only appear at start; each one costs CPU. "
        "The 'live "
        "backends' column only sees backends of this run's databases alive at the window's "
        "end. Open-loop CPU per request is at the open-loop arrival rate (less batching per "
        "event-loop turn than at saturation, so usually higher).",
        "",
        "## Closed loop, every run (throughput)",
        "",
        table(
            ["Round", "workload", "path", "req/s", "errors / lost conns", "gateway ms/req",
             "service ms/req", "PG ms/req", "Redis ms/req", "gateway core %", "service core %",
             "machine busy %", "others %", "closed-loop p50 / p99 ms"],
            [[r["round"], r["workload"], r["path"], f"{r['rps']:,.0f}",
              f"{r['errors'] + r.get('protocol_errors', 0)} / {r.get('connections_lost', 0)}",
              f"{r['ms_per_req']['gateway']:.3f}", f"{r['ms_per_req']['service']:.3f}",
              f"{r['ms_per_req']['postgres']:.3f}", f"{r['ms_per_req']['redis']:.3f}",
              f"{r['core_pct']['gateway']:.0f}", f"{r['core_pct']['service']:.0f}",
              f"{r['machine_busy_pct']:.0f}", f"{r['others_machine_pct']:.0f}",
              f"{r['latency_ms']['p50']:.2f} / {r['latency_ms']['p99']:.2f}"]
             for r in closed],
        ),
        "",
        "Spread (max-min)/median of req/s: "
        + ", ".join(
            f"{w.key} {p} {spread([r['rps'] for r in _rows(closed, w.key, p)]):.0%}"
            for w in keys for p in PATHS
        )
        + ". Closed-loop latencies are context only (coordinated omission).",
        "",
        "## Open loop, every run (latency)",
        "",
        table(
            ["Round", "workload", "path", "rate /s", "achieved /s", "errors", "p50 ms",
             "p90 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms", "incomplete",
             "gateway ms/req", "service ms/req", "machine busy %", "others %",
             "gen. lag p99 ms"],
            [[r["round"], r["workload"], r["path"], f"{r['target_rate']:,.0f}",
              f"{r['rps']:,.0f}", r["errors"],
              *(f"{r['latency_ms'][q]:.2f}" for q in ("p50", "p90", "p95", "p99", "p999",
                                                      "max")),
              r["incomplete"], f"{r['ms_per_req']['gateway']:.3f}",
              f"{r['ms_per_req']['service']:.3f}", f"{r['machine_busy_pct']:.0f}",
              f"{r['others_machine_pct']:.0f}", f"{r['schedule_lag_ms']['p99']:.2f}"]
             for r in opened],
        ),
        "",
        "Latency runs from the moment the generator issued the request, so server stalls are "
        "counted (no coordinated omission); the generator's own timer lag is the last column.",
        "",
        "## Generator calibration (W13)",
        "",
    ]
    fastest = max(_med(closed, w.key, "direct", lambda r: r["rps"]) for w in keys)
    per_core = 1000 / max(cal["ms_per_req"]["generator"], 1e-9)
    out += [
        f"Against a canned raw-asyncio responder (same requests, same connections): "
        f"{cal['rps']:,.0f} req/s, generator at {cal['generator_machine_pct']:.0f}% of the "
        f"machine ({cal['ms_per_req']['generator'] * 1000:.1f} us CPU per request, about "
        f"{per_core:,.0f} req/s per generator core): {cal['rps'] / fastest:.1f}x the fastest "
        f"direct maximum ({fastest:,.0f} req/s); the method asks for at least 3x.",
        "",
        "## Setup",
        "",
        f"Sign-in of {s['users']} customers through the gateway: {data['sign_in_s']:.1f} s. "
        "Response sizes (bytes, identity encoding) direct / gateway: "
        + ", ".join(f"{k} {c['direct']['bytes']:,} / {c['gateway']['bytes']:,}"
                    for k, c in data["checks"].items())
        + f". Clean-up: {json.dumps(data.get('cleanup', {}))}.",
        "",
    ]
    noisy = [r for r in [*closed, *opened] if r.get("generator_stderr", "").strip()]
    if noisy:
        out += ["## Generator stderr (tail)", ""]
        for r in noisy[:5]:
            out += [f"{r['workload']} {r['path']} round {r['round']} ({r['mode']}):", "",
                    "```", r["generator_stderr"].strip(), "```", ""]
    if data.get("server_logs"):
        out += ["## Server stderr (tail)", ""]
        for key, text in data["server_logs"].items():
            out += [f"{key}:", "", "```", text.strip(), "```", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run W7, print the report and write the results files."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve-gateway"]:
        serve_gateway()
        return
    if argv[:1] == ["serve-service"]:
        serve_service(argv[1])
        return
    if argv[:1] == ["loadgen"]:
        run_loadgen(argv[1], argv[2:])
        return
    parser = argparse.ArgumentParser(description="W7: gateway vs direct, distributed mode")
    parser.add_argument("--quick", action="store_true", help="about two minutes in total")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="first wait up to this long for the machine to be < 20%% busy")
    parser.add_argument("--wait-bench", type=float, default=900.0, metavar="SECONDS",
                        help="first wait up to this long for other bench.* processes to end")
    parser.add_argument("--workloads", default="me,catalog,place")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="closed-loop window, s")
    parser.add_argument("--warmup", type=float, default=2.0, help="per workload and path, s")
    parser.add_argument("--gen-warmup", type=float, default=0.5,
                        help="seconds each generator run waits before its window")
    parser.add_argument("--calibration", type=float, default=3.0)
    parser.add_argument("--latency-rounds", type=int, default=2)
    parser.add_argument("--latency-duration", type=float, default=5.0)
    parser.add_argument("--load-fraction", type=float, default=0.5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--users", type=int, default=64,
                        help="customers (tokens) signed in; keep >= --connections: two "
                        "connections of one customer racing to create their first place get "
                        "409 (exactly one default place per customer)")
    parser.add_argument("--port-offset", type=int, default=2000)
    parser.add_argument("--server-cpus", default="",
                        help="taskset CPU list for the server processes (default: not pinned, "
                        "as deployed: gateway, services and databases share both cores)")
    parser.add_argument("--generator-cpu", default="1")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--fixed-pool", type=int, default=0, metavar="N",
                        help="services use a fixed pool of N connections instead of the "
                        "default 10 (sets OKADA_DB_POOL_SIZE)")
    parser.add_argument("--output", type=Path, default=RESULTS / "w7_gateway.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    if args.quick:
        args.rounds, args.duration, args.warmup, args.calibration = 2, 3.0, 1.5, 2.0
        args.latency_rounds, args.latency_duration = 1, 3.0
    # A SIGTERM (timeout, Ctrl-C from a wrapper) must still stop the servers and drop data.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.wait_bench:
        _wait_for_other_benchmarks(args.wait_bench)
    busy = wait_until_quiet(args.wait_quiet) if args.wait_quiet else machine_busy_pct()
    with tempfile.TemporaryDirectory(prefix="okada-w7-") as tmp:
        data = run(args, Path(tmp))
    data["busy_before_pct"] = busy
    report = render(data)
    print(report)
    if not args.no_write:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report + "\n")
        args.output.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
        _progress(f"wrote {args.output} and {args.output.with_suffix('.json')}")


if __name__ == "__main__":
    main()
