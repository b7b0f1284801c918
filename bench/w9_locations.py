"""W9: rider location ingest over HTTP (distributed mode) vs raw redis-py pipelined GEOADD.

**A svc**: the delivery service as deployed in distributed mode (``okada serve delivery``,
one uvicorn worker, PostgreSQL + Redis + RabbitMQ, names unique to the run) receives
``POST /v1/rider/locations`` batches as the rider app sends them (``--batch`` pings per request,
fresh client timestamps, a small drift of position), each authenticated with the rider's
gateway-signed principal header (HMAC over the principal, the header the gateway adds after
checking the bearer token; the service verifies it on every request). ``--riders`` riders go
online first (``POST /v1/rider/shift``), and requests cycle over them. Each request: auth,
validation, one SQL statement (rider check + history insert + live position, see
``SqlaRiderRepository.record_pings``) in a transaction, GEOADD of the newest point.

**B raw**: redis-py asyncio, pipelines of ``--pipeline`` GEOADDs (one member each) on
``--raw-tasks`` concurrent tasks: the floor of what updating a Redis GEO index costs from
Python on this box. Ratio = A updates/s ÷ B updates/s.

Method (performance.md section 1, scaled down): the service is pinned to CPU 0 and the
generator (``bench.loadgen``'s protocol, with a per-request body) to CPU 1; B runs pinned to
CPU 0 too. Rounds A, B interleaved for the throughput ratio (closed loop); then open loop at
``--load-fraction`` of A's median maximum for p50/p95/p99 (latency from the intended send
time). CPU seconds of the service, PostgreSQL (all backends), redis-server and the generator
over each window give CPU-ms per request. After the run the stored pings are counted
(every accepted update must be in ``rider_pings``).

Usage: ``.venv/bin/python -m bench.w9_locations [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import secrets
import signal
import socket
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
    table,
    versions,
)

HOST = "127.0.0.1"
REDIS_URL = "redis://127.0.0.1:6379/0"
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
SOUTH, NORTH, WEST, EAST = 3.98, 4.12, 9.66, 9.80


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- generator (child process) ----------------------------------------------------------------


def loadgen_main(argv: list[str]) -> None:
    """``bench.loadgen`` with a fresh POST body per request (new timestamps, next rider)."""
    from bench import loadgen

    parser = argparse.ArgumentParser()
    parser.add_argument("--headers-file", required=True)
    parser.add_argument("--batch", type=int, default=5)
    known, rest = parser.parse_known_args(argv)
    headers: list[str] = json.loads(Path(known.headers_file).read_text())
    batch = known.batch
    rng = random.Random(os.getpid())
    positions = [(rng.uniform(SOUTH, NORTH), rng.uniform(WEST, EAST)) for _ in headers]
    last_us = [0] * len(headers)
    state = {"next": 0}

    class PingGenerator(loadgen.Generator):
        @property
        def request(self) -> bytes:
            i = state["next"]
            state["next"] = (i + 1) % len(headers)
            now_us = time.time_ns() // 1000
            # Strictly increasing client times per rider, one millisecond apart in a batch.
            first = max(now_us - (batch - 1) * 1000, last_us[i] + 1000)
            last_us[i] = first + (batch - 1) * 1000
            lat, lng = positions[i]
            parts = []
            for k in range(batch):
                at = dt.datetime.fromtimestamp((first + k * 1000) / 1e6, dt.UTC)
                lat += rng.uniform(-0.0002, 0.0002)
                lng += rng.uniform(-0.0002, 0.0002)
                parts.append(f'{{"at":"{at.isoformat()}","lat":{lat:.6f},"lng":{lng:.6f},'
                             f'"accuracy_m":8}}')
            positions[i] = (lat, lng)
            body = ('{"pings":[' + ",".join(parts) + "]}").encode()
            head = (f"POST /v1/rider/locations HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                    f"Content-Type: application/json\r\n{headers[i]}\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
            return head + body

        @request.setter
        def request(self, value: bytes) -> None:
            pass  # the fixed request of the base class is not used

    loadgen.Generator = PingGenerator  # type: ignore[misc]
    loadgen.main(rest)


# -- raw redis-py (child process) -------------------------------------------------------------


def raw_main(argv: list[str]) -> None:
    """Pipelined GEOADD from redis-py asyncio; prints updates/s and this process's CPU."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--key", required=True)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--pipeline", type=int, default=50)
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--members", type=int, default=1000)
    args = parser.parse_args(argv)

    async def run() -> dict[str, Any]:
        import redis.asyncio as redis

        client = redis.from_url(REDIS_URL)
        rng = random.Random(1)
        members = [str(uuid.uuid4()) for _ in range(args.members)]
        done = 0

        async def task(stop: float) -> None:
            nonlocal done
            while time.perf_counter() < stop:
                pipe = client.pipeline(transaction=False)
                for _ in range(args.pipeline):
                    pipe.geoadd(args.key, (rng.uniform(WEST, EAST), rng.uniform(SOUTH, NORTH),
                                           members[rng.randrange(len(members))]))
                await pipe.execute()
                if time.perf_counter() < stop:
                    done += args.pipeline

        await asyncio.gather(*(task(time.perf_counter() + 1.0) for _ in range(args.tasks)))
        done = 0
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(task(t0 + args.duration) for _ in range(args.tasks)))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        await client.aclose()
        return {"updates": done, "updates_per_s": done / wall, "window_s": wall,
                "cpu_s": cpu}

    print(json.dumps(asyncio.run(run())))


