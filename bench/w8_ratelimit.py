"""W8: the gateway with its rate limiter on (GCRA via Redis EVALSHA) versus off.

The same gateway (``okada.gateway.app.create_gateway_app``, configured as the distributed
gateway process configures it: Redis cache for the token deny-list, pooled aiohttp upstream
client, principal codec, access log on at WARNING level) runs in one uvicorn process per
variant, in front of a fast fake upstream (a bare ASGI app in its own process, answering a
``/v1/users/me``-sized JSON body) reached over HTTP like a real service:

* **A off**: a no-op limiter that allows everything (the ``RateLimit`` headers are still
  rendered from its decision, so the responses are the same size);
* **B redis**: ``RedisRateLimiter``, the distributed gateway's limiter: one ``EVALSHA`` of the
  GCRA script per request, on the shared Redis, which also reads the token's revocation keys
  (the gateway's one-round-trip path; A and C read them with one ``MGET`` instead);
* **C memory**: ``MemoryRateLimiter``, the embedded gateway's process-local GCRA (context).

Every request is ``GET /v1/users/me`` with a bearer token (EdDSA, signed by a key this run
generates and the gateways trust through a static JWKS), so each one pays what a logged-in
customer's read pays at the edge: JWT verification (remembered per token after the first),
the revocation read on Redis (deny-list and per-user "not before"), the limiter, principal
signing (remembered per token), the proxy hop. The ``reads`` policy is raised so nothing is
refused (one principal at thousands of requests per second is what it exists to stop); the
script runs the same GET + SET on the same key either way.

Method (performance.md section 1, scaled down): servers pinned to one core, generator
(``bench.loadgen``) to the other; closed-loop rounds A, B, C interleaved (rotated every
round) for the throughput ratio, then open loop at ``--load-fraction`` of A's median maximum
for p50/p95/p99. CPU seconds of the gateway, the upstream, Redis and the generator are taken at
the exact window edges.

Usage: ``.venv/bin/python -m bench.w8_ratelimit [--quick]``. The factories ``gateway_off``,
``gateway_redis``, ``gateway_memory`` and ``upstream`` are what uvicorn loads.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

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
from bench._infra import purge_redis

HOST = "127.0.0.1"
REDIS_URL = "redis://127.0.0.1:6379/0"
PATH = "/v1/users/me"
VARIANTS = {
    "A": ("off", "limiter off (no-op limiter, same headers)"),
    "B": ("redis", "RedisRateLimiter: GCRA Lua script via EVALSHA (distributed mode)"),
    "C": ("memory", "MemoryRateLimiter: process-local GCRA (embedded mode)"),
}
PROFILE = {
    "id": "3f1c2a4e-8f0b-4c1e-9a57-5d2e8b7c6a10",
    "display_name": "Client Okada",
    "language": "fr",
    "roles": ["customer"],
    "status": "active",
    "phones": [{"e164": "+237677123456", "primary": True, "verified": True}],
    "created_at": "2026-11-26T07:00:00Z",
    "updated_at": "2026-11-26T07:00:00Z",
    "version": 1,
}


# -- servers ----------------------------------------------------------------------------------


async def _upstream_app(scope: Any, receive: Any, send: Any) -> None:
    """The fake identity service: a fixed profile, encoded per request, like a fast service."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = orjson.dumps(PROFILE)
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"etag", b'W/"1"'),
    ]})
    await send({"type": "http.response.body", "body": body})


def upstream() -> Any:
    """Factory of the fake upstream."""
    return _upstream_app


class NoLimiter:
    """Variant A: allows every request without asking anybody."""

    async def hit(self, key: str, policy: Any, cost: int = 1) -> Any:
        from okada.infra.ratelimit import RateLimitDecision

        return RateLimitDecision(allowed=True, limit=policy.limit,
                                 remaining=policy.capacity - cost, reset_after=0.0,
                                 retry_after=0.0)


