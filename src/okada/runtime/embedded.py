"""Embedded mode: every service, the gateway and the simulators in one process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from okada.gateway.app import create_gateway_app
from okada.gateway.caching import gateway_cache_subscription
from okada.gateway.settings import GatewaySettings
from okada.infra.bus.inprocess import InProcessBus
from okada.infra.bus.policy import DeliveryPolicy
from okada.infra.cache.memory import MemoryCache
from okada.infra.observability.logging import configure_logging
from okada.infra.ratelimit import MemoryRateLimiter
from okada.infra.settings import Mode, PlatformSettings
from okada.kernel.clock import Clock
from okada.runtime.host import ServiceHost, build_context
from okada.runtime.registry import SERVICES
from okada.simulators.app import create_simulators_app


def create_embedded_app(
    settings: PlatformSettings | None = None,
    *,
    services: list[str] | None = None,
    clock: Clock | None = None,
    policy: DeliveryPolicy | None = None,
    configure_logs: bool = True,
    seed: bool = True,
) -> FastAPI:
    """Return the gateway app hosting the whole platform (SQLite, in-process bus, memory cache)."""
    settings = settings or PlatformSettings(mode=Mode.EMBEDDED)
    if configure_logs:
        configure_logging(level=settings.log_level, json=settings.log_json, service="okada")
    names = services or list(SERVICES)
    ctx = build_context(settings, bus=InProcessBus(policy), cache=MemoryCache(), clock=clock)
    simulators = create_simulators_app()
    ctx.directory.register_app("simulators", simulators)
    host = ServiceHost(ctx, names)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        await host.build()
        await host.migrate()
        if "payments" in names:
            # The provider simulators call back the way the real providers would, but the
            # callback URL (public_base_url) has no listening socket when the platform runs
            # in tests without a server: deliver callbacks to the payments app in process.
            callbacks = ctx.directory.client("payments")
            simulators.state.mtn_momo.callback_client = callbacks
            simulators.state.orange_money.callback_client = callbacks
        if seed and settings.seed_demo_data:
            await host.seed()  # the first start of embedded mode has a catalog to browse
        # catalog and inventory events invalidate the gateway's cached public pages
        ctx.bus.subscribe(*gateway_cache_subscription(ctx.cache))
        await host.start()
        app.state.host = host
        app.state.simulators = simulators
        try:
            yield {}
        finally:
            await host.stop()

    return create_gateway_app(
        directory=ctx.directory,
        services=[*names, "simulators"],
        verifier=ctx.token_verifier,
        codec=ctx.codec,
        cache=ctx.cache,
        rate_limiter=MemoryRateLimiter(),
        rate_limit_policies=GatewaySettings.for_service("gateway").rate_limit_policies(),
        cors_origins=settings.cors_origins,
        max_body_bytes=settings.max_body_bytes,
        docs_enabled=settings.docs_enabled,
        lifespan=lifespan,
    )
