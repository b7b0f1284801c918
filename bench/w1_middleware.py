"""W1: the full Okada middleware stack versus a bare ASGI app, side by side in one run.

Variants, each served by its own uvicorn process (one worker, httptools, uvloop, access log
off, log level warning) pinned to core 0, all started once and idle when not measured:

* A: bare ASGI hello (raw callable, JSON encoded per request);
* B: ``create_service_app`` (problem handlers, EdgeMiddleware with the access log on as the
  services run it, health router) with the hello route taking the optional principal, so every
  request verifies a signed ``x-okada-principal`` header;
* C: plain FastAPI with the same route, to separate FastAPI's own cost from ours;
* D: B with ``access_log=False``, to show what the access log line costs.

The load generator (:mod:`bench.loadgen`, pinned to core 1) first runs against a canned raw
asyncio responder to show its own ceiling. Then: warm-up, closed-loop rounds A, B, C, D, A, B,
C, D… (ratios are taken within a round), then open-loop latency at a fixed arrival rate equal
to ``--load-fraction`` of the slowest variant's median maximum, so every variant runs at or
below that fraction of its own maximum. Every run records CPU seconds of the server, the
generator and the whole machine over the exact measurement window.

Usage: ``.venv/bin/python -m bench.w1_middleware [--quick]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
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
    source_fingerprint,
    spread,
    table,
    versions,
    wait_until_quiet,
)
from bench.w1_apps import principal_header

HOST = "127.0.0.1"
# Fingerprinted in the report, so a result names the code it measured.
SOURCE_DIRS = ("src/okada/infra", "src/okada/kernel")


@dataclass(frozen=True)
class Variant:
    """One server under test."""

    key: str
    label: str
    target: str


VARIANTS = (
    Variant("A", "bare ASGI hello", "bench.w1_apps:bare"),
    Variant("B", "Okada stack (create_service_app, access log on)", "bench.w1_apps:okada_app"),
    Variant("C", "plain FastAPI", "bench.w1_apps:fastapi_app"),
    Variant("D", "Okada stack, access log off", "bench.w1_apps:okada_nolog_app"),
)


@dataclass
class Server:
    """A running server process."""

    key: str
    port: int
    process: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _pin(core: int | None) -> list[str]:
    return ["taskset", "-c", str(core)] if core is not None else []


def _wait_ready(server: Server, header: str, timeout: float = 30.0) -> None:
    """Poll the hello route until it answers 200 (the process may still be importing)."""
    deadline = time.monotonic() + timeout
    request = f"GET /hello HTTP/1.1\r\nHost: {HOST}\r\n{header}\r\n\r\n".encode()
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server {server.key} exited with {server.process.returncode}")
        try:
            with socket.create_connection((HOST, server.port), timeout=1) as sock:
                sock.sendall(request)
                if sock.recv(65536).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server {server.key} not ready after {timeout}s")


@contextlib.contextmanager
def servers(core: int | None, header: str, logdir: Path) -> Iterator[dict[str, Server]]:
    """Start every variant and the canned responder; stop them (by pid) on exit."""
    running: dict[str, Server] = {}
    try:
        for variant in VARIANTS:
            port = _free_port()
            command = [
                *_pin(core), PYTHON, "-m", "uvicorn", variant.target, "--factory",
                "--host", HOST, "--port", str(port), "--http", "httptools", "--loop", "uvloop",
                "--no-access-log", "--log-level", "warning",
            ]
            with (logdir / f"{variant.key}.log").open("wb") as log:
                process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log)
            running[variant.key] = Server(variant.key, port, process)
        port = _free_port()
        process = subprocess.Popen(
            [*_pin(core), PYTHON, "-m", "bench.w1_apps", "canned", str(port)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        running["Z"] = Server("Z", port, process)
        for server in running.values():
            _wait_ready(server, header)
        yield running
    finally:
        for server in running.values():
            if server.process.poll() is None:
                server.process.terminate()
        for server in running.values():
            try:
                server.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.process.kill()


def generate(
    server: Server,
    *,
    mode: str,
    duration: float,
    warmup: float,
    connections: int,
    header: str,
    core: int | None,
    rate: float = 0.0,
) -> dict[str, Any]:
    """Run one load-generator process against ``server`` and return its JSON plus ratios."""
    command = [
        *_pin(core), PYTHON, "-m", "bench.loadgen", "--host", HOST, "--port", str(server.port),
        "--mode", mode, "--duration", str(duration), "--warmup", str(warmup),
        "--connections", str(connections), "--header", header,
        "--pid", str(server.process.pid),
    ]
    if mode == "open":
        command += ["--rate", str(rate)]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=duration + warmup + 60
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    result["generator_stderr"] = done.stderr[-1000:]
    ok = max(1, result["ok"])
    window = result["window_s"]
    cores = os.cpu_count() or 1
    server_cpu = result["pid_cpu_s"][str(server.process.pid)]
    generator_cpu = result["generator_cpu_s"]
    other = result["machine_busy_s"] - server_cpu - generator_cpu
    result.update(
        key=server.key,
        server_ms_per_req=server_cpu * 1000 / ok,
        generator_ms_per_req=generator_cpu * 1000 / ok,
        server_core_pct=100 * server_cpu / window,
        generator_machine_pct=100 * generator_cpu / (window * cores),
        # CPU used by everything else on the box (other engineers' tests, databases...):
        # the disturbance indicator of this run, as % of the whole machine.
        background_machine_pct=100 * max(0.0, other) / max(1e-9, result["machine_total_s"]),
    )
    return result


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Do the whole W1 measurement and return the raw results."""
    multi = len(os.sched_getaffinity(0)) >= 2 and not args.no_pin
    server_core = args.server_core if multi else None
    generator_core = args.generator_core if multi else None
    header = principal_header()
    started = now_utc()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="okada-w1-") as tmp, servers(
        server_core, header, Path(tmp)
    ) as running:
        common = {"connections": args.connections, "header": header, "core": generator_core}
        _progress("calibrating the generator against the canned responder")
        calibration = generate(running["Z"], mode="closed", duration=args.calibration,
                               warmup=args.gen_warmup, **common)
        _progress(f"  canned: {calibration['rps']:,.0f} req/s")
        for variant in VARIANTS:
            _progress(f"warm-up {variant.key}")
            generate(running[variant.key], mode="closed", duration=args.warmup,
                     warmup=0.2, **common)
        closed: list[dict[str, Any]] = []
        for round_no in range(1, args.rounds + 1):
            for variant in VARIANTS:
                result = generate(running[variant.key], mode="closed", duration=args.duration,
                                  warmup=args.gen_warmup, **common)
                result["round"] = round_no
                closed.append(result)
                _progress(f"round {round_no} {variant.key}: {result['rps']:,.0f} req/s "
                          f"(background {result['background_machine_pct']:.0f}%)")
        medians = {
            v.key: statistics.median(r["rps"] for r in closed if r["key"] == v.key)
            for v in VARIANTS
        }
        rate = round(args.load_fraction * min(medians.values()))
        opened: list[dict[str, Any]] = []
        for round_no in range(1, args.latency_rounds + 1):
            for variant in VARIANTS:
                result = generate(running[variant.key], mode="open", rate=rate,
                                  duration=args.latency_duration, warmup=args.gen_warmup,
                                  **common)
                result["round"] = round_no
                opened.append(result)
                lat = result["latency_ms"]
                _progress(f"open {round_no} {variant.key} @ {rate}/s: p50 {lat['p50']:.2f} "
                          f"p99 {lat['p99']:.2f} ms")
        logs = {
            key: (Path(tmp) / f"{key}.log").read_text(errors="replace")[-2000:]
            for key in running if key != "Z"
        }
    return {
        "started": started,
        "finished": now_utc(),
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "settings": {
            "server_core": server_core,
            "generator_core": generator_core,
            "connections": args.connections,
            "rounds": args.rounds,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "latency_rounds": args.latency_rounds,
            "latency_duration_s": args.latency_duration,
            "load_fraction": args.load_fraction,
            "open_rate": rate,
        },
        "calibration": calibration,
        "closed": closed,
        "open": opened,
        "server_logs": {k: v for k, v in logs.items() if v.strip()},
        "versions": versions(["fastapi", "starlette", "uvicorn", "httptools", "uvloop",
                              "pydantic", "structlog", "prometheus-client", "orjson"]),
        "command": command_line(),
    }