# -- orchestration ----------------------------------------------------------------------------


def _cpu_of(names: tuple[str, ...]) -> dict[int, float]:
    found: dict[int, float] = {}
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] in names:
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                found[proc.pid] = t.user + t.system
    return found


def _used(a: dict[int, float], b: dict[int, float]) -> float:
    return sum(cpu - a.get(pid, 0.0) for pid, cpu in b.items())


class Infra:
    """CPU of PostgreSQL and redis-server between two instants (other clients included)."""

    def __enter__(self) -> Infra:
        self.pg0, self.redis0 = _cpu_of(("postgres",)), _cpu_of(("redis-server",))
        return self

    def __exit__(self, *exc: object) -> None:
        self.postgres = _used(self.pg0, _cpu_of(("postgres",)))
        self.redis = _used(self.redis0, _cpu_of(("redis-server",)))


def _free_offset(base: int) -> int:
    for offset in range(950, 1400, 7):
        with socket.socket() as sock:
            try:
                sock.bind((HOST, base + offset))
            except OSError:
                continue
            return offset
    raise RuntimeError("no free port")


class Service:
    """The delivery process, distributed mode, names unique to the run."""

    def __init__(self, cpus: str, logdir: Path) -> None:
        from okada.infra.settings import default_port

        self.run = uuid.uuid4().hex[:8]
        self.secret = f"bench-w9-{secrets.token_hex(16)}"
        offset = _free_offset(default_port("delivery"))
        self.port = default_port("delivery") + offset
        self.env = {
            **os.environ,
            "OKADA_MODE": "distributed",
            "OKADA_INTERNAL_SECRET": self.secret,
            "OKADA_DATABASE_PREFIX": f"okada_bench_w9_{self.run}_",
            "OKADA_AMQP_EXCHANGE": f"okada.bench.w9.{self.run}",
            "OKADA_AMQP_QUEUE_PREFIX": f"bench.w9.{self.run}.",
            "OKADA_REDIS_PREFIX": f"okada-bench-w9-{self.run}:",
            "OKADA_PORT_OFFSET": str(offset),
            "OKADA_LOG_LEVEL": "WARNING",
            "OKADA_SEED_DEMO_DATA": "false",
        }
        self.log = logdir / "delivery.log"
        with self.log.open("wb") as handle:
            self.proc = subprocess.Popen(
                ["taskset", "-c", cpus, PYTHON, "-m", "okada.cli.main", "serve", "delivery",
                 "--port", str(self.port)],
                cwd=ROOT, env=self.env, stdout=handle, stderr=handle, start_new_session=True)

    def wait_ready(self, timeout: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("delivery exited:\n" + self.log.read_text()[-3000:])
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://{HOST}:{self.port}/readyz", timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("delivery not ready")
            time.sleep(0.5)

    def pid(self) -> int:
        """The python process under taskset (taskset execs, so it is the same pid)."""
        return self.proc.pid

    def header(self, rider_id: uuid.UUID) -> str:
        from okada.infra.security.internal import PRINCIPAL_HEADER, PrincipalCodec
        from okada.kernel.authz import Principal, Role

        value = PrincipalCodec(self.secret).encode(
            Principal(user_id=rider_id, roles=frozenset({Role.RIDER})), ttl=3600)
        return f"{PRINCIPAL_HEADER}: {value}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    async def count_pings(self) -> int:
        import asyncpg  # type: ignore[import-untyped]

        conn = await asyncpg.connect(
            f"postgresql://postgres@127.0.0.1:5432/{self.env['OKADA_DATABASE_PREFIX']}delivery",
            timeout=10)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM rider_pings"))
        finally:
            await conn.close()

    async def cleanup(self) -> dict[str, Any]:
        from bench._infra import drop_databases, purge_broker, purge_redis

        env = self.env
        return {
            "databases": await drop_databases(env["OKADA_DATABASE_PREFIX"]),
            "queues": len(await purge_broker(env["OKADA_AMQP_EXCHANGE"],
                                             env["OKADA_AMQP_QUEUE_PREFIX"])),
            "redis_keys": await purge_redis(env["OKADA_REDIS_PREFIX"]),
        }


async def go_online(svc: Service, riders: list[uuid.UUID]) -> None:
    import httpx

    rng = random.Random(9)
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{svc.port}", timeout=30) as client:
        sem = asyncio.Semaphore(8)

        async def one(rider_id: uuid.UUID) -> None:
            name, _, value = svc.header(rider_id).partition(": ")
            async with sem:
                r = await client.post("/v1/rider/shift", headers={name: value}, json={
                    "status": "online", "lat": rng.uniform(SOUTH, NORTH),
                    "lng": rng.uniform(WEST, EAST)})
            if r.status_code != 200 or r.json()["shift"] != "online":
                raise RuntimeError(f"shift: {r.status_code} {r.text[:300]}")

        await asyncio.gather(*(one(r) for r in riders))


def run_loadgen(svc: Service, headers_file: Path, args: argparse.Namespace, *, mode: str,
                duration: float, rate: float = 0.0) -> dict[str, Any]:
    command = ["taskset", "-c", args.gen_cpus, PYTHON, "-m", "bench.w9_locations", "loadgen",
               "--headers-file", str(headers_file), "--batch", str(args.batch),
               "--port", str(svc.port), "--mode", mode, "--connections",
               str(args.connections), "--warmup", "1", "--duration", str(duration),
               "--pid", str(svc.pid())]
    if mode == "open":
        command += ["--rate", str(rate), "--drain", "10"]
    with Infra() as infra:
        out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True,
                             timeout=duration + 60)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    # Infra CPU is sampled around the whole child (warm-up included): scale to the window.
    share = duration / (duration + 1.0)  # approximate: the child's start-up is not counted
    n = max(1, result["ok"])
    result["requests_per_s"] = result["rps"]
    result["updates_per_s"] = result["rps"] * args.batch
    result["cpu_ms_per_request"] = {
        "service": 1000 * sum(result["pid_cpu_s"].values()) / n,
        "generator": 1000 * result["generator_cpu_s"] / n,
        "postgres": 1000 * infra.postgres * share / n,
        "redis": 1000 * infra.redis * share / n,
    }
    result["machine_busy_pct"] = 100 * result["machine_busy_s"] / max(1e-9,
                                                                      result["machine_total_s"])
    return result


