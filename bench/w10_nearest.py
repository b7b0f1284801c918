"""W10: nearest available riders with 5,000 online riders, through the service's geo index.

The query is what dispatch and the quote's surge check ask: the riders free for a job within
3 km of a store, nearest first, at most 20 (``GeoIndex.nearby(point, radius_m=3000,
limit=20)``). It runs through the delivery service's own adapters:

* **near/redis**: ``RedisGeoIndex.nearby``: one script that runs ``GEOSEARCH key FROMLONLAT …
  BYRADIUS 750 m ASC COUNT 20 WITHDIST`` and, only where that ring holds fewer than 20 riders,
  the same over 3,000 m (same answer as the 3 km search, see ``search_radii``), plus the
  adapter's parsing (UUIDs, tie order), distributed mode;
* **pos/redis** (baseline B): ``GEOPOS key member`` of one rider on the same client and key:
  the cheapest GEO read, one round trip with a one-element reply;
* **near/memory**: ``MemoryGeoIndex.nearby``, the embedded mode's grid (no IO at all).

5,000 riders are spread uniformly over greater Douala (about 15 x 16 km, so a 3 km circle
holds about 550 of them, a 750 m one about 35, and COUNT 20 keeps the nearest); query points
are random points of the same area (a new one per call). The Redis key is unique to the
run and deleted after.

Method (performance.md section 1, scaled to an in-process client): rounds of the three
variants interleaved (order rotated each round), each a closed loop of ``--concurrency``
tasks for ``--duration`` s, for the throughput ratio near/pos; then an open loop at
``--load-fraction`` of each variant's median maximum for p50/p95/p99, latency counted from
the intended start (no coordinated omission). CPU seconds of this process and of redis-server
are taken at the window edges: CPU-ms per query per process.

Usage: ``.venv/bin/python -m bench.w10_nearest [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psutil

from bench._common import (
    RESULTS,
    command_line,
    fmt,
    machine_busy_pct,
    machine_lines,
    median_range,
    now_utc,
    source_fingerprint,
    summarise,
    table,
    versions,
)
from okada.services.delivery.adapters.geoindex import MemoryGeoIndex, RedisGeoIndex
from okada.services.delivery.domain.geo import Point

REDIS_URL = "redis://127.0.0.1:6379/0"
# Greater Douala (Bonabéri to Logbessou, Bonamoussadi to Ndokoti and beyond).
SOUTH, NORTH, WEST, EAST = 3.98, 4.12, 9.66, 9.80
RADIUS_M, LIMIT = 3000.0, 20
VARIANTS = ("near/redis", "pos/redis", "near/memory")

Op = Callable[[], Awaitable[object]]


def redis_pids() -> list[psutil.Process]:
    """The redis-server processes (their CPU is part of every Redis query)."""
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] == "redis-server"]


def cpu_of(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


class Window:
    """CPU of this process and of Redis, and machine busy share, over one window."""

    def __init__(self, redis: list[psutil.Process]) -> None:
        self.redis = redis

    def __enter__(self) -> Window:
        self.t0, self.own0, self.redis0 = time.perf_counter(), time.process_time(), cpu_of(
            self.redis)
        c = psutil.cpu_times()
        self.busy0, self.total0 = sum(c) - c.idle - getattr(c, "iowait", 0.0), sum(c)
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        self.own = time.process_time() - self.own0
        self.redis_cpu = cpu_of(self.redis) - self.redis0
        c = psutil.cpu_times()
        busy, total = sum(c) - c.idle - getattr(c, "iowait", 0.0), sum(c)
        self.machine_pct = 100 * (busy - self.busy0) / max(1e-9, total - self.total0)


async def closed_loop(op: Op, *, duration: float, concurrency: int,
                      redis: list[psutil.Process]) -> dict[str, Any]:
    """``concurrency`` tasks call ``op`` back to back for ``duration`` s."""
    latencies: list[float] = []
    stop = time.perf_counter() + duration

    async def worker() -> None:
        while True:
            start = time.perf_counter()
            if start >= stop:
                return
            await op()
            latencies.append(time.perf_counter() - start)

    with Window(redis) as w:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    n = len(latencies)
    return {"ops": n, "ops_per_s": n / w.wall, "bench_cpu_ms_per_op": 1000 * w.own / n,
            "redis_cpu_ms_per_op": 1000 * w.redis_cpu / n, "machine_busy_pct": w.machine_pct,
            "latency_ms": {k: v * 1000 if k != "count" else v
                           for k, v in summarise(latencies).items()}}


async def open_loop(op: Op, *, rate: float, duration: float, concurrency: int,
                    redis: list[psutil.Process]) -> dict[str, Any]:
    """Start ``op`` at a fixed rate; latency from each call's intended start time."""
    latencies: list[float] = []
    tasks: set[asyncio.Task[None]] = set()

    # As many calls in flight as the closed loop had: the adapter's connection pool is
    # bounded, and a call waiting for its turn still counts from its intended start.
    gate = asyncio.Semaphore(concurrency)

    async def one(intended: float) -> None:
        async with gate:
            await op()
        latencies.append(time.perf_counter() - intended)

    total = int(rate * duration)
    with Window(redis) as w:
        t0 = time.perf_counter()
        for i in range(total):
            intended = t0 + i / rate
            delay = intended - time.perf_counter()
            if delay > 0.001:
                await asyncio.sleep(delay)
            task = asyncio.ensure_future(one(intended))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
    n = len(latencies)
    return {"target_rate": rate, "ops": n, "achieved_rate": n / w.wall,
            "bench_cpu_ms_per_op": 1000 * w.own / n,
            "redis_cpu_ms_per_op": 1000 * w.redis_cpu / n, "machine_busy_pct": w.machine_pct,
            "latency_ms": {k: v * 1000 if k != "count" else v
                           for k, v in summarise(latencies).items()}}


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    key = f"okada-bench-w10-{uuid.uuid4().hex[:8]}:delivery:geo:free"
    redis_index = RedisGeoIndex(REDIS_URL, key=key)
    memory_index = MemoryGeoIndex()
    riders = [(uuid.uuid4(), Point(rng.uniform(SOUTH, NORTH), rng.uniform(WEST, EAST)))
              for _ in range(args.riders)]
    client: Any = redis_index._client  # the adapter's own client: same pool for GEOPOS
    redis = redis_pids()
    try:
        pipe = client.pipeline(transaction=False)
        for rider_id, point in riders:
            pipe.geoadd(key, (point.lng, point.lat, str(rider_id)))
        await pipe.execute()
        for rider_id, point in riders:
            await memory_index.upsert(rider_id, point)
        assert await client.zcard(key) == args.riders

        def where() -> Point:
            return Point(rng.uniform(SOUTH, NORTH), rng.uniform(WEST, EAST))

        async def near_redis() -> object:
            return await redis_index.nearby(where(), radius_m=RADIUS_M, limit=LIMIT)

        async def pos_redis() -> object:
            return await client.geopos(key, str(riders[rng.randrange(len(riders))][0]))

        async def near_memory() -> object:
            return await memory_index.nearby(where(), radius_m=RADIUS_M, limit=LIMIT)

        ops: dict[str, Op] = {"near/redis": near_redis, "pos/redis": pos_redis,
                              "near/memory": near_memory}
        # Same answers from both adapters (distances to a few centimetres): a benchmark of a
        # wrong query would be worthless.
        probe = where()
        got_r = await redis_index.nearby(probe, radius_m=RADIUS_M, limit=LIMIT)
        got_m = await memory_index.nearby(probe, radius_m=RADIUS_M, limit=LIMIT)
        assert len(got_r) == LIMIT and [r for r, _ in got_r] == [r for r, _ in got_m], \
            "redis and memory indexes disagree"
        result_sizes = [len(await redis_index.nearby(where(), radius_m=RADIUS_M, limit=10**6))
                        for _ in range(50)]

        for op in ops.values():  # warm-up
            for _ in range(200):
                await op()
        rounds: list[dict[str, Any]] = []
        for r in range(args.rounds):
            order = VARIANTS[r % 3:] + VARIANTS[:r % 3]
            one: dict[str, Any] = {}
            for name in order:
                one[name] = await closed_loop(ops[name], duration=args.duration,
                                              concurrency=args.concurrency, redis=redis)
                print(f"round {r + 1} {name}: {one[name]['ops_per_s']:.0f}/s", file=sys.stderr,
                      flush=True)
            rounds.append(one)
        maxima = {n: statistics.median(x[n]["ops_per_s"] for x in rounds) for n in VARIANTS}
        latency: dict[str, Any] = {}
        for name in VARIANTS:
            rate = args.load_fraction * maxima[name]
            latency[name] = await open_loop(ops[name], rate=rate, duration=args.open_duration,
                                            concurrency=args.concurrency, redis=redis)
            print(f"open {name} @ {rate:.0f}/s: p99 "
                  f"{latency[name]['latency_ms']['p99']:.2f} ms", file=sys.stderr, flush=True)
        ratios = [x["near/redis"]["ops_per_s"] / x["pos/redis"]["ops_per_s"] for x in rounds]
        mem_ratios = [x["near/memory"]["ops_per_s"] / x["pos/redis"]["ops_per_s"]
                      for x in rounds]
        return {"rounds": rounds, "maxima": maxima, "latency": latency,
                "ratio_near_vs_pos": median_range(ratios),
                "ratio_memory_near_vs_redis_pos": median_range(mem_ratios),
                "in_radius": {"median": statistics.median(result_sizes),
                              "min": min(result_sizes), "max": max(result_sizes)},
                "redis_key": key}
    finally:
        await client.delete(key)
        await redis_index.aclose()


