"""Inventory HTTP API: stock levels, reservations for other services, merchant adjustments."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from starlette.responses import Response

from okada.infra.http.auth import CurrentPrincipal
from okada.infra.http.pagination import clamp_limit, decode_cursor, encode_cursor
from okada.infra.http.problems import (
    STATUS_BY_KIND,
    problem_response,
    problem_responses,
    request_language,
)
from okada.kernel.authz import Principal, Role, ensure_store_access, require_role
from okada.kernel.errors import OkadaError, Unprocessable
from okada.services.inventory.application.errors import OutOfStock, ProductNotOffered
from okada.services.inventory.application.model import AdjustmentRecord
from okada.services.inventory.application.reservations import ReservationService, ReserveBasket
from okada.services.inventory.application.stock import AdjustStock, StockService
from okada.services.inventory.domain.reservation import Reservation
from okada.services.inventory.domain.stock import AdjustmentKind, StockItem
from okada.services.inventory.entrypoints.schemas import (
    AdjustmentCreate,
    AdjustmentCreated,
    AdjustmentPage,
    AdjustmentRead,
    ExtendRequest,
    ReleaseRequest,
    ReservationCreate,
    ReservationLineRead,
    ReservationRead,
    StockLevelRead,
    StockPage,
)

MAX_PRODUCT_IDS = 100


def reservation_read(reservation: Reservation) -> ReservationRead:
    """Public view of a reservation."""
    return ReservationRead(
        order_id=reservation.order_id,
        store_id=reservation.store_id,
        status=reservation.status.value,
        lines=[ReservationLineRead(product_id=x.product_id, quantity=x.quantity)
               for x in reservation.lines],
        created_at=reservation.created_at,
        expires_at=reservation.expires_at,
        updated_at=reservation.updated_at,
        release_reason=reservation.release_reason,
        version=reservation.version,
    )


def stock_read(item: StockItem) -> StockLevelRead:
    """Public view of a stock item (``available`` and ``sellable`` are the item's rules)."""
    return StockLevelRead.model_validate(item, from_attributes=True)


def adjustment_read(record: AdjustmentRecord) -> AdjustmentRead:
    """Public view of an audit trail entry."""
    return AdjustmentRead.model_validate(record, from_attributes=True)


def require_reservation_caller(principal: Principal) -> Principal:
    """Reservations are driven by the orders service (service role) and operations staff."""
    return require_role(principal, Role.SERVICE, Role.OPERATIONS)


def require_stock_reader(principal: Principal, store_id: uuid.UUID) -> Principal:
    """Stock levels: staff of that store, operations, and other Okada services."""
    if principal.has(Role.SERVICE):
        return principal
    return ensure_store_access(principal, store_id)


def parse_product_ids(values: list[str] | None) -> list[uuid.UUID]:
    """``product_ids`` given repeated or comma-separated; 422 naming a malformed id."""
    ids: list[uuid.UUID] = []
    for value in values or []:
        for part in value.split(","):
            if not part.strip():
                continue
            try:
                ids.append(uuid.UUID(part.strip()))
            except ValueError:
                raise Unprocessable("validation_failed", fields="product_ids") from None
    if len(ids) > MAX_PRODUCT_IDS:
        raise Unprocessable("validation_failed", fields="product_ids")
    return ids


def make_router(reservations: ReservationService, stock: StockService) -> APIRouter:
    """Build the inventory routes around the application services."""
    router = APIRouter(tags=["inventory"])

    @router.get(
        "/v1/inventory/stores/{store_id}/stock",
        response_model=StockPage,
        responses=problem_responses(400, 401, 403, 422),
    )
    async def get_stock(
        store_id: uuid.UUID,
        principal: CurrentPrincipal,
        product_ids: Annotated[list[str] | None, Query()] = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> StockPage:
        """Stock levels of a store: on hand, reserved and available per product.

        With ``product_ids`` (repeated or comma-separated, at most 100) the levels of those
        products, unknown ones left out; without, every item by product id, paginated.
        Merchant staff of that store, operations and other services only.
        """
        require_stock_reader(principal, store_id)
        ids = parse_product_ids(product_ids)
        if ids:
            return StockPage(data=[stock_read(i) for i in await stock.levels(store_id, ids)])
        position = decode_cursor(cursor)
        after = _uuid_from(position, "after")
        size = clamp_limit(limit, default=50)
        items = await stock.list_store(store_id, after=after, limit=size)
        next_cursor = (
            encode_cursor({"after": str(items[-1].product_id)}) if len(items) == size else None
        )
        return StockPage(data=[stock_read(i) for i in items], next_cursor=next_cursor)

    @router.post(
        "/v1/inventory/reservations",
        status_code=201,
        response_model=ReservationRead,
        responses=problem_responses(400, 401, 403, 409, 422, 503),
    )
    async def create_reservation(
        body: ReservationCreate, principal: CurrentPrincipal
    ) -> ReservationRead:
        """Hold a whole basket for an order, all or nothing, for ``ttl_seconds`` (15 min).

        409 ``out_of_stock`` lists the short lines (``missing``) and nothing is reserved;
        422 ``product_not_offered`` lists lines the store does not sell. The same order id
        with the same lines returns the existing reservation; other lines are 409
        ``reservation_mismatch``. Service role and operations only.
        """
        require_reservation_caller(principal)
        result = await reservations.reserve(
            ReserveBasket(
                order_id=body.order_id,
                store_id=body.store_id,
                lines=[(x.product_id, x.quantity) for x in body.lines],
                ttl_seconds=body.ttl_seconds,
            )
        )
        return reservation_read(result.reservation)

    @router.get(
        "/v1/inventory/reservations/{order_id}",
        response_model=ReservationRead,
        responses=problem_responses(401, 403, 404, 422),
    )
    async def get_reservation(order_id: uuid.UUID, principal: CurrentPrincipal) -> ReservationRead:
        """The reservation of an order. Service role and operations only."""
        require_reservation_caller(principal)
        return reservation_read(await reservations.get(order_id))

    @router.post(
        "/v1/inventory/reservations/{order_id}/confirm",
        response_model=ReservationRead,
        responses=problem_responses(401, 403, 404, 409, 422, 503),
    )
    async def confirm_reservation(
        order_id: uuid.UUID, principal: CurrentPrincipal
    ) -> ReservationRead:
        """The goods leave the shelf with the order (on hand and reserved both drop).

        409 ``reservation_expired`` after the hold time, 409 ``reservation_released`` after a
        release; confirming twice returns the confirmed reservation.
        """
        require_reservation_caller(principal)
        return reservation_read(await reservations.confirm(order_id))

    @router.post(
        "/v1/inventory/reservations/{order_id}/release",
        response_model=ReservationRead,
        responses=problem_responses(401, 403, 404, 409, 422, 503),
    )
    async def release_reservation(
        order_id: uuid.UUID, body: ReleaseRequest, principal: CurrentPrincipal
    ) -> ReservationRead:
        """Put a held basket back on sale; a repeat (or after expiry) changes nothing.

        409 ``reservation_already_confirmed`` once the goods have left.
        """
        require_reservation_caller(principal)
        return reservation_read(await reservations.release(order_id, reason=body.reason))

    @router.post(
        "/v1/inventory/reservations/{order_id}/extend",
        response_model=ReservationRead,
        responses=problem_responses(401, 403, 404, 409, 422, 503),
    )
    async def extend_reservation(
        order_id: uuid.UUID, body: ExtendRequest, principal: CurrentPrincipal
    ) -> ReservationRead:
        """Hold ``ttl_seconds`` more from now while a mobile-money payment is pending.

        Never shortens a hold; the total hold is capped after creation. 409 when the hold is
        over (expired, released or confirmed).
        """
        require_reservation_caller(principal)
        return reservation_read(
            await reservations.extend(order_id, ttl_seconds=body.ttl_seconds)
        )

    @router.post(
        "/v1/merchant/stores/{store_id}/stock/adjustments",
        status_code=201,
        response_model=AdjustmentCreated,
        responses=problem_responses(400, 401, 403, 404, 409, 422, 503),
    )
    async def create_adjustment(
        store_id: uuid.UUID, body: AdjustmentCreate, principal: CurrentPrincipal
    ) -> AdjustmentCreated:
        """Record a receipt, shelf count, damage or return of one product.

        ``count`` sets the shelf count; it may not go below the units reserved for orders
        (409 ``stock_below_reserved``), nor may damage. Staff of that store and operations;
        the service role may record returns only (orders puts delivered-failed goods back,
        with an ``Idempotency-Key`` so a retried return counts once).
        """
        if principal.has(Role.SERVICE) and body.kind == "return":
            caller = principal
        else:
            caller = ensure_store_access(principal, store_id)
        item, record = await stock.adjust(
            AdjustStock(
                store_id=store_id,
                product_id=body.product_id,
                kind=AdjustmentKind(body.kind),
                quantity=body.quantity,
                actor_id=caller.user_id,
                note=body.note,
            )
        )
        return AdjustmentCreated(adjustment=adjustment_read(record), stock=stock_read(item))

    @router.get(
        "/v1/merchant/stores/{store_id}/stock/adjustments",
        response_model=AdjustmentPage,
        responses=problem_responses(400, 401, 403, 422),
    )
    async def list_adjustments(
        store_id: uuid.UUID,
        principal: CurrentPrincipal,
        product_id: uuid.UUID | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> AdjustmentPage:
        """The store's stock audit trail, newest first. Staff of that store and operations."""
        ensure_store_access(principal, store_id)
        position = decode_cursor(cursor)
        before = None
        if position is not None:
            at = position.get("at")
            last = _uuid_from(position, "id")
            if not isinstance(at, str) or last is None:
                raise OkadaError("invalid_request")
            try:
                before = (dt.datetime.fromisoformat(at), last)
            except ValueError:
                raise OkadaError("invalid_request") from None
        page = await stock.adjustments(
            store_id, product_id=product_id, before=before, limit=clamp_limit(limit)
        )
        next_cursor = None
        if page.next_after is not None:
            at_value, last_id = page.next_after
            next_cursor = encode_cursor({"at": at_value.isoformat(), "id": str(last_id)})
        return AdjustmentPage(
            data=[adjustment_read(r) for r in page.items], next_cursor=next_cursor
        )

    return router


def _uuid_from(position: dict[str, Any] | None, key: str) -> uuid.UUID | None:
    if position is None or key not in position:
        return None
    try:
        return uuid.UUID(str(position[key]))
    except ValueError:
        raise OkadaError("invalid_request") from None


def install_problem_details(app: FastAPI) -> None:
    """Add the lines at fault to the problems of a refused basket (``missing``, ``lines``)."""

    async def with_details(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OutOfStock | ProductNotOffered)
        return problem_response(
            STATUS_BY_KIND[exc.kind],
            exc.code,
            request_language(request),
            instance=request.url.path,
            extra=exc.details(),
            **exc.params,
        )

    app.add_exception_handler(OutOfStock, with_details)
    app.add_exception_handler(ProductNotOffered, with_details)

