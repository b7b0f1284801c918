"""W6: order placement with the outbox relays publishing versus not publishing, in one run.

The placement is W5's (``POST /v1/orders``, cash on delivery, 3 lines; sent straight to the
orders service by default, ``--path gateway`` for the public path) on the same topology
(``bench.w5_orders.SERVICES``, distributed mode, PostgreSQL, RabbitMQ, Redis, names unique to
the run). Each checkout commits 3 outbox rows (inventory's ``StockReserved``, orders'
``OrderPlaced`` and ``OrderConfirmed``); every service's ``OutboxRelay`` claims committed rows
(``FOR UPDATE SKIP LOCKED``, batches of up to 200), publishes them concurrently through
aio-pika with publisher confirms (the whole batch in flight, i.e. pipelining >= 100 under
load) and marks them published. Consumers in this topology (delivery for the order events, and
whichever service subscribes to inventory's) react as deployed.

**There is no setting that turns a relay off**: ``service_store`` (``okada.infra.hosting``)
always builds an ``OutboxRelay`` and every service's bootstrap runs ``store.relay.run`` as a
worker; only its poll interval depends on the mode. The "without" variant is therefore made
from the outside, without touching ``src``: every process of the run starts with a
``sitecustomize.py`` (written into the run's temporary directory, put first on
``PYTHONPATH``) that wraps ``OutboxRelay.publish_pending``: while the run's pause file exists it
returns 0 at once, so the relay loop still wakes on each commit but claims nothing, publishes
nothing, and the rows stay unsent in the outbox. Removing the file resumes publishing; the
backlog of a "without" window is published (and the queues drained) before the next window,
outside any measurement.

Phases:

1. closed loop, ``--clients`` customers back to back, rounds alternating with/without (order
   flipped each round): placements/s and CPU ms per placement of every process; the ratio
   with/without per pair, median (min-max);
2. open loop at ``--rate`` placements/s (50, the W6 design point; if that is more than
   ``--load-fraction`` (80%) of the measured maximum with publishing, at
   ``--fallback-fraction`` (50%) of that maximum instead, and the report says the design rate
   was not reachable), relays on: latency from
   ``OrderPlaced``'s ``occurred_at`` (set in the orders process when the event is built, just
   before the commit) to its delivery to a probe consumer (an exclusive queue of this process
   bound to the run's exchange for ``orders.v1.OrderPlaced``; wall clock, same host).

Command: ``.venv/bin/python -m bench.w6_outbox`` (``--quick`` ~2 min). Results:
``bench/results/w6_outbox.{md,json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import (
    RESULTS,
    command_line,
    fmt,
    machine_busy_pct,
    machine_lines,
    median_range,
    now_utc,
    percentile,
    source_fingerprint,
    table,
    wait_until_quiet,
)
from bench.checkout import AMQP_URL, Client, Topology, drain, topology
from bench.w5_orders import (
    POSTGRES,
    RAISED_LIMITS,
    SERVICES,
    Bench,
    bench_versions,
    closed_http,
    open_http,
    progress,
)

RATIO_GOAL = 0.8
P99_GOAL_MS = 250.0
PAUSE_ENV = "OKADA_BENCH_W6_RELAY_PAUSE_FILE"

# Loaded by every Python process of the run (PYTHONPATH); inert without the environment
# variable. Kept here so the switch lives with the benchmark that needs it.
SITECUSTOMIZE = f'''\
"""Bench W6 only: pause every outbox relay of this run while a file exists."""
import os

_PAUSE = os.environ.get({PAUSE_ENV!r})
if _PAUSE:
    try:
        from okada.infra.db import outbox as _outbox
    except ImportError:  # not an Okada process
        _outbox = None
    if _outbox is not None:
        _publish_pending = _outbox.OutboxRelay.publish_pending

        async def publish_pending(self):
            if os.path.exists(_PAUSE):
                return 0  # paused: claim nothing, publish nothing, rows stay unsent
            return await _publish_pending(self)

        _outbox.OutboxRelay.publish_pending = publish_pending
'''


class Probe:
    """A consumer of ``orders.v1.OrderPlaced`` on the run's exchange, in this process."""

    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        self.received: dict[str, tuple[float, float]] = {}  # message id -> (occurred, received)

    async def start(self) -> None:
        import aio_pika

        from okada.infra.bus.serde import decode

        # Robust: reconnects and declares its queue again if the shared broker restarts (other
        # users' fault tests do); the first connection is retried for the same reason.
        deadline = time.monotonic() + 90
        while True:
            try:
                self._connection = await aio_pika.connect_robust(AMQP_URL, timeout=10)
                break
            except (ConnectionError, aio_pika.exceptions.AMQPConnectionError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(1)
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=200)
        exchange = await channel.get_exchange(self.topo.env["OKADA_AMQP_EXCHANGE"], ensure=True)
        # Exclusive: deleted with the connection; named under the run's prefix all the same,
        # so the topology's clean-up finds it if the process dies.
        queue = await channel.declare_queue(
            f"{self.topo.env['OKADA_AMQP_QUEUE_PREFIX']}w6-probe", exclusive=True,
            auto_delete=True)
        await queue.bind(exchange, routing_key="orders.v1.OrderPlaced")

        async def on_message(message: Any) -> None:
            now = time.time()
            envelope = decode(message.body)
            self.received.setdefault(str(envelope.message_id),
                                     (envelope.occurred_at.timestamp(), now))
            await message.ack()

        await queue.consume(on_message)

    async def close(self) -> None:
        await self._connection.close()


