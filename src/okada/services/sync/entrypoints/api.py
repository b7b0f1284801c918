"""Sync HTTP API: WatermelonDB pull and push, REST access to synced cart items."""

from __future__ import annotations

import gzip
import uuid
import zlib
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, FastAPI, Header, Query, Request
from starlette.responses import Response

from okada.infra.http.auth import CurrentPrincipal
from okada.infra.http.etag import require_if_match, version_etag
from okada.infra.http.problems import (
    STATUS_BY_KIND,
    problem_response,
    problem_responses,
    request_language,
)
from okada.services.sync.application.ports import Record
from okada.services.sync.application.sync import Caller, SyncService, caller_of, digest
from okada.services.sync.domain.errors import MalformedSync, SyncConflict, SyncError
from okada.services.sync.domain.schema import serialize_row

MAX_INFLATED = 16 * 1024 * 1024
NO_STORE = {"Cache-Control": "no-store"}


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json",
                    headers={**NO_STORE, **(headers or {})})


def _caller(principal: Any, request: Request, client_id: str | None) -> Caller:
    return caller_of(principal, client_id, request_language(request))


def _decode_body(raw: bytes, encoding: str | None) -> Any:
    """Parse a push body whatever its Content-Type (the docs' glue sends text/plain);
    a gzip body (header or magic bytes) is inflated first, up to a bound."""
    if (encoding or "").lower().strip() == "gzip" or raw[:2] == b"\x1f\x8b":
        try:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            raw = inflater.decompress(raw, MAX_INFLATED)
            if inflater.unconsumed_tail:
                raise SyncError("sync_push_too_large", status=413, maximum=MAX_INFLATED)
        except (zlib.error, gzip.BadGzipFile):
            raise MalformedSync("sync_malformed") from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise MalformedSync("sync_malformed") from None


def cart_item_view(record: Record, service: SyncService) -> dict[str, Any]:
    """A cart item as the REST API shows it (the synced row plus its server version)."""
    spec = service.registry.table("cart_items")
    assert spec is not None
    return {**serialize_row(spec, record.id, record.data), "version": record.version}


def make_router(service: SyncService, *, max_push_bytes: int = 5 * 1024 * 1024) -> APIRouter:
    """Build the sync routes (a push body above ``max_push_bytes`` is 413)."""
    router = APIRouter(tags=["sync"])

    @router.get("/v1/sync", response_model=None,
                responses=problem_responses(400, 401, 403, 426))
    async def pull(
        request: Request,
        principal: CurrentPrincipal,
        x_client_id: Annotated[str | None, Header(max_length=64)] = None,
        last_pulled_at: Annotated[str | None, Query(max_length=24)] = None,
        schema_version: Annotated[str | None, Query(max_length=8)] = None,
        migration: Annotated[str | None, Query(max_length=4000)] = None,
        store_id: uuid.UUID | None = None,
    ) -> Response:
        """WatermelonDB pull: ``{changes, timestamp, hasMore?, experimentalStrategy?}``.

        ``last_pulled_at`` ``null``/empty/0 means a first sync (everything in ``created``).
        ``timestamp`` is the commit-ordered change counter; with ``hasMore`` the app pulls
        again (pull only) before a full sync. ``store_id`` picks the store whose catalog
        fills ``products`` (default: the cart's store, else the store nearest the default
        place). Needs ``X-Client-Id``; 426 when the app's schema version is retired.
        """
        caller = _caller(principal, request, x_client_id)
        result = await service.pull(caller, last_pulled_at=last_pulled_at,
                                    schema_version=schema_version, migration=migration,
                                    store_id=store_id)
        return _json(result)

    @router.post("/v1/sync", response_model=None,
                 responses=problem_responses(400, 401, 403, 409, 413, 426, 503))
    async def push(
        request: Request,
        principal: CurrentPrincipal,
        x_client_id: Annotated[str | None, Header(max_length=64)] = None,
        last_pulled_at: Annotated[str | None, Query(max_length=24)] = None,
        schema_version: Annotated[str | None, Query(max_length=8)] = None,
    ) -> Response:
        """WatermelonDB push, all or nothing: ``200 {}`` once committed.

        The body is read raw, whatever the Content-Type. 409 ``sync_conflict`` lists the
        records changed on the server after ``last_pulled_at`` (``conflicts``); nothing is
        applied. Unknown tables and columns are ignored, fixable values sanitized; a bad id
        is 400, another user's id 403, too many records 413.
        """
        caller = _caller(principal, request, x_client_id)
        raw = await request.body()
        if len(raw) > max_push_bytes:
            raise SyncError("sync_push_too_large_bytes", status=413, maximum=max_push_bytes)
        body = _decode_body(raw, request.headers.get("content-encoding"))
        result = await service.push(caller, last_pulled_at=last_pulled_at,
                                    schema_version=schema_version, body=body,
                                    body_digest=digest(raw))
        return _json(result)

    @router.get("/v1/sync/cart-items/{item_id}", response_model=None,
                responses=problem_responses(401, 404))
    async def get_cart_item(item_id: str, request: Request,
                            principal: CurrentPrincipal) -> Response:
        """One synced cart item with its ``ETag`` (its server version)."""
        record = await service.get_record(principal.user_id, "cart_items", item_id[:64])
        etag = version_etag(record.id, record.version)
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        return _json(cart_item_view(record, service), headers={"ETag": etag})

    @router.patch("/v1/sync/cart-items/{item_id}", response_model=None,
                  responses=problem_responses(400, 401, 404, 412, 428))
    async def patch_cart_item(item_id: str, request: Request,
                              principal: CurrentPrincipal) -> Response:
        """Edit a synced cart item with a JSON merge patch (RFC 7396) and ``If-Match``.

        428 without ``If-Match``, 412 when the item changed since read. The change reaches
        the devices on their next pull.
        """
        try:
            patch = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise MalformedSync("sync_malformed") from None
        if not isinstance(patch, dict):
            raise MalformedSync("sync_malformed")

        def check(record: Record) -> None:
            require_if_match(request, version_etag(record.id, record.version))

        saved = await service.patch_cart_item(principal.user_id, item_id[:64], patch, check)
        return _json(cart_item_view(saved, service),
                     headers={"ETag": version_etag(saved.id, saved.version)})

    return router


def install_problem_details(app: FastAPI) -> None:
    """Statuses without an ErrorKind (413, 415, 426, 410, 460) and the conflict list."""

    async def explicit(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SyncError)
        headers = {"Tus-Resumable": "1.0.0"} if request.url.path.startswith("/v1/uploads") \
            else None
        return problem_response(exc.status, exc.code, request_language(request),
                                instance=request.url.path, extra=exc.extra or None,
                                headers=headers, **exc.params)

    async def conflict(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SyncConflict)
        return problem_response(STATUS_BY_KIND[exc.kind], exc.code, request_language(request),
                                instance=request.url.path,
                                extra={"conflicts": exc.conflicts}, **exc.params)

    app.add_exception_handler(SyncError, explicit)
    app.add_exception_handler(SyncConflict, conflict)
