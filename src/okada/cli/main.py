"""``okada``: serve, up, migrate, check-arch."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from okada.infra.settings import Mode, PlatformSettings, default_port
from okada.runtime.registry import SERVICES


def _uvicorn(app: Any, host: str, port: int, *, factory: bool = False) -> None:
    import uvicorn

    uvicorn.run(
        app,
        host=host,
        port=port,
        factory=factory,
        log_config=None,
        access_log=False,
        timeout_keep_alive=30,
        limit_concurrency=2000,
        h11_max_incomplete_event_size=65536,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the embedded platform, or one service / the gateway / the simulators."""
    host = args.host
    if args.service is None:
        from okada.runtime.embedded import create_embedded_app

        settings = PlatformSettings(mode=Mode.EMBEDDED)
        port = args.port or 8000
        print(f"Okada (embedded) on http://{host}:{port} - docs at /docs", file=sys.stderr)
        _uvicorn(create_embedded_app(settings), host, port)
        return 0
    offset = PlatformSettings.for_service(args.service).port_offset
    port = args.port if args.port is not None else default_port(args.service) + offset
    if args.service == "gateway":
        from okada.runtime.distributed import create_gateway_process_app

        _uvicorn(create_gateway_process_app(), host, port)
    elif args.service == "simulators":
        from okada.simulators.app import create_simulators_app

        _uvicorn(create_simulators_app(), host, port)
    else:
        from okada.runtime.distributed import create_service_process_app

        _uvicorn(create_service_process_app(args.service), host, port)
    return 0


def _wait_until_ready(names: Sequence[str], host: str, offset: int, timeout: float) -> list[str]:
    """Poll each process's ``/readyz`` until it answers 200; return the names still not ready."""
    import httpx

    pending = list(names)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            path = "/healthz" if name in ("simulators", "gateway") else "/readyz"
            try:
                answer = httpx.get(f"http://{host}:{default_port(name) + offset}{path}", timeout=2)
            except httpx.HTTPError:
                continue
            if answer.status_code == 200:
                pending.remove(name)
        if pending:
            time.sleep(0.5)
    return pending