class Outboxes:
    """Unsent rows in the outboxes of the services a checkout writes to."""

    def __init__(self, topo: Topology) -> None:
        self.prefix = topo.env["OKADA_DATABASE_PREFIX"]

    async def backlog(self) -> int:
        import asyncpg  # type: ignore[import-untyped]

        total = 0
        for service in ("orders", "inventory"):
            conn = await asyncpg.connect(f"{POSTGRES}/{self.prefix}{service}", timeout=10)
            try:
                total += int(await conn.fetchval(
                    "SELECT count(*) FROM outbox WHERE published_at IS NULL"))
            finally:
                await conn.close()
        return total

    async def wait_empty(self, timeout: float) -> int:
        """Poll until every committed row is published (or ``timeout``); return what is left."""
        deadline = time.monotonic() + timeout
        while True:
            left = await self.backlog()
            if left == 0 or time.monotonic() > deadline:
                return left
            await asyncio.sleep(0.5)


def pause(flag: Path, paused: bool) -> None:
    if paused:
        flag.touch()
    else:
        flag.unlink(missing_ok=True)


async def measure(args: argparse.Namespace, topo: Topology, flag: Path) -> dict[str, Any]:
    bench = Bench(topo, args)
    gateway = Client(topo.url, timeout=60, connections=32)
    try:
        await bench.prepare(gateway)
    finally:
        await gateway.aclose()
    url = bench.direct_url if args.path == "direct" else topo.url
    outboxes = Outboxes(topo)
    probe = Probe(topo)
    await probe.start()
    try:
        progress(f"warm-up {args.warmup:.0f} s per variant")
        for paused in (False, True):
            pause(flag, paused)
            await closed_http(bench, url, args.clients, args.warmup, 1.0)
        pause(flag, False)
        await outboxes.wait_empty(120)
        await drain(topo, 120)
        rounds: list[dict[str, Any]] = []
        for r in range(args.rounds):
            order = ["with", "without"] if r % 2 == 0 else ["without", "with"]
            result: dict[str, Any] = {"order": order}
            for variant in order:
                pause(flag, variant == "without")
                result[variant] = await closed_http(bench, url, args.clients, args.duration,
                                                     args.ramp)
                if variant == "without":
                    result[variant]["unsent_after"] = await outboxes.backlog()
                pause(flag, False)
                result[variant]["catch_up_left"] = await outboxes.wait_empty(120)
                # The consumers' work on the published backlog must not spill into the next
                # window either.
                result[variant]["queues_left"] = await drain(topo, 120)
            rounds.append(result)
            progress(f"round {r + 1}/{args.rounds}: " + ", ".join(
                f"{v} {result[v]['throughput']:.1f}/s" for v in order))
        with_max = statistics.median(r["with"]["throughput"] for r in rounds)
        rate = args.rate
        reachable = with_max * args.load_fraction >= args.rate
        if not reachable:
            # Near saturation latency only measures the queue: fall back to a light load.
            rate = max(0.5, round(args.fallback_fraction * with_max, 1))
        progress(f"open loop at {rate:.1f}/s for {args.open_duration:.0f} s, relays on "
                 f"(design rate {args.rate:.0f}/s {'reachable' if reachable else 'NOT reachable'})")
        probe.received.clear()
        started = time.time()
        placed = await open_http(bench, url, rate, args.open_duration, 4 * args.clients)
        created = placed["statuses"].get("201", 0)
        deadline = time.monotonic() + 60
        while (sum(1 for o, _ in probe.received.values() if o >= started) < created
               and time.monotonic() < deadline):
            await asyncio.sleep(0.2)
        lat = sorted(1000 * (rcv - occ) for occ, rcv in probe.received.values()
                     if occ >= started)
    finally:
        pause(flag, False)
        await probe.close()
        if bench.engine is not None:
            await bench.engine.dispose()
    events = {"received": len(lat), "placed": created,
              "p50_ms": percentile(lat, 50) if lat else None,
              "p95_ms": percentile(lat, 95) if lat else None,
              "p99_ms": percentile(lat, 99) if lat else None,
              "max_ms": lat[-1] if lat else None}
    return {"rounds": rounds, "with_max": with_max, "rate": rate, "reachable": reachable,
            "open_loop": placed, "events": events, "path": args.path}


