"""The home screen in one round trip: store, categories, featured products, active order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from okada.gateway.caching import CachedResponse, ResponseCache, cache_tags, cacheable_query
from okada.gateway.edge import PRINCIPAL_HEADER_SCOPE_KEY
from okada.gateway.proxy import UpstreamProxy, UpstreamResponse, upstream_headers
from okada.infra.http.problems import problem_responses, request_language
from okada.infra.observability.context import request_id_var, traceparent_var

PART_TIMEOUT = 1.5
"""Seconds each upstream call of the home screen may take before its part is left out."""
FEATURED_LIMIT = 12


class HomeRead(BaseModel):
    """The home screen.

    ``partial`` lists the services whose part is missing or incomplete (down, slow or failing);
    the app shows what came back and retries those parts later.
    """

    store: dict[str, Any] | None
    categories: list[dict[str, Any]]
    featured: list[dict[str, Any]]
    active_order: dict[str, Any] | None
    partial: list[str]


class _PartFailed(Exception):
    """One upstream call of the aggregate did not give a usable answer."""


class HomeAggregator:
    """Calls catalog and orders concurrently and assembles what answered.

    Args:
        proxy: Upstream forwarding with breakers and bounds (shared with the proxy path).
        hosted: Services this gateway can reach; the others are reported partial at once.
        responses: Response cache: the public catalog calls are served from it.
        part_timeout: Seconds allowed to each upstream call.
    """

    def __init__(
        self,
        proxy: UpstreamProxy,
        hosted: Collection[str],
        responses: ResponseCache | None = None,
        *,
        part_timeout: float = PART_TIMEOUT,
    ) -> None:
        self.proxy = proxy
        self.hosted = frozenset(hosted)
        self.responses = responses
        self.part_timeout = part_timeout

    async def home(
        self,
        lat: float,
        lng: float,
        *,
        language: str,
        client_ip: str,
        principal_header: str | None,
    ) -> HomeRead:
        """Assemble the home screen for a point (and the caller's active order if signed in)."""
        partial: set[str] = set()

        def call(
            service: str, path: str, params: dict[str, Any], *, principal: bool = False
        ) -> Any:
            return self._get_json(
                service,
                path,
                params,
                language=language,
                client_ip=client_ip,
                principal_header=principal_header if principal else None,
            )

        async def catalog() -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
            stores = _items(await call("catalog", "/v1/catalog/stores", {"lat": lat, "lng": lng}))
            store = next((s for s in stores if _is_open(s)), None)
            if store is None or "id" not in store:
                return None, []
            products = await call(
                "catalog",
                f"/v1/catalog/stores/{store['id']}/products",
                {"limit": FEATURED_LIMIT, "featured": 1},
            )
            return store, _items(products)[:FEATURED_LIMIT]

        async def categories() -> list[dict[str, Any]]:
            return _items(await call("catalog", "/v1/catalog/categories", {}))

        async def active_order() -> dict[str, Any] | None:
            orders = await call(
                "orders", "/v1/orders", {"status": "active", "limit": 1}, principal=True
            )
            found = _items(orders)
            return found[0] if found else None

        async def guarded(service: str, part: Callable[[], Awaitable[Any]], empty: Any) -> Any:
            if service not in self.hosted:
                partial.add(service)
                return empty
            try:
                return await part()
            except _PartFailed:
                partial.add(service)
                return empty

        wants_order = principal_header is not None
        store_part, category_part, order_part = await asyncio.gather(
            guarded("catalog", catalog, (None, [])),
            guarded("catalog", categories, []),
            guarded("orders", active_order, None) if wants_order else _none(),
        )
        store, featured = store_part
        return HomeRead(
            store=store,
            categories=category_part,
            featured=featured,
            active_order=order_part,
            partial=sorted(partial),
        )

    async def _get_json(
        self,
        service: str,
        path: str,
        params: dict[str, Any],
        *,
        language: str,
        client_ip: str,
        principal_header: str | None,
    ) -> Any:
        query = urlencode(params)
        target = f"{path}?{query}" if query else path
        headers = upstream_headers(
            [(b"accept-language", language.encode()), (b"accept", b"application/json")],
            client_ip=client_ip,
            principal_header=principal_header,
            request_id=request_id_var.get(),
            traceparent=traceparent_var.get(),
        )

        async def load() -> UpstreamResponse:
            return await self.proxy.forward(
                service, "GET", target, headers, idempotent=True, timeout=self.part_timeout
            )

        try:
            async with asyncio.timeout(self.part_timeout):
                result: CachedResponse | UpstreamResponse
                key = None
                if (
                    self.responses is not None
                    and principal_header is None
                    and cacheable_query(query)
                ):
                    tags = cache_tags(service, path, query)
                    key = await self.responses.key(path, query, language, "identity", tags)
                if key is not None and self.responses is not None:
                    result, _ = await self.responses.fetch(key, "identity", load)
                else:
                    result = await load()
        except Exception as exc:  # one part failing must never fail the screen
            raise _PartFailed(service) from exc
        if result.status != 200:
            raise _PartFailed(service)
        try:
            return orjson.loads(result.body)
        except orjson.JSONDecodeError as exc:
            raise _PartFailed(service) from exc


async def _none() -> None:
    return None


def _items(document: Any) -> list[dict[str, Any]]:
    """The items of a list response: a bare list or a page (``data`` or ``items``)."""
    if isinstance(document, dict):
        document = document.get("data", document.get("items", []))
    if not isinstance(document, list):
        return []
    return [item for item in document if isinstance(item, dict)]


def _is_open(store: dict[str, Any]) -> bool:
    for field in ("open_now", "is_open", "open"):
        if field in store:
            return bool(store[field])
    return True


def home_router(aggregator: HomeAggregator) -> APIRouter:
    """The gateway's own public routes (documented in the merged OpenAPI document)."""
    router = APIRouter(tags=["app"])

    @router.get(
        "/v1/app/home",
        response_model=HomeRead,
        operation_id="app-home",
        summary="Home screen in one round trip",
        responses=problem_responses(401, 422, 429),
    )
    async def home(
        request: Request,
        lat: Annotated[float, Query(ge=-90, le=90)],
        lng: Annotated[float, Query(ge=-180, le=180)],
    ) -> Response:
        """Nearest open store serving the point, the category tree, the store's featured
        products and, when signed in, the caller's active order.

        Each part has its own deadline; a part whose service is down or slow is left out and
        named in ``partial`` instead of failing the whole screen.
        """
        result = await aggregator.home(
            lat,
            lng,
            language=request_language(request),
            client_ip=request.client.host if request.client else "unknown",
            principal_header=request.scope.get(PRINCIPAL_HEADER_SCOPE_KEY),
        )
        return Response(
            orjson.dumps(result.model_dump()),
            media_type="application/json",
            headers={"Cache-Control": "private, no-cache"},
        )

    return router
