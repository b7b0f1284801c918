"""The distributed topology as individual OS processes, so a test can kill and restart one.

``okada up`` starts every process under one parent; fault tests need to SIGKILL a single
service (orders, payments, delivery…) and start it again with the same databases, queues
and ports. This helper starts the same processes ``okada up`` starts (simulators, every
service, the gateway) with names unique to the run (databases, exchange, queues, Redis
prefix) and a port offset, loads the demo data once every service is ready (as ``okada up``
does), and cleans everything up at the end.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import IO

import asyncpg  # type: ignore[import-untyped]
import httpx

from okada.infra.settings import default_port
from okada.runtime.registry import SERVICES
from tests.support.broker import purge_broker
from tests.support.tcp_proxy import ToggleProxy


def topology_env(port_offset: int, run: str | None = None, **extra: str) -> dict[str, str]:
    """Environment of every process of one test topology (unique names, relaxed OTP caps)."""
    run = run or uuid.uuid4().hex[:8]
    return {
        **os.environ,
        "OKADA_MODE": "distributed",
        "OKADA_INTERNAL_SECRET": f"e2e-secret-{uuid.uuid4().hex}",
        "OKADA_DATABASE_PREFIX": f"okada_e2e_{run}_",
        "OKADA_AMQP_EXCHANGE": f"okada.e2e.{run}",
        "OKADA_AMQP_QUEUE_PREFIX": f"e2e.{run}.",
        "OKADA_REDIS_PREFIX": f"okada-e2e-{run}:",
        "OKADA_PORT_OFFSET": str(port_offset),
        # Provider callbacks must reach this run's gateway, not whatever listens on 8000.
        "OKADA_PUBLIC_BASE_URL": f"http://127.0.0.1:{8000 + port_offset}",
        "OKADA_LOG_LEVEL": "WARNING",
        # A shared PostgreSQL server (max_connections 100) hosts other runs too: small,
        # fixed pools (8 services x 3).
        "OKADA_DB_POOL_SIZE": "3",
        # Every journey signs people in from one address: lift the per-IP SMS cap.
        "IDENTITY_OTP_PER_IP_PER_HOUR": "10000",
        **extra,
    }


class ThreadedProxy:
    """A :class:`ToggleProxy` to PostgreSQL on its own event loop and thread, so it keeps
    forwarding whatever loop (or none) the test runs on."""

    def __init__(self, target_port: int = 5432) -> None:
        self._loop = asyncio.new_event_loop()
        self._proxy = ToggleProxy(target_port)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._proxy.start(), self._loop).result(10)
        self.port = self._proxy.port

    def down(self) -> None:
        """Drop every open connection and refuse new ones."""
        self._loop.call_soon_threadsafe(self._proxy.down)

    def up(self) -> None:
        """Accept connections again."""
        self._loop.call_soon_threadsafe(self._proxy.up)

    def close(self) -> None:
        """Stop forwarding and end the thread."""
        asyncio.run_coroutine_threadsafe(self._proxy.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class Topology:
    """Simulators, the services and the gateway, each its own process.

    ``proxied`` services reach PostgreSQL through a :class:`ThreadedProxy` (``proxies``), so
    a test can cut their database connections without touching the server.
    """

    def __init__(self, port_offset: int, *, proxied: tuple[str, ...] = (),
                 **extra_env: str) -> None:
        self.port_offset = port_offset
        self.proxies = {name: ThreadedProxy() for name in proxied}
        for name, proxy in self.proxies.items():
            extra_env[f"{name.upper()}_POSTGRES_URL"] = (
                f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}")
        self.env = topology_env(port_offset, **extra_env)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs_dir = Path(tempfile.mkdtemp(prefix="okada-topology-"))
        self._logs: dict[str, IO[bytes]] = {}
        self.gateway = f"http://127.0.0.1:{8000 + port_offset}"

    def url(self, name: str) -> str:
        """Base URL of one process."""
        return f"http://127.0.0.1:{default_port(name) + self.port_offset}"

    def start_process(self, name: str) -> None:
        """Start (or restart) one process; its output goes to a log file of the run."""
        log = self._logs.get(name) or (self.logs_dir / f"{name}.log").open("ab")
        self._logs[name] = log
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "okada.cli.main", "serve", name],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def start(self, *, seed: bool = True, timeout: float = 120) -> None:
        """Start every process, wait until each is ready, then load the demo data."""
        for name in ["simulators", *SERVICES, "gateway"]:
            self.start_process(name)
        self.wait_ready(["simulators", *SERVICES, "gateway"], timeout)
        if seed:
            subprocess.run(
                [sys.executable, "-m", "okada.cli.main", "seed"], env=self.env, check=True,
                timeout=timeout, capture_output=True,
            )

    def wait_ready(self, names: list[str], timeout: float) -> None:
        """Poll each process's readiness (``/healthz`` for simulators and the gateway)."""
        pending = list(names)
        deadline = time.monotonic() + timeout
        while pending:
            for name in list(pending):
                proc = self.procs[name]
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}: {self.tail(name)}")
                path = "/healthz" if name in ("simulators", "gateway") else "/readyz"
                try:
                    if httpx.get(self.url(name) + path, timeout=2.0).status_code == 200:
                        pending.remove(name)
                except httpx.HTTPError:
                    pass
            if pending and time.monotonic() > deadline:
                raise RuntimeError(f"not ready after {timeout}s: {pending}")
            if pending:
                time.sleep(0.3)  # readiness polling interval

    def kill(self, name: str) -> None:
        """SIGKILL one process (no shutdown hook runs: a crash)."""
        proc = self.procs[name]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def restart(self, name: str, timeout: float = 60) -> float:
        """Start a killed process again; return the seconds until it was ready."""
        started = time.monotonic()
        self.start_process(name)
        self.wait_ready([name], timeout)
        return time.monotonic() - started

    def tail(self, name: str, size: int = 2000) -> str:
        """The end of one process's log."""
        path = self.logs_dir / f"{name}.log"
        return path.read_bytes()[-size:].decode(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop every process and drop the run's databases, exchange and queues."""
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        for log in self._logs.values():
            log.close()
        for proxy in self.proxies.values():
            proxy.close()
        cleanup(self.env)


def cleanup(env: dict[str, str], *, broker_wait: float = 90) -> None:
    """Drop the databases and broker objects named by a topology's environment.

    The broker is shared: another run may be restarting it for a fault test, so purging is
    retried for up to ``broker_wait`` seconds (it comes back within about 30 s).
    """
    asyncio.run(drop_databases(env["OKADA_DATABASE_PREFIX"]))
    deadline = time.monotonic() + broker_wait
    while True:
        try:
            asyncio.run(purge_broker(env["OKADA_AMQP_EXCHANGE"],
                                     env["OKADA_AMQP_QUEUE_PREFIX"]))
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(3)  # the broker is restarting: try again shortly


async def drop_databases(prefix: str) -> None:
    """Drop every PostgreSQL database whose name starts with ``prefix``."""
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres", timeout=10)
    try:
        names = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1",
                                 prefix + "%")
        for row in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await conn.close()