def run_raw(args: argparse.Namespace, key: str, duration: float) -> dict[str, Any]:
    command = ["taskset", "-c", args.svc_cpus, PYTHON, "-m", "bench.w9_locations", "raw",
               "--key", key, "--duration", str(duration), "--pipeline", str(args.pipeline),
               "--tasks", str(args.raw_tasks)]
    c0 = psutil.cpu_times()
    with Infra() as infra:
        out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True,
                             timeout=duration + 60)
    c1 = psutil.cpu_times()
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    n = max(1, result["updates"])
    share = duration / (duration + 1.5)
    result["cpu_ms_per_update"] = {"client": 1000 * result["cpu_s"] / n,
                                   "redis": 1000 * infra.redis * share / n}
    busy = (sum(c1) - c1.idle - c1.iowait) - (sum(c0) - c0.idle - c0.iowait)
    result["machine_busy_pct"] = 100 * busy / max(1e-9, sum(c1) - sum(c0))
    return result


def measure(args: argparse.Namespace, logdir: Path) -> dict[str, Any]:
    svc = Service(args.svc_cpus, logdir)
    raw_key = f"okada-bench-w9-{svc.run}:raw:geo"
    data: dict[str, Any] = {"run": svc.run, "port": svc.port}
    try:
        svc.wait_ready(180)
        riders = [uuid.uuid4() for _ in range(args.riders)]
        asyncio.run(go_online(svc, riders))
        pings_before = asyncio.run(svc.count_pings())
        headers_file = logdir / "headers.json"
        headers_file.write_text(json.dumps([svc.header(r) for r in riders]))
        _progress(f"{len(riders)} riders online on port {svc.port}")
        rounds: list[dict[str, Any]] = []
        for r in range(args.rounds):
            one: dict[str, Any] = {}
            for name in (("svc", "raw") if r % 2 == 0 else ("raw", "svc")):
                if name == "svc":
                    one[name] = run_loadgen(svc, headers_file, args, mode="closed",
                                            duration=args.duration)
                    _progress(f"round {r + 1} svc: {one[name]['updates_per_s']:.0f} updates/s "
                              f"({one[name]['requests_per_s']:.0f} req/s, "
                              f"errors {one[name]['errors']})")
                else:
                    one[name] = run_raw(args, raw_key, args.duration)
                    _progress(f"round {r + 1} raw: {one[name]['updates_per_s']:.0f} updates/s")
            rounds.append(one)
        max_rps = statistics.median(x["svc"]["requests_per_s"] for x in rounds)
        rate = args.load_fraction * max_rps
        open_run = run_loadgen(svc, headers_file, args, mode="open",
                               duration=args.open_duration, rate=rate)
        _progress(f"open @ {rate:.0f} req/s: p99 {open_run['latency_ms']['p99']:.1f} ms")
        pings_after = asyncio.run(svc.count_pings())
        sent_ok = sum(x["svc"]["ok"] for x in rounds) + open_run["ok"]
        data.update({
            "rounds": rounds, "open": open_run, "max_requests_per_s": max_rps,
            "ratio": median_range([x["svc"]["updates_per_s"] / x["raw"]["updates_per_s"]
                                   for x in rounds]),
            "pings_stored": pings_after - pings_before,
            "pings_in_window_ok": sent_ok * args.batch,
        })
    finally:
        svc.stop()
        try:
            data["cleanup"] = asyncio.run(svc.cleanup())
            import redis

            redis.Redis.from_url(REDIS_URL).delete(raw_key)
        except Exception as exc:  # still report the run
            data["cleanup"] = f"failed: {exc!r}"
    return data