def _gateway(kind: str) -> Any:
    from okada.gateway.app import create_gateway_app
    from okada.infra.cache.redis import RedisCache
    from okada.infra.hosting import ServiceDirectory
    from okada.infra.observability.logging import configure_logging
    from okada.infra.ratelimit import MemoryRateLimiter, RateLimitPolicy, RedisRateLimiter
    from okada.infra.security.internal import PrincipalCodec
    from okada.infra.security.tokens import AccessTokenVerifier, JwksCache
    from okada.infra.settings import Mode, PlatformSettings

    config = json.loads(os.environ["W8_CONFIG"])
    settings = PlatformSettings(
        mode=Mode.DISTRIBUTED,
        internal_secret=config["secret"],
        redis_prefix=config["redis_prefix"],
        service_urls={"identity": config["upstream"]},
        log_level="WARNING",
    )
    configure_logging(level=settings.log_level, json=settings.log_json, service="gateway")
    jwks = config["jwks"]

    async def fetch() -> dict[str, Any]:
        return dict(jwks)

    limiter: Any = {
        "off": NoLimiter,
        "redis": lambda: RedisRateLimiter(settings.redis_url,
                                          prefix=f"{settings.redis_prefix}rl:"),
        "memory": MemoryRateLimiter,
    }[kind]()
    return create_gateway_app(
        directory=ServiceDirectory(settings),
        services=["identity"],
        verifier=AccessTokenVerifier(JwksCache(fetch)),
        codec=PrincipalCodec(settings.internal_secret),
        cache=RedisCache(settings.redis_url, prefix=settings.redis_prefix),
        rate_limiter=limiter,
        rate_limit_policies={name: RateLimitPolicy(name, limit=1_000_000_000, period_seconds=1)
                             for name in ("reads", "writes")},
        max_body_bytes=settings.max_body_bytes,
    )


def gateway_off() -> Any:
    """Variant A."""
    return _gateway("off")


def gateway_redis() -> Any:
    """Variant B."""
    return _gateway("redis")


def gateway_memory() -> Any:
    """Variant C."""
    return _gateway("memory")


# -- tokens -----------------------------------------------------------------------------------