# -- report -----------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render(data: dict[str, Any]) -> str:
    res, s = data["result"], data["settings"]
    rounds = res["rounds"]
    ratios = [r["with"]["throughput"] / r["without"]["throughput"] for r in rounds
              if r["without"]["throughput"] > 0]
    m, lo, hi = median_range(ratios)
    ev = res["events"]
    p99_ok = ev["p99_ms"] is not None and ev["p99_ms"] <= P99_GOAL_MS and res["reachable"] \
        and ev["received"] >= ev["placed"]
    med = {v: statistics.median(r[v]["throughput"] for r in rounds) for v in ("with", "without")}
    out = [
        "# W6: order placement with outbox publishing vs without",
        "",
        f"- Date (UTC): {data['started']} to {data['finished']} ({data['elapsed_s']:.0f} s)",
        f"- Command: `{data['command']}`",
        f"- Run `{data['run']}`; measured source {data['source']}",
        *machine_lines(data["load_start"], data["load_end"], data["versions"]),
        f"- Machine busy just before the run: {data['busy_before_pct']:.0f}%",
        f"- Topology: {', '.join(SERVICES)}, simulators and the gateway (one uvicorn process "
        "each); placements sent "
        f"{'straight to the orders service' if res['path'] == 'direct' else 'to the gateway'}.",
        "- **with**: relays as deployed (claim with SKIP LOCKED, batch <= 200 published "
        "concurrently with publisher confirms, mark). **without**: no setting exists, so "
        "`OutboxRelay.publish_pending` is wrapped by a bench-only `sitecustomize` to return 0 "
        "while a pause file exists (rows stay unsent; published after the window, outside the "
        "measurement).",
        f"- Closed loop: {s['rounds']} rounds with/without (order flipped each round), "
        f"{s['duration']:.0f} s windows, {s['clients']} customers back to back. Open loop: "
        f"{s['open_duration']:.0f} s at {res['rate']:.1f} placements/s, relays on; latency = "
        "probe consumer's receive time - the envelope's `occurred_at`.",
        "",
        "## Report row",
        "",
        table(["ratio", "with /s", "without /s", "median (min-max)", f"goal >= {RATIO_GOAL}",
               "rate /s", "order-created -> consumer p50 / p95 / p99 ms",
               f"goal p99 <= {P99_GOAL_MS:.0f} ms at {s['rate']:.0f}/s"],
              [["with / without", f"{med['with']:.1f}", f"{med['without']:.1f}",
                f"**{fmt(m, 3)}** ({fmt(lo, 3)}-{fmt(hi, 3)})",
                "met" if m >= RATIO_GOAL else "**NOT met**",
                f"{res['rate']:.1f}" + ("" if res["reachable"] else " (design rate not "
                                        "reachable)"),
                f"{_ms(ev['p50_ms'])} / {_ms(ev['p95_ms'])} / {_ms(ev['p99_ms'])}",
                "met" if p99_ok else ("**NOT met**" if res["reachable"] else
                                      f"**NOT met** (p99 at the reachable rate: "
                                      f"{_ms(ev['p99_ms'])} ms)")]]),
        "",
        f"Events: {ev['received']} `OrderPlaced` received by the probe for {ev['placed']} "
        f"placements answered 201 in the open-loop window (statuses "
        f"{res['open_loop']['statuses']}; placement latency p50/p95/p99 "
        f"{_ms(res['open_loop']['p50_ms'])} / {_ms(res['open_loop']['p95_ms'])} / "
        f"{_ms(res['open_loop']['p99_ms'])} ms)"
        + ("; **the shared broker was restarted during this window** (another user's fault "
           "test): the figures are not valid." if res["open_loop"].get("broker_restarted")
           else "."),
        "",
        "## Closed-loop rounds",
        "",
        table(["round", "order", "with /s", "without /s", "with/without", "unsent after "
               "'without'", "failed (with/without)", "others % (with/without)",
               "broker restarted (with/without)"],
              [[i + 1, ",".join(r["order"]), f"{r['with']['throughput']:.1f}",
                f"{r['without']['throughput']:.1f}",
                fmt(r["with"]["throughput"] / max(r["without"]["throughput"], 1e-9), 3),
                r["without"].get("unsent_after", "-"),
                f"{r['with']['failed']}/{r['without']['failed']}",
                f"{r['with']['cpu_s']['_others_pct']:.0f}/"
                f"{r['without']['cpu_s']['_others_pct']:.0f}",
                "/".join("**yes**" if r[v]["cpu_s"].get("_broker_restarted") else "no"
                         for v in ("with", "without"))]
               for i, r in enumerate(rounds)]),
        "",
        "## CPU ms per placement, median over the rounds",
        "",
    ]
    procs = sorted({k for r in rounds for v in ("with", "without") for k in r[v]["cpu_ms"]})
    rows = []
    for variant in ("with", "without"):
        rows.append([variant, *(f"{statistics.median(r[variant]['cpu_ms'].get(p, 0.0) for r in rounds):.2f}"  # noqa: E501
                                for p in procs),
                     f"**{statistics.median(sum(r[variant]['cpu_ms'].values()) for r in rounds):.1f}**"])  # noqa: E501
    out += [
        table(["variant", *procs, "total"], rows),
        "",
        "The difference between the rows is what publishing costs per placement: the relays' "
        "claim/mark transactions and aio-pika publishing (orders, inventory), the broker "
        "(`rabbitmq`) and the consumers that react to the events (e.g. `delivery`). "
        "`postgres`, `rabbitmq` and `redis` are the box's shared servers (other users "
        "included: see 'others %').",
        "",
        f"Clean-up: {data.get('cleanup')}",
    ]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=float, default=60.0, help="closed-loop window, s")
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument("--ramp", type=float, default=2.0)
    parser.add_argument("--rate", type=float, default=50.0, help="open-loop design rate /s")
    parser.add_argument("--load-fraction", type=float, default=0.8,
                        help="highest share of the measured maximum the open loop may offer")
    parser.add_argument("--fallback-fraction", type=float, default=0.5,
                        help="share of the maximum offered when --rate is not reachable")
    parser.add_argument("--open-duration", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--customers", type=int, default=32)
    parser.add_argument("--products", type=int, default=30)
    parser.add_argument("--path", choices=["direct", "gateway"], default="direct")
    parser.add_argument("--port-offset", type=int, default=3600)
    parser.add_argument("--wait-quiet", type=float, default=0.0)
    parser.add_argument("--quick", action="store_true", help="~2 min: 2 rounds of 8 s")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup, args.ramp = 2, 8.0, 2.0, 1.0
        args.open_duration, args.customers = 8.0, 16
    args.services = SERVICES
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.wait_quiet:
        wait_until_quiet(args.wait_quiet)
    started, t_start = now_utc(), time.monotonic()
    data: dict[str, Any] = {"command": command_line(), "started": started,
                            "load_start": os.getloadavg(), "busy_before_pct": machine_busy_pct(),
                            "source": source_fingerprint("src/okada", "bench"),
                            "settings": {k: v for k, v in vars(args).items() if k != "services"}}
    tmp = Path(tempfile.mkdtemp(prefix="okada-bench-w6-"))
    (tmp / "site").mkdir()
    (tmp / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    flag = tmp / "relays-paused"
    # The topology copies this process's environment into every process it starts.
    os.environ[PAUSE_ENV] = str(flag)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(tmp / "site"), *filter(None, [os.environ.get("PYTHONPATH")])])
    with topology(args, tmp, label="w6", raised=RAISED_LIMITS) as topo:
        data["run"] = topo.run
        data["result"] = asyncio.run(measure(args, topo, flag))
    data["cleanup"] = topo.env.get("cleanup")
    data["finished"], data["elapsed_s"] = now_utc(), time.monotonic() - t_start
    data["load_end"] = os.getloadavg()
    data["versions"] = bench_versions()
    report = render(data)
    print(report)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "w6_outbox.json").write_text(json.dumps(data, indent=1, default=str))
        (RESULTS / "w6_outbox.md").write_text(report)


if __name__ == "__main__":
    main()