QUIET_PCT = 25.0
"""A round is 'quiet' when no run in it saw other processes use more than this % of the box."""


def quiet_rounds(closed: list[dict[str, Any]]) -> set[int]:
    """Rounds in which every variant ran with little background load."""
    worst: dict[int, float] = {}
    for r in closed:
        worst[r["round"]] = max(worst.get(r["round"], 0.0), r["background_machine_pct"])
    return {n for n, pct in worst.items() if pct <= QUIET_PCT}


def ratios(closed: list[dict[str, Any]], top: str, bottom: str,
           only: set[int] | None = None) -> list[float]:
    """Per-round ratios ``top/bottom`` of closed-loop RPS (optionally only some rounds)."""
    by_round: dict[int, dict[str, float]] = {}
    for r in closed:
        if only is None or r["round"] in only:
            by_round.setdefault(r["round"], {})[r["key"]] = r["rps"]
    # A round where a variant answered nothing has no ratio (reported, not hidden: see the
    # per-run table); it must not crash the report or count as 0 or infinity.
    return [v[top] / v[bottom] for _, v in sorted(by_round.items()) if v[top] and v[bottom]]


def render(data: dict[str, Any]) -> str:
    """Render the results as the markdown report."""
    s = data["settings"]
    v = data["versions"]
    labels = {x.key: x.label for x in VARIANTS}
    closed, opened, cal = data["closed"], data["open"], data["calibration"]

    def med(rows: list[dict[str, Any]], key: str, field: str, sub: str | None = None) -> float:
        values = [r[field][sub] if sub else r[field] for r in rows if r["key"] == key]
        return statistics.median(values)

    out = [
        "# W1: Okada middleware stack vs bare ASGI",
        "",
        f"- Date (UTC): {data['started']} to {data['finished']}",
        f"- Command: `{data['command']}`",
        f"- Versions: Python {v['python']}, FastAPI {v['fastapi']}, Starlette {v['starlette']}, "
        f"uvicorn {v['uvicorn']} (httptools {v['httptools']}, uvloop {v['uvloop']}), "
        f"pydantic {v['pydantic']}, structlog {v['structlog']}, "
        f"prometheus-client {v['prometheus-client']}, orjson {v['orjson']}",
        *machine_lines(data["load_average_start"], data["load_average_end"]),
        f"- Machine busy just before the run: {data.get('busy_before_pct', float('nan')):.0f}%",
        f"- Source measured: {', '.join(SOURCE_DIRS)} at {data.get('source', '?')}",
        f"- Servers: uvicorn, 1 worker, `--http httptools --loop uvloop --no-access-log "
        f"--log-level warning`, pinned to core {s['server_core']}; generator "
        f"`bench.loadgen` pinned to core {s['generator_core']}, {s['connections']} keep-alive "
        f"connections, HTTP/1.1 without pipelining",
        f"- Closed loop: {s['rounds']} rounds of {len(VARIANTS)} variants, {s['duration_s']} s "
        f"each, interleaved, after a {s['warmup_s']} s warm-up per variant. Open loop: "
        f"{s['latency_rounds']} round(s) of {s['latency_duration_s']} s per variant at "
        f"{s['open_rate']:,} req/s = {s['load_fraction']:.0%} of the slowest variant's median "
        "maximum (so at most that fraction of each variant's own maximum)",
        "- Every request carries a signed `x-okada-principal` header (ignored by A and C). "
        "B's access-log lines go through the production structlog processors and JSON "
        "renderer and are written to /dev/null.",
        "- The box is shared: 'others %' is the CPU used by every other process (other "
        "engineers' tests, databases) during the window, as % of the whole machine. CPU ms per "
        "request is the figure least affected by it.",
        "",
        "Variants: " + "; ".join(f"**{k}** {label}" for k, label in labels.items()) + ".",
        "",
        "## Report row",
        "",
    ]
    quiet = quiet_rounds(closed)
    rows = []
    for key in ("B", "C", "D"):
        m, lo, hi = median_range(ratios(closed, key, "A"))
        quiet_ratios = ratios(closed, key, "A", quiet)
        if quiet_ratios:
            qm, qlo, qhi = median_range(quiet_ratios)
            quiet_cell = f"{fmt(qm)} ({fmt(qlo)}-{fmt(qhi)})"
        else:
            quiet_cell = "no quiet round"
        cpu_a = med(closed, "A", "server_ms_per_req")
        cpu_x = med(closed, key, "server_ms_per_req")
        rows.append([
            f"{key}/A", f"{med(closed, 'A', 'rps'):,.0f}", f"{med(closed, key, 'rps'):,.0f}",
            f"**{fmt(m)}** ({fmt(lo)}-{fmt(hi)})", quiet_cell, fmt(cpu_a / cpu_x),
            f"{s['open_rate']:,}/s",
            " / ".join(f"{med(opened, 'A', 'latency_ms', q):.2f}" for q in ("p50", "p95", "p99")),
            " / ".join(f"{med(opened, key, 'latency_ms', q):.2f}" for q in ("p50", "p95", "p99")),
            f"{cpu_a:.3f} / {cpu_x:.3f}",
            f"{med(closed, key, 'generator_ms_per_req'):.3f}",
            f"{med(closed, key, 'generator_machine_pct'):.0f}% / "
            f"{med(opened, key, 'generator_machine_pct'):.0f}%",
        ])
    out.append(table(
        ["Pair", "A max req/s", "X max req/s", "median ratio X/A (min-max)",
         f"same, quiet rounds only ({len(quiet)} of {s['rounds']})",
         "CPU-efficiency ratio A/X", "arrival rate", "A p50/p95/p99 ms", "X p50/p95/p99 ms",
         "server CPU ms/req A / X", "generator CPU ms/req (X)",
         "generator % of machine closed / open"],
        rows,
    ))
    m1, lo1, hi1 = median_range(ratios(closed, "B", "C"))
    m2, lo2, hi2 = median_range(ratios(closed, "B", "D"))
    out += [
        "",
        "Throughput ratios are per round (same round, back to back), median over rounds; "
        f"'quiet' rounds are those where no run saw other processes above {QUIET_PCT:.0f}% of "
        "the machine (all rounds are listed below, none is dropped); the "
        "CPU-efficiency ratio is server CPU ms/request of A over X (medians), a throughput ratio "
        "for a fully CPU-bound server that background load disturbs less. Latencies are "
        "medians over the open-loop rounds.",
        "",
        f"Other ratios: B/C (our layer on top of FastAPI) {fmt(m1)} ({fmt(lo1)}-{fmt(hi1)}); "
        f"B/D (access log on vs off) {fmt(m2)} ({fmt(lo2)}-{fmt(hi2)}).",
        "",
        "## Closed loop, every run (throughput)",
        "",
        table(
            ["Round", "Variant", "req/s", "errors / lost conns", "server CPU ms/req",
             "server core %",
             "generator CPU ms/req", "generator % machine", "others % machine",
             "closed-loop p50 / p99 ms"],
            [[r["round"], r["key"], f"{r['rps']:,.0f}",
              f"{r['errors'] + r.get('protocol_errors', 0)} / {r.get('connections_lost', 0)}",
              f"{r['server_ms_per_req']:.3f}", f"{r['server_core_pct']:.0f}",
              f"{r['generator_ms_per_req']:.3f}", f"{r['generator_machine_pct']:.0f}",
              f"{r['background_machine_pct']:.0f}",
              f"{r['latency_ms']['p50']:.2f} / {r['latency_ms']['p99']:.2f}"]
             for r in closed],
        ),
        "",
        "Spread (max-min)/median of req/s per variant: "
        + ", ".join(
            f"{k} {spread([r['rps'] for r in closed if r['key'] == k]):.0%}" for k in labels
        )
        + "; of server CPU ms/req: "
        + ", ".join(
            f"{k} {spread([r['server_ms_per_req'] for r in closed if r['key'] == k]):.0%}"
            for k in labels
        )
        + ". Closed-loop latencies are context only (coordinated omission); see the open loop.",
        "",
        f"## Open loop at {s['open_rate']:,} req/s (latency)",
        "",
        table(
            ["Round", "Variant", "achieved req/s", "p50 ms", "p90 ms", "p95 ms", "p99 ms",
             "p99.9 ms", "max ms", "incomplete", "server CPU ms/req", "generator % machine",
             "others % machine", "generator schedule lag p99 ms"],
            [[r["round"], r["key"], f"{r['rps']:,.0f}",
              *(f"{r['latency_ms'][f]:.2f}" for f in ("p50", "p90", "p95", "p99", "p999",
                                                      "max")),
              r["incomplete"], f"{r['server_ms_per_req']:.3f}",
              f"{r['generator_machine_pct']:.0f}", f"{r['background_machine_pct']:.0f}",
              f"{r['schedule_lag_ms']['p99']:.2f}"]
             for r in opened],
        ),
        "",
        "Latency runs from the moment the generator issued the request (on a free connection "
        "or into its backlog), so server stalls are counted; the generator's own timer lag "
        "(libuv timers tick in whole milliseconds) is the last column and is not included.",
        "",
        "## Generator calibration (W13)",
        "",
    ]
    fastest = max(med(closed, k, "rps") for k in labels)
    per_core = 1000 / max(cal["generator_ms_per_req"], 1e-9)
    out += [
        f"Against a canned raw-asyncio responder on the server core: {cal['rps']:,.0f} req/s "
        f"with the generator at {cal['generator_machine_pct']:.0f}% of the machine "
        f"({cal['generator_ms_per_req'] * 1000:.1f} us CPU per request, about "
        f"{per_core:,.0f} req/s per generator core). Against the fastest variant's median "
        f"maximum ({fastest:,.0f} req/s): {cal['rps'] / fastest:.1f}x measured, "
        f"{per_core / fastest:.1f}x by CPU (the method asks for at least 3x).",
        "",
    ]
    noisy = [r for r in [*closed, *opened] if r.get("generator_stderr", "").strip()]
    if noisy:
        out += ["## Generator stderr (tail)", ""]
        for r in noisy:
            out += [f"{r['key']} round {r['round']} ({r['mode']}):", "", "```",
                    r["generator_stderr"].strip(), "```", ""]
    if data.get("server_logs"):
        out += ["## Server stderr (tail)", ""]
        for key, text in data["server_logs"].items():
            out += [f"{key}:", "", "```", text.strip(), "```", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run W1, print the report and write the results files."""
    parser = argparse.ArgumentParser(description="W1: Okada middleware stack vs bare ASGI")
    parser.add_argument("--quick", action="store_true", help="about one minute in total")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="first wait up to this long for the machine to be < 20%% busy")
    # Many short rounds rather than a few long ones: on a shared box the background load
    # changes within a minute, and a short round keeps A, B, C and D under the same load.
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--duration", type=float, default=5.0, help="closed-loop run, s")
    parser.add_argument("--warmup", type=float, default=3.0, help="per-variant warm-up, s")
    parser.add_argument("--gen-warmup", type=float, default=1.0,
                        help="seconds each generator run waits before its window")
    parser.add_argument("--calibration", type=float, default=5.0)
    parser.add_argument("--latency-rounds", type=int, default=2)
    parser.add_argument("--latency-duration", type=float, default=8.0)
    parser.add_argument("--load-fraction", type=float, default=0.5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--generator-core", type=int, default=1)
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS / "w1_middleware.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup, args.calibration = 3, 2.0, 1.0, 2.0
        args.gen_warmup, args.latency_duration, args.latency_rounds = 0.5, 3.0, 1
    busy = wait_until_quiet(args.wait_quiet) if args.wait_quiet else machine_busy_pct()
    data = run(args)
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
