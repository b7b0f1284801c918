"""Hosting services in a process: build, migrate, subscribe, run workers, stop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import structlog

from okada.infra.db.engine import ensure_database
from okada.infra.db.migrations import upgrade
from okada.infra.hosting import HostContext, ServiceDirectory, ServiceRuntime, cancel_all
from okada.infra.security.internal import PrincipalCodec
from okada.infra.security.tokens import AccessTokenVerifier, JwksCache
from okada.infra.settings import Mode, PlatformSettings
from okada.kernel.clock import Clock, SystemClock
from okada.kernel.ports import Cache, MessageBus
from okada.runtime.registry import load

log = structlog.get_logger(__name__)


def build_context(
    settings: PlatformSettings,
    *,
    bus: MessageBus,
    cache: Cache,
    clock: Clock | None = None,
    overrides: dict[str, Any] | None = None,
) -> HostContext:
    """Assemble what every hosted service receives.

    ``overrides`` are settings given explicitly (by tests or the CLI) that every hosted
    service sees whatever its environment says.
    """
    directory = ServiceDirectory(settings)

    async def fetch_jwks() -> dict[str, Any]:
        response = await directory.client("identity").get("/.well-known/jwks.json", timeout=5.0)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    return HostContext(
        mode=settings.mode,
        platform=settings,
        bus=bus,
        cache=cache,
        clock=clock or SystemClock(),
        directory=directory,
        codec=PrincipalCodec(settings.internal_secret),
        token_verifier=AccessTokenVerifier(JwksCache(fetch_jwks)),
        overrides=dict(overrides or {}),
    )


class ServiceHost:
    """Runs a set of services on one context (all of them embedded, one when distributed)."""

    def __init__(self, ctx: HostContext, names: Sequence[str]) -> None:
        self.ctx = ctx
        self.names = list(names)
        self.runtimes: dict[str, ServiceRuntime] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def build(self) -> None:
        """Build every service and make its app reachable through the directory."""
        for name in self.names:
            runtime = await load(name).build(self.ctx)
            self.runtimes[name] = runtime
            self.ctx.directory.register_app(name, runtime.app)

    async def migrate(self) -> None:
        """Bring every hosted service's database to the latest revision."""
        for name, runtime in self.runtimes.items():
            url = self.ctx.settings_for(name, PlatformSettings).database_url_for(name)
            await ensure_database(url)
            await upgrade(self.ctx.engine(name), runtime.migrations, name)

    async def seed(self) -> dict[str, int]:
        """Load each hosted service's demo data where its database is still empty."""
        written: dict[str, int] = {}
        for name, runtime in self.runtimes.items():
            if runtime.seed is not None:
                written[name] = await runtime.seed()
        return written

    async def start(self) -> None:
        """Subscribe consumers, start the bus, the workers and the start hooks."""
        for runtime in self.runtimes.values():
            for sub in runtime.subscriptions:
                self.ctx.bus.subscribe(
                    sub.consumer, sub.schemas, sub.handler, dead_letter=runtime.dead_letter
                )
        for runtime in self.runtimes.values():
            for hook in runtime.on_start:
                await hook()
        try:
            await self.ctx.bus.start()
        except Exception as exc:  # the broker may be down: the outbox keeps the events
            log.warning("host.bus_start_failed", error=repr(exc))
            self._tasks.append(asyncio.create_task(self._retry_bus_start()))
        for runtime in self.runtimes.values():
            for worker in runtime.workers:
                self._tasks.append(asyncio.create_task(worker(), name=f"{runtime.name}:worker"))

    async def _retry_bus_start(self) -> None:
        delay = 1.0
        while True:
            await asyncio.sleep(delay)
            try:
                await self.ctx.bus.start()
                return
            except Exception as exc:
                log.warning("host.bus_start_retry_failed", error=repr(exc))
                delay = min(delay * 2, 30.0)

    async def stop(self) -> None:
        """Stop workers, the bus, clients and engines."""
        await cancel_all(self._tasks)
        self._tasks.clear()
        for runtime in self.runtimes.values():
            for hook in runtime.on_stop:
                with contextlib.suppress(Exception):
                    await hook()
        with contextlib.suppress(Exception):
            await self.ctx.bus.close()
        await self.ctx.directory.aclose()
        for engine in self.ctx.engines.values():
            await engine.dispose()


def is_embedded(settings: PlatformSettings) -> bool:
    """Return whether the settings select embedded mode."""
    return settings.mode is Mode.EMBEDDED
