"""The gateway ASGI app: one public entry point in front of every service."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import fastapi_offline
import orjson
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import Response

from okada.gateway.proxy import UpstreamProxy
from okada.gateway.routes import match_route
from okada.infra.hosting import ServiceDirectory
from okada.infra.http.middleware import EdgeMiddleware
from okada.infra.http.problems import install_problem_handlers, problem_response, request_language
from okada.infra.observability.context import request_id_var, traceparent_var
from okada.infra.security.internal import PrincipalCodec
from okada.infra.security.tokens import AccessTokenVerifier
from okada.kernel.errors import Unauthenticated
from okada.kernel.ports import Cache

_DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"


def create_gateway_app(
    *,
    directory: ServiceDirectory,
    services: Sequence[str],
    verifier: AccessTokenVerifier,
    codec: PrincipalCodec,
    cache: Cache,
    max_body_bytes: int = 1_048_576,
    docs_enabled: bool = True,
    access_log: bool = True,
    lifespan: Any = None,
) -> FastAPI:
    """Build the gateway for ``services`` (the upstreams it may route to)."""
    app = FastAPI(
        title="Okada API",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    proxy = UpstreamProxy(directory)
    hosted = set(services)

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

        results = dict(await asyncio.gather(*(one(n) for n in sorted(hosted))))
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
            openapi_cache["doc"] = await merged_openapi(directory, sorted(hosted))
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

    @app.api_route(
        "/{path:path}",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"],
        include_in_schema=False,
    )
    async def route(request: Request, path: str) -> Response:
        target = match_route(request.url.path)
        if target is None or target.service not in hosted:
            return problem_response(
                404,
                "route_not_found",
                request_language(request),
                instance=request.url.path,
                method=request.method,
                path=request.url.path,
            )
        principal_header = None
        authorization = request.headers.get("authorization")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated()
            principal = await verifier.verify(token.strip())
            if principal.token_id and await _denied(cache, principal.token_id):
                raise Unauthenticated()
            principal_header = codec.encode(principal)
        elif not target.allows_anonymous(request.method, request.url.path):
            raise Unauthenticated()
        body = await request.body()
        return await proxy.forward(
            request,
            target.service,
            body,
            principal_header=principal_header,
            request_id=request_id_var.get(),
            traceparent=traceparent_var.get(),
        )

    app.add_middleware(GZipMiddleware, minimum_size=800)
    app.add_middleware(
        EdgeMiddleware, service="gateway", max_body_bytes=max_body_bytes, access_log=access_log
    )
    return app


async def _denied(cache: Cache, jti: str) -> bool:
    try:
        return await cache.get(f"jti-deny:{jti}") is not None
    except Exception:  # a deny-list outage must not lock everyone out; tokens expire in 10 min
        return False


async def merged_openapi(directory: ServiceDirectory, services: Sequence[str]) -> dict[str, Any]:
    """Merge every upstream's OpenAPI document into one public OpenAPI 3.1 document."""
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
    for name in services:
        if name == "simulators":
            continue
        try:
            doc = (await directory.client(name).get("/openapi.json", timeout=5.0)).json()
        except Exception:  # noqa: S112 - a down service only leaves its paths out of the docs
            continue
        merged["paths"].update(doc.get("paths", {}))
        merged["components"]["schemas"].update(doc.get("components", {}).get("schemas", {}))
    return merged
