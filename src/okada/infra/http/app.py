"""The FastAPI app factory every service uses, so all speak the same HTTP conventions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from okada.infra.http.auth import PrincipalResolver
from okada.infra.http.idempotency import IdempotencyMiddleware, IdempotencyOptions
from okada.infra.http.middleware import EdgeMiddleware
from okada.infra.http.problems import install_problem_handlers

ReadinessCheck = Callable[[], Awaitable[bool]]


def operation_id(route: APIRoute) -> str:
    """Operation ids ``<tag>-<route name>``: stable names for generated clients."""
    tag = route.tags[0] if route.tags else "okada"
    return f"{tag}-{route.name}"


def create_service_app(
    *,
    service: str,
    routers: Sequence[APIRouter],
    resolver: PrincipalResolver,
    readiness: dict[str, ReadinessCheck],
    max_body_bytes: int = 1_048_576,
    description: str = "",
    access_log: bool = True,
    extra_state: dict[str, Any] | None = None,
    idempotency: IdempotencyOptions | None = None,
) -> FastAPI:
    """Build a service's ASGI app with problem+json errors, health, metrics and the edge layer.

    With ``idempotency``, unsafe requests honour ``Idempotency-Key`` (see
    :mod:`okada.infra.http.idempotency`); without it the app behaves as before.
    """
    app = FastAPI(
        title=f"Okada {service}",
        description=description,
        version="1.0.0",
        generate_unique_id_function=operation_id,
        docs_url=None,
        redoc_url=None,
    )
    app.state.principal_resolver = resolver
    app.state.service = service
    for key, value in (extra_state or {}).items():
        setattr(app.state, key, value)
    install_problem_handlers(app)
    for router in routers:
        app.include_router(router)
    app.include_router(health_router(service, readiness))
    if idempotency is not None:
        # Added before the edge layer, so it runs inside it: the body limit, request ids and
        # the access log also cover replayed and refused requests.
        app.add_middleware(IdempotencyMiddleware, **idempotency.middleware_kwargs(resolver.codec))
    app.add_middleware(
        EdgeMiddleware, service=service, max_body_bytes=max_body_bytes, access_log=access_log
    )
    return app


def health_router(service: str, readiness: dict[str, ReadinessCheck]) -> APIRouter:
    """``/healthz`` (the process is alive), ``/readyz`` (its dependencies answer), ``/metrics``."""
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @router.get("/readyz")
    async def readyz() -> Response:
        results = await run_checks(readiness)
        ok = all(results.values())
        return JSONResponse(
            {"status": "ok" if ok else "degraded", "service": service, "checks": results},
            status_code=200 if ok else 503,
        )

    @router.get("/metrics")
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


async def run_checks(checks: dict[str, ReadinessCheck]) -> dict[str, bool]:
    """Run readiness checks concurrently, each bounded to two seconds."""
    import asyncio

    async def one(check: ReadinessCheck) -> bool:
        try:
            return bool(await asyncio.wait_for(check(), timeout=2.0))
        except Exception:
            return False

    names = list(checks)
    values = await asyncio.gather(*(one(checks[n]) for n in names))
    return dict(zip(names, values, strict=True))
