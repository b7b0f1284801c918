"""A small keep-alive HTTP/1.1 load generator on raw asyncio protocols (uvloop).

Two modes:

* ``closed``: N connections, each sends its next request as soon as the previous response
  arrived (wrk-style). Used only for maximum-throughput ratios.
* ``open``: requests are due at a fixed arrival rate; a due request goes out on an idle
  connection or waits in a backlog. Latency is measured from when the request was due (issued
  by the scheduler), not from when a connection became free, so a server stall shows in the
  percentiles instead of silently slowing the generator down (coordinated omission; wrk2
  does the same).

It speaks just enough HTTP/1.1 for the benchmark servers: GET, ``Content-Length`` bodies, no
chunked encoding, no pipelining. Callbacks run in ``asyncio.Protocol`` methods rather than
coroutines because a per-request task or future would cost the generator more CPU than the
bare ASGI server it measures.

Run ``python -m bench.loadgen --help``; it prints one JSON object with the results, including
its own CPU time and (with ``--pid``) the CPU time of the measured processes, sampled at the
exact edges of the measurement window.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any, cast

import psutil
import uvloop

from bench._common import summarise

# uvloop's loop.time() is libuv's cached millisecond clock: too coarse for sub-millisecond
# latencies, so every timestamp here comes from perf_counter (timers still use the loop).
clock = time.perf_counter


@dataclass
class Stats:
    """Counters of one run; only responses inside the measurement window count."""

    ok: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)


class Generator:
    """Shared state of all connections of one run."""

    def __init__(self, request: bytes, *, mode: str, rate: float, host: str, port: int) -> None:
        self.request = request
        self.mode = mode
        self.rate = rate
        self.host = host
        self.port = port
        self.loop = asyncio.get_running_loop()
        self.stats = Stats()
        self.window_start = float("inf")
        self.window_end = float("inf")
        self.stopping = False  # closed loop: stop sending after the window
        self.closing = False  # the run is over: connections are being closed on purpose
        self.conns: list[Connection] = []
        # FIFO, so every connection is used in turn (as a load balancer would) and none sits
        # idle long enough to hit the server's keep-alive timeout.
        self.idle: collections.deque[Connection] = collections.deque()
        self.backlog: collections.deque[float] = collections.deque()
        self.in_flight = 0
        self.issued = 0
        self.open_t0 = 0.0
        self.open_total = 0
        self.drained = asyncio.Event()
        self.lags: list[float] = []
        self.protocol_errors = 0
        self.connections_lost = 0
        self.replacing: set[asyncio.Task[None]] = set()

    def _count(self, mark: float, now: float, started: float, ok: bool) -> None:
        if self.window_start <= mark < self.window_end:
            if ok:
                self.stats.ok += 1
                self.stats.latencies.append(now - started)
            else:
                self.stats.errors += 1

    def _check_drained(self) -> None:
        if self.mode == "open" and self.issued >= self.open_total and self.in_flight == 0:
            self.drained.set()

    def dispatch(self, conn: Connection) -> None:
        """Give a free connection its next request (closed: at once; open: from the backlog)."""
        if self.mode == "closed":
            if not self.stopping:
                conn.send(clock())
            return
        if self.backlog:
            conn.send(self.backlog.popleft())
        else:
            self.idle.append(conn)
            self._check_drained()

    def on_response(self, conn: Connection, ok: bool) -> None:
        """Count a response and keep the connection busy (closed) or serve the backlog (open)."""
        now = clock()
        self.in_flight -= 1
        # Closed loop: count by completion time. Open loop: by issue time, so the window
        # holds exactly the requests that were due in it, however late they completed.
        self._count(now if self.mode == "closed" else conn.intended, now, conn.intended, ok)
        self.dispatch(conn)

    def on_lost(self, conn: Connection) -> None:
        """A connection closed under us: count it, fail its request, open a replacement."""
        if self.closing:
            return
        self.connections_lost += 1
        if conn.busy:
            self.in_flight -= 1
            self._count(conn.intended, clock(), conn.intended, ok=False)
        try:
            self.idle.remove(conn)
        except ValueError:
            pass
        if self.mode == "closed" and self.stopping:
            return
        task = self.loop.create_task(self._replace(conn))
        self.replacing.add(task)
        task.add_done_callback(self.replacing.discard)
        self._check_drained()

    async def _replace(self, old: Connection) -> None:
        try:
            _, conn = await self.loop.create_connection(
                lambda: Connection(self), self.host, self.port
            )
        except OSError:
            self.protocol_errors += 1  # cannot reconnect: this connection's load is gone
            return
        self.conns[self.conns.index(old)] = conn
        if self.closing:
            conn.transport.close()
            return
        self.dispatch(conn)

    def tick(self) -> None:
        """Open loop: issue every request due by now, then sleep until the next one is due.

        A request's latency clock starts when this tick issues it, on an idle connection or
        into the backlog. Requests stuck in the backlog because every connection waits on the
        server keep that start time, so a server stall is fully counted (no coordinated
        omission). The gap between the intended time and the tick (timer granularity, at most
        about 1 ms unless the generator itself is starved) is the generator's own lag: it is
        reported separately as ``schedule_lag_ms`` instead of being charged to the server.
        """
        now = clock()
        due = min(self.open_total, int((now - self.open_t0) * self.rate) + 1)
        while self.issued < due:
            intended = self.open_t0 + self.issued / self.rate
            self.issued += 1
            if self.window_start <= now < self.window_end:
                self.lags.append(now - intended)
            if self.idle:
                self.idle.popleft().send(now)
            else:
                self.backlog.append(now)
        if self.issued < self.open_total:
            next_due = self.open_t0 + self.issued / self.rate
            # At least 1 ms between ticks: libuv timers have millisecond resolution and
            # truncate, so a shorter delay becomes a 0 ms timer and the loop spins.
            self.loop.call_later(max(next_due - now, 0.001), self.tick)


class Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self, gen: Generator) -> None:
        self.gen = gen
        self.transport: asyncio.Transport = cast(asyncio.Transport, None)
        self.buffer = bytearray()
        self.need = -1
        self.status_ok = False
        self.intended = 0.0
        self.busy = False
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, hence the cast.
        self.transport = cast(asyncio.Transport, transport)

    def send(self, intended: float) -> None:
        """Write the request; ``intended`` starts its latency clock (see ``Generator.tick``)."""
        self.intended = intended
        self.busy = True
        self.gen.in_flight += 1
        self.transport.write(self.gen.request)

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        while True:
            if self.need < 0:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(buf[:end]).lower()
                self.status_ok = head[9:12] == b"200"
                at = head.find(b"\r\ncontent-length:")
                if at < 0:
                    # Chunked or close-delimited bodies are not supported: count and drop
                    # the connection (it is replaced) rather than hang on it.
                    self.gen.protocol_errors += 1
                    self.transport.close()
                    return
                stop = head.find(b"\r\n", at + 17)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
                self.need = end + 4 + length
            if len(buf) < self.need:
                return
            del buf[: self.need]
            self.need = -1
            self.busy = False
            self.gen.on_response(self, self.status_ok)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self.gen.on_lost(self)


def build_request(path: str, host: str, headers: list[str]) -> bytes:
    """Return the raw request bytes sent on every connection."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Accept: application/json", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _cpu_seconds(pids: list[int]) -> dict[str, float]:
    out: dict[str, float] = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            out[str(pid)] = times.user + times.system
        except psutil.Error:
            out[str(pid)] = float("nan")
    return out


