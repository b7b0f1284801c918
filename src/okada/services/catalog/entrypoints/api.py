"""Public catalog HTTP API: stores, categories, a store's products, products, delta feed.

Reads encode plain rows with orjson (no response model per item), answer ``ETag``/304, vary on
``Accept-Language`` and may be cached by the gateway (``public``; events invalidate it).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from okada.infra.http.etag import body_etag, not_modified
from okada.infra.http.pagination import clamp_limit, decode_cursor, encode_cursor
from okada.infra.http.problems import problem_responses, request_language
from okada.kernel.errors import OkadaError, Unprocessable
from okada.services.catalog.application.ports import CategoryFilter
from okada.services.catalog.application.queries import CatalogQueries, select_fields
from okada.services.catalog.entrypoints.schemas import (
    CategoryList,
    ChangesRead,
    ProductPageRead,
    ProductRead,
    StoreList,
    StoreRead,
)

CACHE_CONTROL = "public, max-age=0, must-revalidate"
"""Clients revalidate every time (a 304 costs a few bytes); the gateway may keep the entry
until an event invalidates it."""
MAX_CHANGES_LIMIT = 500


def _default(value: object) -> str:
    # asyncpg hands back its own uuid.UUID subclass, which orjson only encodes natively when
    # it is exactly uuid.UUID.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def json_response(request: Request, payload: Any, language: str) -> Response:
    """Encode ``payload`` once, tag it with a body ETag, and answer 304 when it matches."""
    body = orjson.dumps(payload, default=_default)
    etag = body_etag(body)
    headers = {
        "ETag": etag,
        "Cache-Control": CACHE_CONTROL,
        "Vary": "Accept-Language",
        "Content-Language": language,
    }
    cached = not_modified(request, etag)
    if cached is not None:
        cached.headers.update(headers)
        return cached
    return Response(body, media_type="application/json", headers=headers)


def _position(cursor: str | None, keys: tuple[str, ...]) -> dict[str, Any] | None:
    """Decode an opaque cursor and check it has the keys this endpoint writes."""
    position = decode_cursor(cursor)
    if position is None:
        return None
    try:
        if set(position) != set(keys):
            raise ValueError("keys")
        uuid.UUID(str(position["i"]))
        for key in ("s", "h"):
            if key in position and int(position[key]) < 0:
                raise ValueError(key)
    except (ValueError, TypeError) as exc:
        raise OkadaError("invalid_request") from exc
    return position


def _category(value: str | None) -> CategoryFilter | None:
    if value is None or not value.strip():
        return None
    try:
        return CategoryFilter(category_id=uuid.UUID(value.strip()))
    except ValueError:
        return CategoryFilter(slug=value.strip().lower())


def make_router(queries: CatalogQueries) -> APIRouter:
    """Build the public catalog routes."""
    router = APIRouter(tags=["catalog"])

    @router.get(
        "/v1/catalog/stores",
        response_model=None,
        responses={200: {"model": StoreList}, **problem_responses(422)},
    )
    async def list_stores(
        request: Request,
        lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
        lng: Annotated[float | None, Query(ge=-180, le=180)] = None,
    ) -> Response:
        """Stores serving a point, nearest first (every store without a point).

        A store serves the point when it lies inside its delivery polygon or within its
        delivery radius. ``open_now`` is computed in Africa/Douala time from the opening
        hours and the status (``closed`` never opens; ``busy`` is open with a longer wait).
        """
        if (lat is None) != (lng is None):
            raise Unprocessable("validation_failed", fields="lat, lng")
        language = request_language(request)
        return json_response(request, {"data": await queries.stores(lat, lng)}, language)

    @router.get(
        "/v1/catalog/stores/{store_id}",
        response_model=None,
        responses={200: {"model": StoreRead}, **problem_responses(404)},
    )
    async def get_store(store_id: uuid.UUID, request: Request) -> Response:
        """One store, with ``open_now``."""
        return json_response(request, await queries.store(store_id), request_language(request))

    @router.get(
        "/v1/catalog/categories",
        response_model=None,
        responses={200: {"model": CategoryList}},
    )
    async def list_categories(request: Request, flat: bool = False) -> Response:
        """The category tree, names in the caller's language (``flat=true``: one list with
        ``parent_id``, parents first)."""
        language = request_language(request)
        data = await queries.categories(language, flat=flat)
        return json_response(request, {"data": data}, language)

    @router.get(
        "/v1/catalog/stores/{store_id}/products",
        response_model=None,
        responses={200: {"model": ProductPageRead}, **problem_responses(400, 404, 422)},
    )
    async def list_store_products(
        store_id: uuid.UUID,
        request: Request,
        category: Annotated[str | None, Query(description="id or slug", max_length=64)] = None,
        q: Annotated[str | None, Query(max_length=100)] = None,
        cursor: Annotated[str | None, Query(max_length=600)] = None,
        limit: Annotated[int | None, Query(ge=1)] = None,
        fields: Annotated[str | None, Query(max_length=300)] = None,
        featured: bool = False,
    ) -> Response:
        """A store's listed products with price (XAF) and availability, one page.

        ``category`` includes its sub-categories; ``q`` matches every word against the name
        in the caller's language, the brand and the tags, ignoring case and accents
        ("ndole" finds "Ndolé"); ``fields`` keeps only the named fields (``id`` always
        comes); ``cursor`` is the previous page's ``next_cursor``. ``in_stock`` is true
        until inventory reports nothing available.
        """
        language = request_language(request)
        selected = select_fields(fields)
        page = await queries.store_products(
            store_id,
            language=language,
            fields=selected,
            category=_category(category),
            q=q,
            featured=featured,
            after=_position(cursor, ("k", "i")),
            limit=clamp_limit(limit),
        )
        payload = {
            "data": page.items,
            "next_cursor": encode_cursor(page.next) if page.next else None,
            "has_more": page.next is not None,
        }
        return json_response(request, payload, language)

    @router.get(
        "/v1/catalog/products/{product_id}",
        response_model=None,
        responses={200: {"model": ProductRead}, **problem_responses(404)},
    )
    async def get_product(
        product_id: uuid.UUID, request: Request, store_id: uuid.UUID | None = None
    ) -> Response:
        """One product: fields in the caller's language plus ``translations`` (fr and en);
        with ``store_id``, its price, listing and availability in that store."""
        language = request_language(request)
        view = await queries.product(product_id, language, store_id)
        return json_response(request, view, language)

    @router.get(
        "/v1/catalog/stores/{store_id}/changes",
        response_model=None,
        responses={200: {"model": ChangesRead}, **problem_responses(400, 404)},
    )
    async def store_changes(
        store_id: uuid.UUID,
        request: Request,
        since: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int | None, Query(ge=1)] = None,
    ) -> Response:
        """Delta feed of a store's product list after ``since`` (the previous ``next``).

        ``changes`` holds full list items (added, repriced, relisted, renamed, availability
        flipped), ``deleted`` the ids of delisted or withdrawn products. Without ``since``
        every visible product comes in ``changes``. Follow ``next`` while ``has_more``.
        Positions follow a change counter taken in commit order, so resuming from ``next``
        never misses a change.
        """
        language = request_language(request)
        bound = max(1, min(MAX_CHANGES_LIMIT, limit or 200))
        page = await queries.changes(
            store_id, language=language, since=_position(since, ("s", "i", "h")), limit=bound
        )
        payload = {
            "changes": page.changes,
            "deleted": page.deleted,
            "next": encode_cursor(page.next),
            "has_more": page.has_more,
        }
        return json_response(request, payload, language)

    return router
