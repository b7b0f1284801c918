"""The gateway ASGI app: one public entry point in front of every service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import fastapi_offline
import orjson
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from okada.gateway.caching import DEFAULT_TTL, ResponseCache
from okada.gateway.compression import CompressionMiddleware
from okada.gateway.edge import GatewayEdge
from okada.gateway.home import PART_TIMEOUT, HomeAggregator, home_router
from okada.gateway.proxy import UpstreamProxy
from okada.gateway.ratelimiting import EdgeRateLimiter
from okada.gateway.resilience import UpstreamGuards, UpstreamPolicy
from okada.infra.hosting import ServiceDirectory
from okada.infra.http.middleware import EdgeMiddleware
from okada.infra.http.problems import install_problem_handlers
from okada.infra.i18n import register_catalog_dir
from okada.infra.ratelimit import MemoryRateLimiter, RateLimiter, RateLimitPolicy
from okada.infra.security.internal import PrincipalCodec
from okada.infra.security.tokens import AccessTokenVerifier
from okada.kernel.ports import Cache

_DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"
_LOCALES = Path(__file__).parent / "locales"

CORS_ALLOW_HEADERS = [
    "Authorization",
    "Content-Type",
    "Accept-Language",
    "Idempotency-Key",
    "If-Match",
    "If-None-Match",
    "X-Client-Id",
    "X-Request-Id",
    "traceparent",
]
CORS_EXPOSE_HEADERS = [
    "ETag",
    "Retry-After",
    "RateLimit",
    "RateLimit-Policy",
    "X-Request-Id",
    "Content-Language",
    "Location",
]


def create_gateway_app(
    *,
    directory: ServiceDirectory,
    services: Sequence[str],
    verifier: AccessTokenVerifier,
    codec: PrincipalCodec,
    cache: Cache,
    rate_limiter: RateLimiter | None = None,
    rate_limit_policies: Mapping[str, RateLimitPolicy] | None = None,
    upstream_policy: UpstreamPolicy | None = None,
    upstream_policies: Mapping[str, UpstreamPolicy] | None = None,
    response_cache_ttl: float = DEFAULT_TTL,
    home_part_timeout: float = PART_TIMEOUT,
    cors_origins: Sequence[str] = (),
    max_body_bytes: int = 1_048_576,
    docs_enabled: bool = True,
    access_log: bool = True,
    lifespan: Any = None,
    upstream_base_urls: Mapping[str, str] | None = None,
) -> FastAPI:
    """Build the gateway for ``services`` (the upstreams it may route to).

    Args:
        directory: Clients to the upstream services.
        services: Upstreams this gateway routes to; other routes of the table answer 404.
        verifier: Access-token verifier.
        codec: Signs the principal header sent upstream.
        cache: Shared cache: token deny-list, response cache and its tag generations.
        rate_limiter: Shared limiter; a process-local :class:`MemoryRateLimiter` when None.
        rate_limit_policies: Policies by name overriding the defaults (tests set small limits).
        upstream_policy: Default timeout, bounds, retries and breaker of every upstream.
        upstream_policies: Per-upstream overrides of ``upstream_policy``.
        response_cache_ttl: Seconds a cached public GET lives.
        home_part_timeout: Seconds each part of the home aggregate may take.
        cors_origins: Browser origins allowed to call the API; none disables CORS.
        max_body_bytes: Larger request bodies are refused with 413.
        docs_enabled: Serve ``/docs`` and ``/redoc``.
        access_log: Log one line per request.
        lifespan: The hosting runtime's lifespan.
        upstream_base_urls: Upstreams to call over HTTP at these base URLs whatever the
            directory says (tests, benchmarks); the others follow the directory.

    Returns:
        The ASGI app; ``app.state`` exposes ``proxy``, ``responses`` and ``limits``.
    """
    register_catalog_dir(_LOCALES)
    proxy = UpstreamProxy(
        directory,
        UpstreamGuards(upstream_policy, dict(upstream_policies or {})),
        base_urls=upstream_base_urls,
    )

    @asynccontextmanager
    async def gateway_lifespan(app: FastAPI) -> AsyncIterator[Any]:
        try:
            if lifespan is None:
                yield None
            else:
                async with lifespan(app) as state:
                    yield state
        finally:
            await proxy.aclose()  # the gateway's own upstream connection pool

    app = FastAPI(
        title="Okada API",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=gateway_lifespan,
    )
    install_problem_handlers(app)
    hosted = sorted(set(services))
    responses = ResponseCache(cache, ttl=response_cache_ttl)
    limits = EdgeRateLimiter(
        rate_limiter or MemoryRateLimiter(), rate_limit_policies, cache=cache
    )
    aggregator = HomeAggregator(proxy, hosted, responses, part_timeout=home_part_timeout)
    app.state.proxy = proxy
    app.state.responses = responses
    app.state.limits = limits
    app.include_router(home_router(aggregator))

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "gateway"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        async def one(name: str) -> tuple[str, Any]:
            try:
                r = await directory.client(name).get("/readyz", timeout=3.0)
                return name, r.json() if r.headers.get("content-type", "").startswith(
                    "application/json"
                ) else {"status": "down"}
            except Exception:
                return name, {"status": "down"}

        results = dict(await asyncio.gather(*(one(n) for n in hosted)))
        cache_ok = await cache.is_healthy()
        ok = cache_ok and all(v.get("status") == "ok" for v in results.values())
        return JSONResponse(
            {"status": "ok" if ok else "degraded", "cache": cache_ok, "services": results},
            status_code=200 if ok else 503,
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    openapi_cache: dict[str, Any] = {}

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi() -> Response:
        if "doc" not in openapi_cache:
            own = get_openapi(title="Okada API", version="1.0.0", routes=app.routes)
            openapi_cache["doc"] = await merged_openapi(directory, hosted, own=own)
        return Response(orjson.dumps(openapi_cache["doc"]), media_type="application/json")

    if docs_enabled:
        app.mount("/docs-assets", StaticFiles(directory=_DOCS_ASSETS), name="docs-assets")

        @app.get("/docs", include_in_schema=False)
        async def docs() -> HTMLResponse:
            return get_swagger_ui_html(
                openapi_url="/openapi.json",
                title="Okada API",
                swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                swagger_css_url="/docs-assets/swagger-ui.css",
                swagger_favicon_url="/docs-assets/favicon.png",
            )

        @app.get("/redoc", include_in_schema=False)
        async def redoc() -> HTMLResponse:
            return get_redoc_html(
                openapi_url="/openapi.json",
                title="Okada API",
                redoc_js_url="/docs-assets/redoc.standalone.js",
                redoc_favicon_url="/docs-assets/favicon.png",
                with_google_fonts=False,
            )

    # Added innermost first: the edge dispatcher sits right above the router, compression above
    # it (so cached and proxied bodies are compressed once), CORS above that, and the shared
    # edge middleware (request id, size limit, security headers, access log) outermost.
    app.add_middleware(
        GatewayEdge,
        hosted=hosted,
        verifier=verifier,
        codec=codec,
        cache=cache,
        limits=limits,
        proxy=proxy,
        responses=responses,
    )
    app.add_middleware(CompressionMiddleware)
    if cors_origins:
        origins = list(cors_origins)
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            # The CORS spec forbids a wildcard origin with credentials; we never combine them.
            allow_credentials="*" not in origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
            allow_headers=CORS_ALLOW_HEADERS,
            expose_headers=CORS_EXPOSE_HEADERS,
            max_age=600,
        )
    app.add_middleware(
        EdgeMiddleware, service="gateway", max_body_bytes=max_body_bytes, access_log=access_log
    )
    return app


async def merged_openapi(
    directory: ServiceDirectory, services: Sequence[str], *, own: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Merge the gateway's own routes and every upstream's OpenAPI document into one.

    Args:
        directory: Clients to the upstream services.
        services: Upstreams whose documents are merged (the simulators are left out).
        own: The gateway's own OpenAPI document (the home aggregate).

    Returns:
        One public OpenAPI 3.1 document.
    """
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Okada API",
            "version": "1.0.0",
            "description": "Quick commerce for Douala and Yaoundé. Errors are RFC 9457 "
            "problem+json in the language of Accept-Language (fr or en).",
        },
        "paths": {},
        "components": {
            "schemas": {},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
        "security": [{"bearer": []}],
    }
    documents = [own] if own else []
    for name in services:
        if name == "simulators":
            continue
        try:
            response = await directory.client(name).get("/openapi.json", timeout=5.0)
            documents.append(response.json())
        except Exception:  # noqa: S112 - a down service only leaves its paths out of the docs
            continue
    for doc in documents:
        merged["paths"].update(doc.get("paths", {}))
        merged["components"]["schemas"].update(doc.get("components", {}).get("schemas", {}))
    return merged