def make_keys_and_token() -> tuple[dict[str, Any], str]:
    """A fresh Ed25519 key: its JWKS and one customer access token valid for an hour."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from jwt.algorithms import OKPAlgorithm

    from okada.infra.security.tokens import ACCESS_TOKEN_TYPE, AUDIENCE, ISSUER

    key = Ed25519PrivateKey.generate()
    kid = f"bench-w8-{uuid.uuid4().hex[:12]}"
    jwk = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid=kid, alg="EdDSA", use="sig")
    now = int(time.time())
    token = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": str(uuid.uuid4()), "jti": uuid.uuid4().hex,
         "sid": str(uuid.uuid4()), "roles": ["customer"], "iat": now, "exp": now + 3600},
        key, algorithm="EdDSA", headers={"kid": kid, "typ": ACCESS_TOKEN_TYPE},
    )
    return {"keys": [jwk]}, token


# -- in-process cost of one hit ---------------------------------------------------------------


async def _hits(limiter: Any, policy: Any, total: int, concurrency: int) -> tuple[float, float]:
    """Await ``total`` hits on one key, ``concurrency`` at a time; (CPU s, wall s)."""
    per_task = total // concurrency

    async def worker() -> None:
        for _ in range(per_task):
            await limiter.hit("u:bench", policy)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.process_time() - cpu0, time.perf_counter() - wall0


async def _micro(prefix: str, total: int, repeats: int) -> list[dict[str, Any]]:
    from okada.infra.ratelimit import MemoryRateLimiter, RateLimitPolicy, RedisRateLimiter

    policy = RateLimitPolicy("reads", limit=1_000_000_000, period_seconds=1)
    redis_limiter = RedisRateLimiter(REDIS_URL, prefix=f"{prefix}rl:")
    limiters = {"A": NoLimiter(), "B": redis_limiter, "C": MemoryRateLimiter()}
    rows: list[dict[str, Any]] = []
    try:
        for limiter in limiters.values():
            await _hits(limiter, policy, 500, 1)  # connect, load the script
        for concurrency in (1, 64):
            for repeat in range(repeats):
                for key, limiter in limiters.items():
                    cpu, wall = await _hits(limiter, policy, total, concurrency)
                    rows.append({"key": key, "concurrency": concurrency, "repeat": repeat,
                                 "cpu_us": cpu * 1e6 / total, "wall_us": wall * 1e6 / total})
    finally:
        await redis_limiter.aclose()
    return rows


def micro(prefix: str, total: int, repeats: int, cpu: str | None) -> list[dict[str, Any]]:
    """Run :func:`_micro` in a child pinned like the generator; return its rows."""
    code = ("import json, sys, uvloop; from bench.w8_ratelimit import _micro; "
            f"print(json.dumps(uvloop.run(_micro({prefix!r}, {total}, {repeats}))))")
    done = subprocess.run([*_pin(cpu), PYTHON, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"micro-benchmark failed: {done.stderr[-2000:]}")
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


# -- driver -----------------------------------------------------------------------------------


@dataclass
class Server:
    """A running server process."""

    key: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _pin(cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus] if cpus else []


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _get(port: int, header: str) -> bytes:
    request = (f"GET {PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\n{header}\r\n"
               "Connection: close\r\n\r\n")
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sock.sendall(request.encode())
        data = b""
        # Read by Content-Length: the canned responder never closes the connection.
        while b"\r\n\r\n" not in data and (chunk := sock.recv(65536)):
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        while match and len(body) < int(match.group(1)) and (chunk := sock.recv(65536)):
            body += chunk
    return head + b"\r\n\r\n" + body


def _wait_ready(server: Server, header: str, timeout: float = 60.0) -> bytes:
    deadline = time.monotonic() + timeout
    last = b""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server {server.key} exited with {server.process.returncode}: "
                               f"{server.log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError):
            last = _get(server.port, header)
            if last.startswith(b"HTTP/1.1 200"):
                return last
        time.sleep(0.3)
    raise RuntimeError(f"server {server.key} not ready after {timeout}s: {last[:300]!r}")


def _redis_pids() -> list[int]:
    import psutil

    return [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == "redis-server"]




@contextlib.contextmanager
def servers(cpus: str | None, header: str, logdir: Path) -> Iterator[dict[str, Server]]:
    """Start the upstream, the three gateways and the canned responder; stop them after."""
    running: dict[str, Server] = {}
    uvicorn_flags = ["--host", HOST, "--http", "httptools", "--loop", "uvloop",
                     "--no-access-log", "--log-level", "warning", "--timeout-keep-alive", "30",
                     "--limit-concurrency", "2000"]

    def start(key: str, command: list[str], port: int) -> None:
        log = logdir / f"{key}.log"
        with log.open("wb") as handle:
            process = subprocess.Popen(command, cwd=ROOT, stdout=handle, stderr=handle,
                                       start_new_session=True)
        running[key] = Server(key, port, process, log)

    try:
        config = json.loads(os.environ["W8_CONFIG"])
        port = int(config["upstream"].rsplit(":", 1)[1])
        start("U", [*_pin(cpus), PYTHON, "-m", "uvicorn", "bench.w8_ratelimit:upstream",
                    "--factory", "--port", str(port), *uvicorn_flags], port)
        for key, (kind, _label) in VARIANTS.items():
            port = _free_port()
            start(key, [*_pin(cpus), PYTHON, "-m", "uvicorn", f"bench.w8_ratelimit:gateway_{kind}",
                        "--factory", "--port", str(port), *uvicorn_flags], port)
        port = _free_port()
        start("Z", [*_pin(cpus), PYTHON, "-m", "bench.w1_apps", "canned", str(port)], port)
        for server in running.values():
            _wait_ready(server, header)
        yield running
    finally:
        for server in running.values():
            if server.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(server.process.pid, signal.SIGTERM)
        for server in running.values():
            try:
                server.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(server.process.pid, signal.SIGKILL)
                server.process.wait(timeout=10)


def generate(
    server: Server,
    upstream_pid: int,
    *,
    mode: str,
    duration: float,
    warmup: float,
    connections: int,
    header: str,
    cpu: str | None,
    rate: float = 0.0,
) -> dict[str, Any]:
    """Run one ``bench.loadgen`` process against ``server``; its JSON plus derived figures."""
    redis = _redis_pids()
    command = [
        *_pin(cpu), PYTHON, "-m", "bench.loadgen", "--host", HOST, "--port", str(server.port),
        "--path", PATH, "--header", header, "--mode", mode, "--duration", str(duration),
        "--warmup", str(warmup), "--connections", str(connections),
        "--pid", str(server.process.pid), "--pid", str(upstream_pid),
        *(x for pid in redis for x in ("--pid", str(pid))),
    ]
    if mode == "open":
        command += ["--rate", str(rate)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          timeout=duration + warmup + 60)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    ok = max(1, result["ok"])
    window = result["window_s"]
    pid_cpu = result["pid_cpu_s"]
    cpu_s = {
        "gateway": pid_cpu[str(server.process.pid)],
        "upstream": pid_cpu[str(upstream_pid)],
        "redis": sum(pid_cpu[str(p)] for p in redis),
        "generator": result["generator_cpu_s"],
    }
    if server.key == "Z":
        cpu_s["gateway"], cpu_s["upstream"] = 0.0, 0.0  # the canned responder is not measured
    known = sum(cpu_s.values())
    result.update(
        key=server.key,
        generator_stderr=done.stderr[-1000:],
        ms_per_req={k: v * 1000 / ok for k, v in cpu_s.items()},
        gateway_core_pct=100 * cpu_s["gateway"] / window,
        generator_machine_pct=100 * cpu_s["generator"] / (window * (os.cpu_count() or 1)),
        others_machine_pct=100 * max(0.0, result["machine_busy_s"] - known)
        / max(1e-9, result["machine_total_s"]),
    )
    return result


def _wait_for_other_benchmarks(max_wait: float) -> None:
    """Wait (up to ``max_wait`` s) until no other ``python -m bench.*`` process runs."""
    import psutil

    me = psutil.Process()
    mine = {me.pid, *(p.pid for p in me.parents())}
    started = time.monotonic()
    while time.monotonic() - started < max_wait:
        others = [" ".join(p.info["cmdline"] or ())[:100]
                  for p in psutil.process_iter(["pid", "cmdline"])
                  if p.info["pid"] not in mine
                  and re.search(r"-m bench\.\w", " ".join(p.info["cmdline"] or ()))]
        if not others:
            return
        _progress(f"waiting for other benchmarks to finish: {others[0]}")
        time.sleep(15)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Do the whole W8 measurement and return the raw results."""
    multi = len(os.sched_getaffinity(0)) >= 2 and not args.no_pin
    server_cpus = args.server_cpus if multi else None
    generator_cpu = args.generator_cpu if multi else None
    jwks, token = make_keys_and_token()
    header = f"Authorization: Bearer {token}"
    prefix = f"okada-bench-w8-{uuid.uuid4().hex[:8]}:"
    os.environ["W8_CONFIG"] = json.dumps({
        "upstream": f"http://{HOST}:{_free_port()}",
        "jwks": jwks,
        "secret": f"bench-w8-{uuid.uuid4().hex}",
        "redis_prefix": prefix,
    })
    started, load_start = now_utc(), os.getloadavg()
    keys = list(VARIANTS)
    try:
        with tempfile.TemporaryDirectory(prefix="okada-w8-") as tmp, servers(
            server_cpus, header, Path(tmp)
        ) as running:
            upstream_pid = running["U"].process.pid
            common = {"connections": args.connections, "header": header, "cpu": generator_cpu}
            sizes = {k: len(_get(running[k].port, header).partition(b"\r\n\r\n")[2])
                     for k in keys}
            heads = {k: _get(running[k].port, header).partition(b"\r\n\r\n")[0].decode()
                     for k in keys}
            calibration = generate(running["Z"], upstream_pid, mode="closed",
                                   duration=args.calibration, warmup=args.gen_warmup, **common)
            _progress(f"generator vs canned responder: {calibration['rps']:,.0f} req/s")
            for key in keys:
                generate(running[key], upstream_pid, mode="closed", duration=args.warmup,
                         warmup=0.2, **common)
            closed: list[dict[str, Any]] = []
            for round_no in range(1, args.rounds + 1):
                shift = (round_no - 1) % len(keys)
                for key in keys[shift:] + keys[:shift]:
                    r = generate(running[key], upstream_pid, mode="closed",
                                 duration=args.duration, warmup=args.gen_warmup, **common)
                    r["round"] = round_no
                    closed.append(r)
                    _progress(f"round {round_no} {key}: {r['rps']:,.0f} req/s, {r['errors']} "
                              f"errors, others {r['others_machine_pct']:.0f}%")
            rate = round(args.load_fraction * statistics.median(
                r["rps"] for r in closed if r["key"] == "A"))
            opened: list[dict[str, Any]] = []
            for round_no in range(1, args.latency_rounds + 1):
                shift = (round_no - 1) % len(keys)
                for key in keys[shift:] + keys[:shift]:
                    r = generate(running[key], upstream_pid, mode="open", rate=rate,
                                 duration=args.latency_duration, warmup=args.gen_warmup,
                                 **common)
                    r["round"] = round_no
                    opened.append(r)
                    lat = r["latency_ms"]
                    _progress(f"open {round_no} {key} @ {rate}/s: p50 {lat['p50']:.3f} "
                              f"p99 {lat['p99']:.3f} ms")
            logs = {k: s.log.read_text(errors="replace")[-1500:] for k, s in running.items()}
        _progress("in-process cost of one limiter hit")
        hits = micro(prefix, args.micro_hits, args.micro_repeats, generator_cpu)
    finally:
        deleted = asyncio.run(purge_redis(prefix))
    import redis as redis_sync

    client = redis_sync.Redis.from_url(REDIS_URL)
    try:
        redis_version = str(client.info("server").get("redis_version", "?"))
    finally:
        client.close()
    return {
        "started": started,
        "finished": now_utc(),
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "settings": {
            "server_cpus": server_cpus,
            "generator_cpu": generator_cpu,
            "connections": args.connections,
            "rounds": args.rounds,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "latency_rounds": args.latency_rounds,
            "latency_duration_s": args.latency_duration,
            "load_fraction": args.load_fraction,
            "open_rate": rate,
            "micro_hits": args.micro_hits,
            "micro_repeats": args.micro_repeats,
        },
        "micro": hits,
        "response_bytes": sizes,
        "response_heads": heads,
        "redis_keys_deleted": deleted,
        "calibration": calibration,
        "closed": closed,
        "open": opened,
        "server_logs": {k: v for k, v in logs.items() if v.strip()},
        "versions": {
            **versions(["fastapi", "starlette", "uvicorn", "httptools", "uvloop", "redis",
                        "aiohttp", "httpx", "pyjwt", "cryptography", "orjson"]),
            "redis-server": redis_version,
        },
        "command": command_line(),
    }