def render(data: dict[str, Any]) -> str:
    m = data["measure"]
    lines = [
        "# W10: nearest available riders (5,000 online), GEOSEARCH vs GEOPOS",
        "",
        f"Run {data['started']} → {data['finished']} UTC. Command: `{data['command']}`",
        "",
        f"Query: `GeoIndex.nearby(point, radius_m=3000, limit=20)`; "
        f"{data['args']['riders']:,} riders over greater Douala, "
        f"{m['in_radius']['median']:.0f} riders inside a 3 km circle on median "
        f"(min {m['in_radius']['min']}, max {m['in_radius']['max']}), COUNT 20 returned. "
        f"Closed loop with {data['args']['concurrency']} concurrent tasks in one asyncio "
        f"process, {data['args']['rounds']} interleaved rounds x {data['args']['duration']} s; "
        f"open loop at {data['args']['load_fraction']:.0%} of each maximum for "
        f"{data['args']['open_duration']} s.",
        "",
        "## Throughput (closed loop, median of rounds)",
        "",
    ]
    rows = []
    for name in VARIANTS:
        per = [x[name] for x in m["rounds"]]
        med, lo, hi = median_range([p["ops_per_s"] for p in per])
        rows.append([name, f"{fmt(med, 0)} ({fmt(lo, 0)}-{fmt(hi, 0)})",
                     fmt(statistics.median(p["bench_cpu_ms_per_op"] for p in per), 3),
                     fmt(statistics.median(p["redis_cpu_ms_per_op"] for p in per), 3),
                     fmt(statistics.median(p["machine_busy_pct"] for p in per), 0)])
    lines.append(table(["variant", "queries/s median (min-max)", "client CPU-ms/query",
                        "redis CPU-ms/query", "machine busy %"], rows))
    r, lo, hi = m["ratio_near_vs_pos"]
    mr, mlo, mhi = m["ratio_memory_near_vs_redis_pos"]
    lines += ["", f"- **Ratio near/redis ÷ pos/redis: {r:.2f} ({lo:.2f}-{hi:.2f})** "
              "(goal ≥ 0.3)",
              f"- Ratio near/memory ÷ pos/redis: {mr:.2f} ({mlo:.2f}-{mhi:.2f})",
              "", "## Latency (open loop)", ""]
    rows = []
    for name in VARIANTS:
        x = m["latency"][name]
        lat = x["latency_ms"]
        rows.append([name, fmt(x["target_rate"], 0), fmt(x["achieved_rate"], 0),
                     fmt(lat["p50"], 3), fmt(lat["p95"], 3), fmt(lat["p99"], 3),
                     fmt(lat["max"], 2), fmt(x["bench_cpu_ms_per_op"], 3),
                     fmt(x["redis_cpu_ms_per_op"], 3)])
    lines.append(table(["variant", "rate/s", "achieved/s", "p50 ms", "p95 ms", "p99 ms",
                        "max ms", "client CPU-ms/q", "redis CPU-ms/q"], rows))
    p99 = {n: m["latency"][n]["latency_ms"]["p99"] for n in VARIANTS}
    verdict = "met" if max(p99["near/redis"], p99["near/memory"]) <= 5 else "NOT met"
    lines += ["", f"- **Goal p99 ≤ 5 ms: {verdict}** (redis {p99['near/redis']:.2f} ms, "
              f"memory {p99['near/memory']:.2f} ms)", "", "## Machine", ""]
    lines += machine_lines(data["load_start"], data["load_end"], {
        "Machine busy before the run": f"{data['busy_before']:.0f}%",
        "Versions": ", ".join(f"{k} {v}" for k, v in data["versions"].items()),
        "Redis server": data["redis_version"],
        "Code": data["fingerprint"],
        "Redis key (deleted after)": m["redis_key"],
    })
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--riders", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--open-duration", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--load-fraction", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 3 s, 6 s open loop")
    parser.add_argument("--out", default="w10_nearest")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.open_duration = 3, 3.0, 6.0
    import redis as redis_sync

    data: dict[str, Any] = {"started": now_utc(), "command": command_line(), "args": vars(args),
                            "load_start": list(os.getloadavg()),
                            "busy_before": machine_busy_pct(1.0)}
    data["redis_version"] = redis_sync.Redis.from_url(REDIS_URL).info()["redis_version"]
    data["measure"] = asyncio.run(measure(args))
    data["load_end"] = list(os.getloadavg())
    data["finished"] = now_utc()
    data["versions"] = versions(["redis", "hiredis"])
    data["fingerprint"] = source_fingerprint("src/okada/services/delivery")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(data, indent=2, default=str))
    (RESULTS / f"{args.out}.md").write_text(render(data))
    print(render(data))


if __name__ == "__main__":
    main()