def _machine_busy() -> tuple[float, float]:
    """Return (busy, total) CPU seconds of the whole machine, summed over cores."""
    t = psutil.cpu_times()
    total = sum(t)
    idle = t.idle + getattr(t, "iowait", 0.0)
    return total - idle, total


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Connect, warm up, measure one window and return the results."""
    request = build_request(args.path, f"{args.host}:{args.port}", args.header)
    gen = Generator(request, mode=args.mode, rate=args.rate, host=args.host, port=args.port)
    loop = gen.loop
    for _ in range(args.connections):
        _, proto = await loop.create_connection(
            lambda: Connection(gen), args.host, args.port
        )
        gen.conns.append(proto)

    marks: dict[str, Any] = {}

    def open_window() -> None:
        marks["start"] = (
            time.process_time(),
            _cpu_seconds(args.pid),
            _machine_busy(),
            time.monotonic(),
        )

    def close_window() -> None:
        marks["end"] = (
            time.process_time(),
            _cpu_seconds(args.pid),
            _machine_busy(),
            time.monotonic(),
        )

    incomplete = 0
    if args.mode == "closed":
        for conn in gen.conns:
            conn.send(clock())
        await asyncio.sleep(args.warmup)
        gen.window_start = clock()
        open_window()
        await asyncio.sleep(args.duration)
        gen.window_end = clock()
        close_window()
        gen.stopping = True
    else:
        gen.idle.extend(gen.conns)
        gen.open_total = round(args.rate * (args.warmup + args.duration))
        gen.open_t0 = clock() + 0.01
        gen.window_start = gen.open_t0 + args.warmup
        gen.window_end = gen.open_t0 + args.warmup + args.duration
        loop.call_later(0.01, gen.tick)
        await asyncio.sleep(gen.window_start - clock())
        open_window()  # the window itself is by issue time, see on_response
        await asyncio.sleep(gen.window_end - clock())
        close_window()
        try:
            await asyncio.wait_for(gen.drained.wait(), timeout=args.drain)
        except TimeoutError:
            # Requests still queued or in flight: count them as latencies of at least the
            # time waited so far, so an overloaded server cannot look fast by not answering.
            now = clock()
            pending = list(gen.backlog) + [c.intended for c in gen.conns if c.busy]
            for started in pending:
                if gen.window_start <= started < gen.window_end:
                    gen.stats.latencies.append(now - started)
                    incomplete += 1
    gen.closing = True
    for task in list(gen.replacing):
        task.cancel()
    for conn in gen.conns:
        conn.transport.close()
    await asyncio.gather(*(asyncio.wait_for(c.closed, 2) for c in gen.conns),
                         return_exceptions=True)

    p0, cpu0, (busy0, total0), t0 = marks["start"]
    p1, cpu1, (busy1, total1), t1 = marks["end"]
    window = t1 - t0
    stats = gen.stats
    latency_ms = {k: (v * 1000 if k != "count" else v) for k, v in
                  summarise(stats.latencies).items()}
    return {
        "mode": args.mode,
        "connections": args.connections,
        "target_rate": args.rate if args.mode == "open" else None,
        "window_s": window,
        "ok": stats.ok,
        "errors": stats.errors,
        "incomplete": incomplete,
        "protocol_errors": gen.protocol_errors,
        "connections_lost": gen.connections_lost,
        "rps": stats.ok / window if args.mode == "closed" else stats.ok / args.duration,
        "latency_ms": latency_ms,
        "schedule_lag_ms": {k: (v * 1000 if k != "count" else v) for k, v in
                            summarise(gen.lags).items()},
        "generator_cpu_s": p1 - p0,
        "pid_cpu_s": {pid: cpu1[pid] - cpu0[pid] for pid in cpu0},
        "machine_busy_s": busy1 - busy0,
        "machine_total_s": total1 - total0,
    }


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run once under uvloop and print the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/hello")
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("--mode", choices=("closed", "open"), default="closed")
    parser.add_argument("--rate", type=float, default=1000.0, help="open loop: requests/s")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before the window")
    parser.add_argument("--duration", type=float, default=10.0, help="measurement window, s")
    parser.add_argument("--drain", type=float, default=5.0, help="open loop: wait for stragglers")
    parser.add_argument("--pid", type=int, action="append", default=[],
                        help="also report this process's CPU seconds over the window")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("this generator only talks to the loopback interface")
    result = uvloop.run(run(args))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