# -- report -----------------------------------------------------------------------------------


def _med(rows: list[dict[str, Any]], key: str, get: Any) -> float:
    values = [get(r) for r in rows if r["key"] == key]
    return statistics.median(values) if values else float("nan")


def ratios(closed: list[dict[str, Any]], top: str, bottom: str) -> list[float]:
    """Per-round ratios ``top/bottom`` of closed-loop req/s."""
    by_round: dict[int, dict[str, float]] = {}
    for r in closed:
        by_round.setdefault(r["round"], {})[r["key"]] = r["rps"]
    return [v[top] / v[bottom] for _, v in sorted(by_round.items())
            if v.get(top) and v.get(bottom)]


def paired_p50(opened: list[dict[str, Any]], key: str) -> list[float]:
    """Per-round p50 of ``key`` minus p50 of A (ms)."""
    by_round: dict[int, dict[str, float]] = {}
    for r in opened:
        by_round.setdefault(r["round"], {})[r["key"]] = r["latency_ms"]["p50"]
    return [v[key] - v["A"] for _, v in sorted(by_round.items()) if key in v and "A" in v]


def _micro_med(rows: list[dict[str, Any]], key: str, concurrency: int, field: str) -> float:
    values = [r[field] for r in rows if r["key"] == key and r["concurrency"] == concurrency]
    return statistics.median(values) if values else float("nan")