def render(data: dict[str, Any]) -> str:
    m = data["measure"]
    a = data["args"]
    lines = [
        "# W9: rider location ingest (distributed) vs raw redis-py pipelined GEOADD", "",
        f"Run {data['started']} → {data['finished']} UTC. Command: `{data['command']}`", "",
        f"A = `POST /v1/rider/locations`, {a['batch']} pings per request, {a['riders']} riders "
        f"online, gateway-signed principal header, one uvicorn worker pinned to CPU "
        f"{a['svc_cpus']}, generator on CPU {a['gen_cpus']} ({a['connections']} keep-alive "
        f"connections). B = redis-py asyncio pipelines of {a['pipeline']} GEOADD on "
        f"{a['raw_tasks']} tasks, pinned to CPU {a['svc_cpus']}. {a['rounds']} interleaved "
        f"rounds x {a['duration']} s closed loop; open loop {a['open_duration']} s at "
        f"{a['load_fraction']:.0%} of A's median maximum.", "",
        "## Throughput (closed loop)", "",
    ]
    rows = []
    for i, x in enumerate(m["rounds"], 1):
        s, r = x["svc"], x["raw"]
        rows.append([i, fmt(s["updates_per_s"], 0), fmt(s["requests_per_s"], 0), s["errors"],
                     fmt(s["latency_ms"]["p99"], 1), fmt(r["updates_per_s"], 0),
                     f"{s['updates_per_s'] / r['updates_per_s']:.3f}",
                     fmt(s["machine_busy_pct"], 0)])
    lines.append(table(["round", "A updates/s", "A req/s", "A errors", "A p99 ms (closed)",
                        "B updates/s", "A/B", "machine busy % (A)"], rows))
    med_u = statistics.median(x["svc"]["updates_per_s"] for x in m["rounds"])
    lo_u = min(x["svc"]["updates_per_s"] for x in m["rounds"])
    hi_u = max(x["svc"]["updates_per_s"] for x in m["rounds"])
    raw_u = statistics.median(x["raw"]["updates_per_s"] for x in m["rounds"])
    ratio, rlo, rhi = m["ratio"]
    goal = "met" if med_u >= 2000 else "NOT met"
    lines += ["",
              f"- **A: {med_u:,.0f} updates/s median ({lo_u:,.0f}-{hi_u:,.0f}), "
              f"{m['max_requests_per_s']:,.0f} requests/s; goal ≥ 2,000 updates/s: {goal}**",
              f"- B: {raw_u:,.0f} updates/s median; **ratio A/B {ratio:.3f} "
              f"({rlo:.3f}-{rhi:.3f})**",
              f"- Pings stored during the measurement: {m['pings_stored']:,} "
              f"(accepted answers x batch, windows only: {m['pings_in_window_ok']:,}; the "
              "difference is the warm-ups and drains)",
              "", "## CPU per request (closed loop, median of rounds)", ""]
    rows = []
    for proc in ("service", "postgres", "redis", "generator"):
        v = statistics.median(x["svc"]["cpu_ms_per_request"][proc] for x in m["rounds"])
        rows.append([proc, fmt(v, 3), fmt(v / a["batch"], 3)])
    lines.append(table(["process", "CPU-ms per request", "CPU-ms per update"], rows))
    raw_client = statistics.median(x["raw"]["cpu_ms_per_update"]["client"] for x in m["rounds"])
    raw_redis = statistics.median(x["raw"]["cpu_ms_per_update"]["redis"] for x in m["rounds"])
    lines += ["", f"B: client {raw_client:.4f} CPU-ms per update, redis {raw_redis:.4f}.",
              "PostgreSQL and Redis figures include whatever other clients made them do "
              "during the window (shared box).", "",
              "## Latency at a fixed rate (open loop)", ""]
    o = m["open"]
    lat = o["latency_ms"]
    lines.append(table(["target req/s", "achieved req/s", "updates/s", "errors", "p50 ms",
                        "p95 ms", "p99 ms", "max ms", "service CPU-ms/req",
                        "generator CPU %"],
                       [[fmt(o["target_rate"], 0), fmt(o["rps"], 0),
                         fmt(o["updates_per_s"], 0), o["errors"] + o["incomplete"],
                         fmt(lat["p50"], 2), fmt(lat["p95"], 2), fmt(lat["p99"], 2),
                         fmt(lat["max"], 1), fmt(o["cpu_ms_per_request"]["service"], 3),
                         fmt(100 * o["generator_cpu_s"] / o["window_s"] / 2, 1)]]))
    verdict = "met" if lat["p99"] <= 20 else "NOT met"
    lines += ["", f"- **Goal p99 ≤ 20 ms at {a['load_fraction']:.0%} load: {verdict}** "
              f"({lat['p99']:.2f} ms)", "", "## Machine", ""]
    lines += machine_lines(data["load_start"], data["load_end"], {
        "Machine busy before the run": f"{data['busy_before']:.0f}%",
        "Versions": ", ".join(f"{k} {v}" for k, v in data["versions"].items()),
        "Code": data["fingerprint"],
        "Names (removed after)": f"run {m['run']}: databases okada_bench_w9_{m['run']}_*, "
                                 f"exchange okada.bench.w9.{m['run']}, redis "
                                 f"okada-bench-w9-{m['run']}:*; cleanup {m.get('cleanup')}",
    })
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["loadgen"]:
        return loadgen_main(argv[1:])
    if argv[:1] == ["raw"]:
        return raw_main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--riders", type=int, default=500)
    parser.add_argument("--batch", type=int, default=5, help="pings per request (app: 1-10)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--open-duration", type=float, default=20.0)
    parser.add_argument("--load-fraction", type=float, default=0.5)
    parser.add_argument("--pipeline", type=int, default=50)
    parser.add_argument("--raw-tasks", type=int, default=4)
    parser.add_argument("--svc-cpus", default="0")
    parser.add_argument("--gen-cpus", default="1")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 5 s, 8 s open loop")
    parser.add_argument("--out", default="w9_locations")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.open_duration = 5.0, 8.0
    data: dict[str, Any] = {"started": now_utc(), "command": command_line(), "args": vars(args),
                            "load_start": list(os.getloadavg()),
                            "busy_before": machine_busy_pct(1.0)}
    with tempfile.TemporaryDirectory(prefix="w9-") as tmp:
        data["measure"] = measure(args, Path(tmp))
    data["load_end"] = list(os.getloadavg())
    data["finished"] = now_utc()
    data["versions"] = versions(["fastapi", "starlette", "uvicorn", "sqlalchemy", "asyncpg",
                                 "redis", "pydantic"])
    data["fingerprint"] = source_fingerprint("src/okada/services/delivery", "src/okada/infra")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(data, indent=2, default=str))
    (RESULTS / f"{args.out}.md").write_text(render(data))
    print(render(data))
    return None


if __name__ == "__main__":
    main()
