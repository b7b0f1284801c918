"""W11: a catalog page served from the gateway's response cache versus from the database.

Both variants are the same embedded platform (gateway + catalog service, seeded demo catalog),
each in its own uvicorn process, asked for the same anonymous page:
``GET /v1/catalog/stores/<Okada Akwa>/products?limit=20`` with ``Accept-Language: fr``.

* A (database): the gateway's response cache is switched off (``cacheable_query`` answers
  False in that process), so every request goes gateway -> catalog service -> one SQL query ->
  orjson, exactly like a cache miss without the cache write.
* B (cache): the production path: anonymous catalog GETs are answered from the gateway's
  response cache (memory cache in embedded mode), filled on the first miss and invalidated by
  catalog and inventory events.

The catalog database is SQLite (embedded default) and, with ``--databases sqlite,postgres``
(the default when PostgreSQL answers on 127.0.0.1:5432), also a scratch PostgreSQL database
(``CATALOG_DATABASE_URL``), dropped afterwards. The gateway's per-IP read limit (600/min) is
raised in both processes: rate limiting is W8's subject and both variants pay the limiter the
same. Log level is WARNING in both (access lines are not what W11 measures).

Method (performance.md section 1, scaled down): the servers are pinned to core 0 and the
generator (``bench.loadgen``) to core 1; closed-loop rounds A, B, A, B... give the throughput
ratio per round (median, min-max); then open-loop runs at a fixed arrival rate (50% of A's
median maximum) give p50/p95/p99 for both. Every run records the CPU of the server, the
generator and the rest of the machine over the exact window.

Usage: ``.venv/bin/python -m bench.w11_catalog_cache [--quick] [--databases sqlite]``.
The server factories ``database_app`` and ``cached_app`` are what uvicorn loads.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
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

HOST = "127.0.0.1"
AKWA = "9df0d27b-bce4-585c-8ca5-f94b8590276a"  # uuid5 of "store:akwa" (scripts/make_seed.py)
PAGE = f"/v1/catalog/stores/{AKWA}/products?limit=20"
HEADER = "Accept-Language: fr"
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
VARIANTS = {"A": "database (gateway cache off)", "B": "gateway response cache"}


# -- server side ----------------------------------------------------------------------------


def _platform(*, cache: bool) -> Any:
    from okada.gateway import edge
    from okada.infra.ratelimit import RateLimitPolicy
    from okada.infra.settings import Mode, PlatformSettings
    from okada.runtime.embedded import create_embedded_app

    settings = PlatformSettings(
        mode=Mode.EMBEDDED, data_dir=Path(os.environ["W11_DATA_DIR"]), log_level="WARNING"
    )
    app = create_embedded_app(settings, services=["catalog"])
    app.state.limits.policies["reads"] = RateLimitPolicy(
        "reads", limit=1_000_000_000, period_seconds=1
    )
    if not cache:
        # Process-wide: this server only ever runs variant A.
        edge.cacheable_query = lambda _query: False  # type: ignore[assignment]
    return app


def database_app() -> Any:
    """Variant A: every page read from the catalog database."""
    return _platform(cache=False)


def cached_app() -> Any:
    """Variant B: pages answered from the gateway's response cache."""
    return _platform(cache=True)


# -- driver ---------------------------------------------------------------------------------