def render(data: dict[str, Any]) -> str:
    """Render the results as the markdown report."""
    s, v = data["settings"], data["versions"]
    closed, opened, cal = data["closed"], data["open"], data["calibration"]
    out = [
        "# W8: gateway rate limiter on vs off",
        "",
        f"- Date (UTC): {data['started']} to {data['finished']}",
        f"- Command: `{data['command']}`",
        f"- Versions: Python {v['python']}, FastAPI {v['fastapi']}, Starlette {v['starlette']}, "
        f"uvicorn {v['uvicorn']} (httptools {v['httptools']}, uvloop {v['uvloop']}), "
        f"redis-py {v['redis']}, aiohttp {v['aiohttp']}, httpx {v['httpx']}, PyJWT "
        f"{v['pyjwt']}, cryptography {v['cryptography']}, orjson {v['orjson']}; Redis "
        f"{v['redis-server']} (the box's shared server)",
        *machine_lines(data["load_average_start"], data["load_average_end"]),
        f"- Machine busy just before the run: {data.get('busy_before_pct', float('nan')):.0f}%",
        "- Servers: one uvicorn process per variant (`--http httptools --loop uvloop`, "
        "keep-alive 30 s, as `okada serve` runs the gateway) and the fake upstream, all pinned "
        f"to CPU(s) {s['server_cpus']}; generator `bench.loadgen` pinned to CPU "
        f"{s['generator_cpu']}, {s['connections']} keep-alive connections, no pipelining.",
        f"- Request: `GET {PATH}` with a bearer token (one customer): JWT verified (once, then "
        "remembered), revocation keys read on Redis (A, C: one MGET; B: inside the limiter's "
        "EVALSHA, one round trip), rate limit, principal header signed (remembered per token), "
        "proxied over the gateway's pooled aiohttp session "
        f"to the fake upstream ({data['response_bytes']['A']:,}-byte JSON body).",
        f"- Closed loop: {s['rounds']} rounds of A, B, C (order rotated each round), "
        f"{s['duration_s']} s windows after a {s['warmup_s']} s warm-up per variant. Open loop: "
        f"{s['latency_rounds']} round(s) of {s['latency_duration_s']} s per variant at "
        f"{s['open_rate']:,} req/s = {s['load_fraction']:.0%} of A's median maximum.",
        "- The `reads` policy is raised to 10^9/s so no request is refused (the script runs "
        "the same GET + SET on the same key). The box is shared: 'others %' is the CPU used by "
        "every process not listed.",
        "",
        "Variants: " + "; ".join(f"**{k}** {label}" for k, (_, label) in VARIANTS.items()) + ".",
        "",
        "## Report row",
        "",
    ]
    rows = []
    for key in ("B", "C"):
        m, lo, hi = median_range(ratios(closed, key, "A"))
        dm, dlo, dhi = median_range(paired_p50(opened, key))
        cpu_a = _med(closed, "A", lambda r: r["ms_per_req"]["gateway"])
        cpu_x = _med(closed, key, lambda r: r["ms_per_req"]["gateway"])
        rows.append([
            f"{key}/A",
            f"{_med(closed, 'A', lambda r: r['rps']):,.0f}",
            f"{_med(closed, key, lambda r: r['rps']):,.0f}",
            f"**{fmt(m)}** ({fmt(lo)}-{fmt(hi)})",
            f"{s['open_rate']:,}/s",
            " / ".join(f"{_med(opened, 'A', lambda r, q=q: r['latency_ms'][q]):.2f}"
                       for q in ("p50", "p95", "p99")),
            " / ".join(f"{_med(opened, key, lambda r, q=q: r['latency_ms'][q]):.2f}"
                       for q in ("p50", "p95", "p99")),
            f"**{dm:+.3f}** ({dlo:+.3f} to {dhi:+.3f})",
            f"{cpu_a:.3f} / {cpu_x:.3f} ({(cpu_x - cpu_a) * 1000:+.0f} us)",
            f"{fmt(cpu_a / cpu_x)}",
            f"{_med(closed, 'A', lambda r: r['ms_per_req']['redis']):.3f} / "
            f"{_med(closed, key, lambda r: r['ms_per_req']['redis']):.3f}",
        ])
    out.append(table(
        ["Pair", "A max req/s", "X max req/s", "median ratio X/A (min-max)", "arrival rate",
         "A p50/p95/p99 ms", "X p50/p95/p99 ms", "added p50 ms, per round (min to max)",
         "gateway CPU ms/req A / X", "CPU-efficiency ratio A/X", "Redis CPU ms/req A / X"],
        rows,
    ))
    out += [
        "",
        "Goal (performance.md W8): throughput >= 0.85 and added p50 <= 0.3 ms. Ratios and "
        "added p50 are per round (variants back to back), median over rounds. The "
        "CPU-efficiency ratio (gateway CPU per request of A over X, medians) is what the "
        "throughput ratio would be for a purely CPU-bound gateway, and is the figure least "
        "disturbed by this VM's drift; the in-process table below gives the cost of one hit.",
        "",
        "## Closed loop, every run",
        "",
        table(
            ["Round", "variant", "req/s", "errors / lost", "gateway CPU ms/req",
             "upstream CPU ms/req", "Redis CPU ms/req", "generator CPU ms/req",
             "gateway core %", "generator % machine", "others % machine", "p50 / p99 ms"],
            [[r["round"], r["key"], f"{r['rps']:,.0f}",
              f"{r['errors'] + r.get('protocol_errors', 0)} / {r.get('connections_lost', 0)}",
              *(f"{r['ms_per_req'][k]:.3f}" for k in ("gateway", "upstream", "redis",
                                                      "generator")),
              f"{r['gateway_core_pct']:.0f}", f"{r['generator_machine_pct']:.0f}",
              f"{r['others_machine_pct']:.0f}",
              f"{r['latency_ms']['p50']:.2f} / {r['latency_ms']['p99']:.2f}"]
             for r in closed],
        ),
        "",
        "Spread (max-min)/median of req/s: "
        + ", ".join(f"{k} {spread([r['rps'] for r in closed if r['key'] == k]):.0%}"
                    for k in VARIANTS)
        + ". Closed-loop latencies are context only (coordinated omission).",
        "",
        f"## Open loop at {s['open_rate']:,} req/s, every run",
        "",
        table(
            ["Round", "variant", "achieved /s", "errors", "p50 ms", "p90 ms", "p95 ms",
             "p99 ms", "p99.9 ms", "max ms", "incomplete", "gateway CPU ms/req",
             "others % machine", "gen. lag p99 ms"],
            [[r["round"], r["key"], f"{r['rps']:,.0f}", r["errors"],
              *(f"{r['latency_ms'][q]:.3f}" for q in ("p50", "p90", "p95", "p99", "p999",
                                                      "max")),
              r["incomplete"], f"{r['ms_per_req']['gateway']:.3f}",
              f"{r['others_machine_pct']:.0f}", f"{r['schedule_lag_ms']['p99']:.2f}"]
             for r in opened],
        ),
        "",
        "## In-process cost of one limiter hit",
        "",
        f"`limiter.hit()` awaited {s.get('micro_hits', 0):,} times on one key in a process "
        "pinned like the generator, one at a time and 64 concurrent tasks (as under load); "
        "median of the repeats. CPU is this process's (redis-py encoding, parsing, the event "
        "loop), wall includes the Redis round trip and the server's script time.",
        "",
        table(
            ["Variant", "CPU us/hit, 1 at a time", "wall us/hit, 1 at a time",
             "CPU us/hit, 64 concurrent", "wall us/hit, 64 concurrent"],
            [[f"{k} {VARIANTS[k][0]}",
              *(f"{_micro_med(data.get('micro', []), k, c, f):.1f}"
                for c in (1, 64) for f in ("cpu_us", "wall_us"))]
             for k in VARIANTS],
        ),
        "",
        "## Generator calibration (W13)",
        "",
    ]
    fastest = max(_med(closed, k, lambda r: r["rps"]) for k in VARIANTS)
    out += [
        f"Against a canned raw-asyncio responder: {cal['rps']:,.0f} req/s, generator at "
        f"{cal['generator_machine_pct']:.0f}% of the machine: {cal['rps'] / fastest:.1f}x the "
        f"fastest variant ({fastest:,.0f} req/s); the method asks for at least 3x.",
        "",
        "Response headers of B (the limiter's `RateLimit*` fields show the raised policy):",
        "",
        "```",
        data["response_heads"]["B"].strip(),
        "```",
        "",
        f"Redis keys of the run deleted at the end: {data['redis_keys_deleted']}.",
        "",
    ]
    if data.get("server_logs"):
        out += ["## Server stderr (tail)", ""]
        for key, text in data["server_logs"].items():
            out += [f"{key}:", "", "```", text.strip(), "```", ""]
    return "\n".join(out)