def cmd_up(args: argparse.Namespace) -> int:
    """Start every service, the simulators and the gateway as separate OS processes.

    Business rule: read models are fed by events, and a queue receives only what is published
    after it was declared. So the processes start without demo data, and the demo data is
    loaded once every service is ready (its queues bound): the seed's events then sit in each
    producer's outbox and reach every consumer.
    """
    settings = PlatformSettings()
    env = {**os.environ, "OKADA_MODE": "distributed", "OKADA_SEED_DEMO_DATA": "false"}
    names = ["simulators", *SERVICES, "gateway"]
    procs: list[subprocess.Popen[bytes]] = []
    for name in names:
        procs.append(
            subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "okada.cli.main", "serve", name, "--host", args.host],
                env=env,
            )
        )
        if name == "simulators":
            time.sleep(0.5)
    if settings.seed_demo_data and not args.no_seed:
        late = _wait_until_ready(list(SERVICES), args.host, settings.port_offset, 300)
        if late:
            print(f"not ready, demo data not loaded: {', '.join(late)}", file=sys.stderr)
        else:
            os.environ["OKADA_MODE"] = "distributed"  # the seed writes the processes' databases
            cmd_seed(argparse.Namespace(services=[]))
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping and all(p.poll() is None for p in procs):
            time.sleep(0.5)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    failed = [n for n, p in zip(names, procs, strict=True) if p.returncode not in (0, -15, None)]
    return 1 if failed and not stopping else 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Upgrade the databases of the named services (all by default)."""
    from okada.infra.db.engine import create_engine, ensure_database
    from okada.infra.db.migrations import upgrade
    from okada.runtime.registry import load

    names = args.services or list(SERVICES)

    async def run() -> None:
        for name in names:
            settings = PlatformSettings.for_service(name)
            url = settings.database_url_for(name)
            await ensure_database(url)
            engine = create_engine(url)
            try:
                await upgrade(engine, load(name).migrations, name)
            finally:
                await engine.dispose()
            print(f"{name}: migrated", file=sys.stderr)

    asyncio.run(run())
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    """Load the demo data set into the named services (all by default) where they are empty."""
    from okada.infra.bus.inprocess import InProcessBus
    from okada.infra.cache.memory import MemoryCache
    from okada.runtime.host import ServiceHost, build_context

    names = args.services or list(SERVICES)

    async def run() -> None:
        settings = PlatformSettings()
        # Events the seed publishes stay in each service's outbox; the service's own relay
        # sends them when it runs.
        host = ServiceHost(build_context(settings, bus=InProcessBus(), cache=MemoryCache()), names)
        await host.build()
        await host.migrate()
        try:
            for name, rows in (await host.seed()).items():
                print(f"{name}: {rows} rows", file=sys.stderr)
        finally:
            await host.stop()

    asyncio.run(run())
    return 0


def cmd_projections(args: argparse.Namespace) -> int:
    """Rebuild a service's read models from its event store (truncate, then replay)."""
    from okada.infra.bus.inprocess import InProcessBus
    from okada.infra.cache.memory import MemoryCache
    from okada.runtime.host import ServiceHost, build_context

    async def run() -> int:
        settings = PlatformSettings()
        host = ServiceHost(
            build_context(settings, bus=InProcessBus(), cache=MemoryCache()), [args.service]
        )
        await host.build()
        await host.migrate()
        try:
            state = host.runtimes[args.service].app.state
            rebuild = getattr(state, "rebuild_projections", None)
            if rebuild is None:
                print(f"{args.service} has no projections to rebuild", file=sys.stderr)
                return 1
            applied = int(await rebuild())
            print(f"{args.service}: projections rebuilt from {applied} events", file=sys.stderr)
            return 0
        finally:
            await host.stop()

    return asyncio.run(run())


def cmd_demo(args: argparse.Namespace) -> int:
    """Tell the three demo journeys against a running platform (its public API only)."""
    from okada.cli.demo import main as demo_main

    return demo_main(args.base_url, args.lang)


def cmd_check_arch(_args: argparse.Namespace) -> int:
    """Run import-linter on the architecture contracts."""
    return subprocess.call(["lint-imports"])  # noqa: S607 - installed in the venv


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``okada`` command."""
    parser = argparse.ArgumentParser(prog="okada", description="Okada backend")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the embedded platform, or one process")
    serve.add_argument("service", nargs="?", help="a service name, 'gateway' or 'simulators'")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=None)
    serve.set_defaults(func=cmd_serve)
    up = sub.add_parser("up", help="run the distributed topology as local processes")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--no-seed", action="store_true", help="do not load the demo data")
    up.set_defaults(func=cmd_up)
    migrate = sub.add_parser("migrate", help="upgrade service databases")
    migrate.add_argument("services", nargs="*")
    migrate.set_defaults(func=cmd_migrate)
    seed = sub.add_parser("seed", help="load the demo catalog and stock where empty")
    seed.add_argument("services", nargs="*")
    seed.set_defaults(func=cmd_seed)
    projections = sub.add_parser("projections", help="manage event-sourced read models")
    projections_sub = projections.add_subparsers(dest="action", required=True)
    rebuild = projections_sub.add_parser("rebuild", help="rebuild a service's read models")
    rebuild.add_argument("service", choices=sorted(SERVICES))
    rebuild.set_defaults(func=cmd_projections)
    demo = sub.add_parser("demo", help="run the three demo journeys against a platform")
    demo.add_argument("--base-url", default="http://127.0.0.1:8000")
    demo.add_argument("--lang", choices=["fr", "en"], default="fr")
    demo.set_defaults(func=cmd_demo)
    arch = sub.add_parser("check-arch", help="check import boundaries")
    arch.set_defaults(func=cmd_check_arch)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