@dataclass
class Server:
    """A running server process."""

    key: str
    database: str
    port: int
    process: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _pin(core: int | None) -> list[str]:
    return ["taskset", "-c", str(core)] if core is not None else []


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _get(port: int) -> bytes:
    request = f"GET {PAGE} HTTP/1.1\r\nHost: {HOST}\r\n{HEADER}\r\nConnection: close\r\n\r\n"
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sock.sendall(request.encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _wait_ready(server: Server, timeout: float = 90.0) -> bytes:
    """Poll the page until it answers 200 (import, migrations and the seed come first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server {server.key} exited with {server.process.returncode}")
        with contextlib.suppress(OSError):
            answer = _get(server.port)
            if answer.startswith(b"HTTP/1.1 200"):
                return answer
        time.sleep(0.5)
    raise RuntimeError(f"server {server.key} not ready after {timeout}s")


def _drop_postgres(names: list[str]) -> None:
    import asyncpg  # type: ignore[import-untyped]

    async def drop() -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN, timeout=10)
        try:
            for name in names:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


@contextlib.contextmanager
def servers(database: str, core: int | None, tmp: Path) -> Iterator[dict[str, Server]]:
    """Start both variants on ``database``; stop them (by pid) and drop scratch data on exit."""
    running: dict[str, Server] = {}
    scratch: list[str] = []
    try:
        for key, target in (("A", "database_app"), ("B", "cached_app")):
            env = {**os.environ, "W11_DATA_DIR": str(tmp / f"{database}-{key}")}
            if database == "postgres":
                name = f"okada_bench_w11_{key.lower()}_{uuid.uuid4().hex[:8]}"
                scratch.append(name)
                env["CATALOG_DATABASE_URL"] = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
            port = _free_port()
            command = [
                *_pin(core),
                PYTHON,
                "-m",
                "uvicorn",
                f"bench.w11_catalog_cache:{target}",
                "--factory",
                "--host",
                HOST,
                "--port",
                str(port),
                "--http",
                "httptools",
                "--loop",
                "uvloop",
                "--no-access-log",
                "--log-level",
                "warning",
            ]
            with (tmp / f"{database}-{key}.log").open("wb") as log:
                process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
            running[key] = Server(key, database, port, process)
        for server in running.values():
            _wait_ready(server)
        time.sleep(2.0)  # let the seed's outbox drain (its events invalidate the cache)
        yield running
    finally:
        for server in running.values():
            if server.process.poll() is None:
                server.process.terminate()
        for server in running.values():
            try:
                server.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.process.kill()
        if scratch:
            _drop_postgres(scratch)


def generate(
    server: Server,
    *,
    mode: str,
    duration: float,
    warmup: float,
    connections: int,
    core: int | None,
    rate: float = 0.0,
) -> dict[str, Any]:
    """Run one load-generator process against ``server`` and return its JSON plus ratios."""
    command = [
        *_pin(core),
        PYTHON,
        "-m",
        "bench.loadgen",
        "--host",
        HOST,
        "--port",
        str(server.port),
        "--path",
        PAGE,
        "--header",
        HEADER,
        "--mode",
        mode,
        "--duration",
        str(duration),
        "--warmup",
        str(warmup),
        "--connections",
        str(connections),
        "--pid",
        str(server.process.pid),
    ]
    if mode == "open":
        command += ["--rate", str(rate)]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=duration + warmup + 60
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    ok = max(1, result["ok"])
    window = result["window_s"]
    server_cpu = result["pid_cpu_s"][str(server.process.pid)]
    generator_cpu = result["generator_cpu_s"]
    other = result["machine_busy_s"] - server_cpu - generator_cpu
    result.update(
        key=server.key,
        database=server.database,
        server_ms_per_req=server_cpu * 1000 / ok,
        generator_ms_per_req=generator_cpu * 1000 / ok,
        server_core_pct=100 * server_cpu / window,
        generator_machine_pct=100 * generator_cpu / (window * (os.cpu_count() or 1)),
        background_machine_pct=100 * max(0.0, other) / max(1e-9, result["machine_total_s"]),
    )
    return result


def measure(database: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Interleaved closed-loop rounds then open-loop latency for one database."""
    multi = len(os.sched_getaffinity(0)) >= 2 and not args.no_pin
    server_core = args.server_core if multi else None
    generator_core = args.generator_core if multi else None
    common = {"connections": args.connections, "core": generator_core}
    with servers(database, server_core, tmp) as running:
        sizes = {}
        for key, server in running.items():
            answer = _get(server.port)
            head, _, body = answer.partition(b"\r\n\r\n")
            sizes[key] = len(body)
            _progress(
                f"{database} {key}: ready, page {len(body):,} bytes, "
                f"x-cache {'HIT' if b'x-cache: HIT' in head.lower() else 'MISS'}"
            )
        for key in running:
            generate(running[key], mode="closed", duration=args.warmup, warmup=0.2, **common)
        closed: list[dict[str, Any]] = []
        for round_no in range(1, args.rounds + 1):
            for key in ("A", "B"):
                result = generate(
                    running[key],
                    mode="closed",
                    duration=args.duration,
                    warmup=args.gen_warmup,
                    **common,
                )
                result["round"] = round_no
                closed.append(result)
                _progress(
                    f"{database} round {round_no} {key}: {result['rps']:,.0f} req/s, "
                    f"{result['errors']} errors, others "
                    f"{result['background_machine_pct']:.0f}%"
                )
        rate = round(
            args.load_fraction * statistics.median(r["rps"] for r in closed if r["key"] == "A")
        )
        opened: list[dict[str, Any]] = []
        for round_no in range(1, args.latency_rounds + 1):
            for key in ("A", "B"):
                result = generate(
                    running[key],
                    mode="open",
                    rate=rate,
                    duration=args.latency_duration,
                    warmup=args.gen_warmup,
                    **common,
                )
                result["round"] = round_no
                opened.append(result)
                lat = result["latency_ms"]
                _progress(
                    f"{database} open {round_no} {key} @ {rate}/s: p50 {lat['p50']:.2f} "
                    f"p95 {lat['p95']:.2f} p99 {lat['p99']:.2f} ms"
                )
        logs = {
            key: (tmp / f"{database}-{key}.log").read_text(errors="replace")[-1500:]
            for key in running
        }
    return {
        "database": database,
        "server_core": server_core,
        "generator_core": generator_core,
        "open_rate": rate,
        "page_bytes": sizes,
        "closed": closed,
        "open": opened,
        "server_logs": {k: v for k, v in logs.items() if v.strip()},
    }


def _postgres_up() -> bool:
    try:
        with socket.create_connection((HOST, 5432), timeout=1):
            return True
    except OSError:
        return False


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Do the whole W11 measurement and return the raw results."""
    started, load_start = now_utc(), os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory(prefix="okada-w11-") as tmp:
        for database in args.databases:
            results.append(measure(database, args, Path(tmp)))
    return {
        "started": started,
        "finished": now_utc(),
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "settings": {
            "connections": args.connections,
            "rounds": args.rounds,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "latency_rounds": args.latency_rounds,
            "latency_duration_s": args.latency_duration,
            "load_fraction": args.load_fraction,
        },
        "results": results,
        "versions": versions(
            [
                "fastapi",
                "starlette",
                "uvicorn",
                "httptools",
                "uvloop",
                "sqlalchemy",
                "aiosqlite",
                "asyncpg",
                "orjson",
            ]
        ),
        "command": command_line(),
    }


def _med(rows: list[dict[str, Any]], key: str, field: str, sub: str | None = None) -> float:
    return statistics.median(r[field][sub] if sub else r[field] for r in rows if r["key"] == key)


def _ratios(closed: list[dict[str, Any]]) -> list[float]:
    by_round: dict[int, dict[str, float]] = {}
    for r in closed:
        by_round.setdefault(r["round"], {})[r["key"]] = r["rps"]
    return [v["B"] / v["A"] for _, v in sorted(by_round.items())]


def render(data: dict[str, Any]) -> str:
    """Render the results as the markdown report."""
    s, v = data["settings"], data["versions"]
    out = [
        "# W11: catalog page from the gateway cache vs from the database",
        "",
        f"- Date (UTC): {data['started']} to {data['finished']}",
        f"- Command: `{data['command']}`",
        f"- Versions: Python {v['python']}, FastAPI {v['fastapi']}, Starlette {v['starlette']}, "
        f"uvicorn {v['uvicorn']} (httptools {v['httptools']}, uvloop {v['uvloop']}), "
        f"SQLAlchemy {v['sqlalchemy']}, aiosqlite {v['aiosqlite']}, asyncpg {v['asyncpg']}, "
        f"orjson {v['orjson']}",
        *machine_lines(data["load_average_start"], data["load_average_end"]),
        f"- Machine busy just before the run: {data.get('busy_before_pct', float('nan')):.0f}%",
        f"- Page: `GET {PAGE}` with `{HEADER}` (20 items of the seeded Okada Akwa store), "
        "anonymous, through the gateway in both variants.",
        "- Servers: the embedded platform hosting only the catalog (gateway + catalog service, "
        "seeded), one uvicorn process per variant (`--http httptools --loop uvloop`, log level "
        "WARNING, gateway read limit raised), pinned to one core; generator `bench.loadgen` "
        f"pinned to the other, {s['connections']} keep-alive connections, no pipelining.",
        f"- Closed loop: {s['rounds']} rounds A, B interleaved, {s['duration_s']} s each after a "
        f"{s['warmup_s']} s warm-up. Open loop: {s['latency_rounds']} round(s) of "
        f"{s['latency_duration_s']} s per variant at {s['load_fraction']:.0%} of A's median "
        "maximum.",
        "- The box is shared: 'others %' is the CPU every other process used during the "
        "window. CPU ms per request is the figure least disturbed by it.",
        "",
        "Variants: **A** database (the gateway's response cache switched off: gateway -> "
        "catalog -> one SQL query -> orjson); **B** the gateway's response cache (memory cache "
        "in embedded mode), the production path for anonymous catalog reads.",
        "",
        "## Report row",
        "",
    ]
    rows = []
    for result in data["results"]:
        closed, opened = result["closed"], result["open"]
        m, lo, hi = median_range(_ratios(closed))
        cpu_a, cpu_b = (
            _med(closed, "A", "server_ms_per_req"),
            _med(closed, "B", "server_ms_per_req"),
        )
        rows.append(
            [
                result["database"],
                f"{_med(closed, 'A', 'rps'):,.0f}",
                f"{_med(closed, 'B', 'rps'):,.0f}",
                f"**{fmt(m)}** ({fmt(lo)}-{fmt(hi)})",
                fmt(cpu_a / cpu_b),
                f"{result['open_rate']:,}/s",
                " / ".join(
                    f"{_med(opened, 'A', 'latency_ms', q):.2f}" for q in ("p50", "p95", "p99")
                ),
                " / ".join(
                    f"{_med(opened, 'B', 'latency_ms', q):.2f}" for q in ("p50", "p95", "p99")
                ),
                f"{cpu_a:.3f} / {cpu_b:.3f}",
                f"{_med(closed, 'B', 'generator_machine_pct'):.0f}%",
                f"{_med(closed, 'B', 'background_machine_pct'):.0f}%",
            ]
        )
    out.append(
        table(
            [
                "Catalog DB",
                "A max req/s",
                "B max req/s",
                "median ratio B/A (min-max)",
                "CPU-efficiency ratio A/B",
                "arrival rate",
                "A p50/p95/p99 ms",
                "B p50/p95/p99 ms",
                "server CPU ms/req A / B",
                "generator % of machine",
                "others % of machine",
            ],
            rows,
        )
    )
    out += [
        "",
        "Goal (performance.md W11): throughput >= 3x and p95 <= 10 ms for the cached page. The "
        "throughput ratio is per round (same round, back to back), median over rounds; the "
        "CPU-efficiency ratio (server CPU per request of A over B) is the same comparison for "
        "a CPU-bound server and the least disturbed by neighbours.",
    ]
    for result in data["results"]:
        closed, opened = result["closed"], result["open"]
        out += [
            "",
            f"## {result['database']}: every run",
            "",
            f"Page body: A {result['page_bytes']['A']:,} bytes, B {result['page_bytes']['B']:,} "
            "bytes (identity encoding).",
            "",
            table(
                [
                    "Round",
                    "Variant",
                    "mode",
                    "req/s",
                    "errors",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "server CPU ms/req",
                    "server core %",
                    "generator % machine",
                    "others % machine",
                ],
                [
                    [
                        r["round"],
                        r["key"],
                        r["mode"],
                        f"{r['rps']:,.0f}",
                        r["errors"],
                        *(f"{r['latency_ms'][q]:.2f}" for q in ("p50", "p95", "p99")),
                        f"{r['server_ms_per_req']:.3f}",
                        f"{r['server_core_pct']:.0f}",
                        f"{r['generator_machine_pct']:.0f}",
                        f"{r['background_machine_pct']:.0f}",
                    ]
                    for r in [*closed, *opened]
                ],
            ),
            "",
            "Spread (max-min)/median of closed-loop req/s: "
            + ", ".join(
                f"{k} {spread([r['rps'] for r in closed if r['key'] == k]):.0%}" for k in "AB"
            )
            + ". Closed-loop latencies are context only (coordinated omission).",
        ]
        if result.get("server_logs"):
            out += ["", "Server stderr (tail):", ""]
            for key, text in result["server_logs"].items():
                out += [f"{key}:", "", "```", text.strip(), "```", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run W11, print the report and write the results files."""
    parser = argparse.ArgumentParser(description="W11: catalog page, gateway cache vs DB")
    parser.add_argument("--quick", action="store_true", help="about two minutes in total")
    parser.add_argument(
        "--databases",
        default=None,
        help="comma-separated: sqlite, postgres (default: both if PG is up)",
    )
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--gen-warmup", type=float, default=1.0)
    parser.add_argument("--latency-rounds", type=int, default=2)
    parser.add_argument("--latency-duration", type=float, default=8.0)
    parser.add_argument("--load-fraction", type=float, default=0.5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--generator-core", type=int, default=1)
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS / "w11_catalog_cache.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.gen_warmup = 4.0, 1.5, 0.5
        args.latency_duration, args.latency_rounds = 4.0, 1
    if args.databases is None:
        args.databases = ["sqlite", "postgres"] if _postgres_up() else ["sqlite"]
    else:
        args.databases = [d.strip() for d in args.databases.split(",") if d.strip()]
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