# -- in-process CPU of the whole edge (no HTTP server in front) -------------------------------


# A W7-like write (`place`): a saved place posted as JSON.
POST_PATH = "/v1/users/me/places"
POST_BODY = orjson.dumps({"label": "Maison", "city": "Douala", "quartier": "Bonamoussadi",
                          "landmark": "Carrefour Eto'o, derriere la pharmacie",
                          "lat": 4.0921, "lng": 9.7412})


async def _drive_edge(app: Any, token: str, total: int, concurrency: int,
                      post: bool = False) -> None:
    headers = [(b"host", b"gateway"), (b"authorization", f"Bearer {token}".encode()),
               (b"accept", b"*/*"), (b"user-agent", b"bench")]
    method, path, body = ("POST", POST_PATH, POST_BODY) if post else ("GET", PATH, b"")
    if post:
        headers += [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())]

    async def one() -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
                 "query_string": b"", "root_path": "", "headers": headers,
                 "client": (HOST, 50000), "server": (HOST, 8000), "state": {}}
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        statuses: list[int] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope, receive, send)
        if statuses != [200]:
            raise RuntimeError(f"edge answered {statuses}")

    left = [total]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            await one()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def edge_cpu(argv: list[str]) -> None:
    """``python -m bench.w8_ratelimit edge-cpu [off|redis|memory] [N] [--profile] [--post]``.

    CPU ms per request of the gateway's whole edge (middleware, authentication, revocation
    read, limiter, signing, aiohttp forwarding) driven through ASGI in this process, without
    uvicorn in front, against the fake upstream in its own process; ``--profile`` prints the
    cProfile top entries (the profiler inflates pure-Python parts); ``--post`` sends W7's
    ``place`` write (a JSON POST) instead of W7's ``me`` read. Needs Redis.
    """
    import cProfile
    import pstats

    import uvloop

    kind = argv[0] if argv and not argv[0].startswith("-") else "redis"
    total = int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else 4000
    jwks, token = make_keys_and_token()
    port = _free_port()
    config = {"secret": uuid.uuid4().hex * 2, "redis_prefix": f"okada-bench-w8e-{port}:",
              "upstream": f"http://{HOST}:{port}", "jwks": jwks}
    os.environ["W8_CONFIG"] = json.dumps(config)
    upstream_process = subprocess.Popen(
        [PYTHON, "-m", "uvicorn", "bench.w8_ratelimit:upstream", "--factory", "--port",
         str(port), "--host", HOST, "--http", "httptools", "--loop", "uvloop",
         "--no-access-log", "--log-level", "warning"], cwd=ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.2):
                break
            time.sleep(0.1)
        app = _gateway(kind)

        async def measure() -> None:
            post = "--post" in argv
            await _drive_edge(app, token, 500, 32, post)  # warm-up: pools, JWKS, token memory
            profile = cProfile.Profile() if "--profile" in argv else None
            cpu, wall = time.process_time(), time.perf_counter()
            if profile:
                profile.enable()
            await _drive_edge(app, token, total, 32, post)
            if profile:
                profile.disable()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            verb = "POST" if post else "GET"
            print(f"edge {kind} {verb}: {1000 * cpu / total:.3f} CPU ms/request, "
                  f"{total / wall:,.0f} req/s wall, {total} requests, 32 concurrent")
            if profile:
                pstats.Stats(profile).sort_stats("cumulative").print_stats(35)
            await purge_redis(config["redis_prefix"])

        uvloop.run(measure())
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(upstream_process.pid, signal.SIGTERM)
        upstream_process.wait(timeout=15)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run W8, print the report and write the results files."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["edge-cpu"]:
        edge_cpu(argv[1:])
        return
    parser = argparse.ArgumentParser(description="W8: gateway rate limiter on vs off")
    parser.add_argument("--quick", action="store_true", help="about a minute and a half")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--wait-bench", type=float, default=900.0, metavar="SECONDS",
                        help="first wait up to this long for other bench.* processes to end")
    # Many short rounds rather than a few long ones (as W1): this VM's speed drifts by 10-30%
    # within minutes, and a short round keeps A, B and C under the same conditions.
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--gen-warmup", type=float, default=0.5)
    parser.add_argument("--calibration", type=float, default=3.0)
    parser.add_argument("--latency-rounds", type=int, default=3)
    parser.add_argument("--latency-duration", type=float, default=5.0)
    parser.add_argument("--load-fraction", type=float, default=0.5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--micro-hits", type=int, default=6400,
                        help="limiter hits per in-process measurement")
    parser.add_argument("--micro-repeats", type=int, default=3)
    parser.add_argument("--server-cpus", default="0")
    parser.add_argument("--generator-cpu", default="1")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS / "w8_ratelimit.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup, args.calibration = 4, 3.0, 1.5, 2.0
        args.latency_rounds, args.latency_duration, args.micro_repeats = 1, 4.0, 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.wait_bench:
        _wait_for_other_benchmarks(args.wait_bench)
    busy = wait_until_quiet(args.wait_quiet) if args.wait_quiet else machine_busy_pct()
    data = run(args)
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
