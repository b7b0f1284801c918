"""Distributed mode: one service per process on PostgreSQL, RabbitMQ and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from okada.gateway.app import create_gateway_app
from okada.gateway.caching import gateway_cache_subscription
from okada.gateway.settings import GatewaySettings
from okada.infra.observability.logging import configure_logging
from okada.infra.settings import PlatformSettings
from okada.runtime.host import ServiceHost, build_context
from okada.runtime.registry import SERVICES, load


def _bus_and_cache(settings: PlatformSettings) -> tuple[Any, Any]:
    from okada.infra.bus.rabbitmq import RabbitMqBus
    from okada.infra.cache.redis import RedisCache

    bus = RabbitMqBus(
        settings.amqp_url, exchange=settings.amqp_exchange, queue_prefix=settings.amqp_queue_prefix
    )
    return bus, RedisCache(settings.redis_url, prefix=settings.redis_prefix)


def create_service_process_app(name: str, settings: PlatformSettings | None = None) -> FastAPI:
    """The ASGI app of one service process: its API, consumers and outbox relay."""
    settings = settings or PlatformSettings.for_service(name)
    configure_logging(level=settings.log_level, json=settings.log_json, service=name)
    load(name)  # fail fast on an unknown name
    bus, cache = _bus_and_cache(settings)
    ctx = build_context(settings, bus=bus, cache=cache)
    host = ServiceHost(ctx, [name])
    holder: dict[str, FastAPI] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await host.build()
        await host.migrate()
        if settings.seed_demo_data:
            await host.seed()
        await host.start()
        holder["app"] = host.runtimes[name].app
        try:
            yield
        finally:
            await host.stop()
            await cache.aclose()

    outer = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    async def delegate(scope: Any, receive: Any, send: Any) -> None:
        await holder["app"](scope, receive, send)

    outer.mount("/", delegate)
    return outer


def create_gateway_process_app(settings: PlatformSettings | None = None) -> FastAPI:
    """The gateway process: routes to service processes over pooled HTTP connections."""
    settings = settings or GatewaySettings.for_service("gateway")
    edge = settings if isinstance(settings, GatewaySettings) else GatewaySettings.for_service(
        "gateway")
    configure_logging(level=settings.log_level, json=settings.log_json, service="gateway")
    from okada.infra.ratelimit import RedisRateLimiter

    bus, cache = _bus_and_cache(settings)
    limiter = RedisRateLimiter(settings.redis_url, prefix=f"{settings.redis_prefix}rl:")
    ctx = build_context(settings, bus=bus, cache=cache)
    # The gateway hosts no service; the host only runs its bus (with retries while the
    # broker is away) for the consumer that invalidates cached public pages.
    host = ServiceHost(ctx, [])

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        ctx.bus.subscribe(*gateway_cache_subscription(cache))
        await host.start()
        try:
            yield
        finally:
            await host.stop()
            await limiter.aclose()
            await cache.aclose()

    return create_gateway_app(
        directory=ctx.directory,
        services=[*SERVICES, "simulators"],
        verifier=ctx.token_verifier,
        codec=ctx.codec,
        cache=cache,
        rate_limiter=limiter,
        rate_limit_policies=edge.rate_limit_policies(),
        cors_origins=settings.cors_origins,
        max_body_bytes=settings.max_body_bytes,
        docs_enabled=settings.docs_enabled,
        lifespan=lifespan,
    )
