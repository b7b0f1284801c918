"""HTTP API of the delivery service: geo, quotes, riders, dispatch, lifecycle, tracking."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from okada.infra.http.auth import CurrentPrincipal
from okada.infra.http.etag import body_etag, not_modified
from okada.infra.http.problems import problem_responses
from okada.kernel import pluscode
from okada.kernel.authz import Principal, Role, require_role
from okada.kernel.errors import NotFound
from okada.services.delivery.application.deliveries import DeliveryService, TrackingView
from okada.services.delivery.application.dispatch import DispatchService
from okada.services.delivery.application.errors import DeliveryNotFound
from okada.services.delivery.application.geocoding import GeoService, QuoteRequest, QuoteService
from okada.services.delivery.application.model import OfferRecord, Ping, RiderRecord
from okada.services.delivery.application.riders import RiderService, ShiftChange
from okada.services.delivery.domain.delivery import Delivery, RiderUpdate, Status
from okada.services.delivery.domain.geo import Point
from okada.services.delivery.entrypoints.schemas import (
    AssignRequest,
    DeliveryRead,
    GeocodeRead,
    OfferPage,
    OfferRead,
    PingBatch,
    PingRejection,
    PingResult,
    PinRead,
    PlusCodeRead,
    QuoteCreate,
    QuoteRead,
    ReverseRead,
    RiderPosition,
    RiderRead,
    ShiftUpdate,
    StatusUpdate,
    TrackingRead,
)

EVENT_STREAM = "text/event-stream"


@dataclass
class Services:
    """The application services the routes call."""

    geo: GeoService
    quotes: QuoteService
    riders: RiderService
    dispatch: DispatchService
    deliveries: DeliveryService
    sse_poll_seconds: float = 1.0
    sse_max_seconds: float = 60.0


def delivery_read(delivery: Delivery) -> DeliveryRead:
    """Riders' and operations' view of a job."""
    return DeliveryRead(
        id=delivery.id, order_id=delivery.order_id, store_id=delivery.store_id,
        customer_id=delivery.customer_id, rider_id=delivery.rider_id,
        status=delivery.status.value, store_name=delivery.store_name,
        store_lat=delivery.store_lat, store_lng=delivery.store_lng,
        drop_lat=delivery.drop_lat, drop_lng=delivery.drop_lng,
        drop_quartier=delivery.drop_quartier, drop_landmark=delivery.drop_landmark,
        drop_source=delivery.drop_source, customer_phone_masked=delivery.customer_phone_masked,
        cash_to_collect_xaf=delivery.cash_to_collect_xaf, fee_xaf=delivery.fee_xaf,
        eta_at=delivery.eta_at, failure_reason=delivery.failure_reason, proof=delivery.proof,
        pin_attempts=delivery.pin_attempts, version=delivery.version,
        updated_at=delivery.updated_at,
    )


def rider_read(rider: RiderRecord) -> RiderRead:
    """A rider's own view."""
    return RiderRead(rider_id=rider.rider_id, shift=rider.shift, lat=rider.last_lat,
                     lng=rider.last_lng, last_ping_at=rider.last_ping_at,
                     current_delivery_id=rider.current_delivery_id,
                     cash_in_hand_xaf=rider.cash_in_hand_xaf)


def offer_read(offer: OfferRecord, delivery: Delivery) -> OfferRead:
    """An offer with what a rider needs to decide."""
    return OfferRead(
        id=offer.id, delivery_id=offer.delivery_id, order_id=delivery.order_id,
        status=offer.status, expires_at=offer.expires_at, store_name=delivery.store_name,
        store_lat=delivery.store_lat, store_lng=delivery.store_lng, drop_lat=delivery.drop_lat,
        drop_lng=delivery.drop_lng, drop_quartier=delivery.drop_quartier,
        drop_landmark=delivery.drop_landmark,
        cash_to_collect_xaf=delivery.cash_to_collect_xaf, fee_xaf=delivery.fee_xaf,
    )


def tracking_read(view: TrackingView, principal: Principal) -> TrackingRead:
    """The tracking view for ``principal`` (whose access was checked).

    The PIN is shown to the customer who owns the order only, and only while it is useful.
    """
    delivery, rider = view.delivery, view.rider
    show_rider = rider is not None and delivery.status not in (Status.SEARCHING,
                                                               Status.CANCELLED)
    is_owner = principal.user_id == delivery.customer_id
    return TrackingRead(
        order_id=delivery.order_id, delivery_id=delivery.id, status=delivery.status.value,
        rider=RiderPosition(rider_id=rider.rider_id, lat=rider.last_lat, lng=rider.last_lng,
                            at=rider.last_ping_at) if show_rider and rider else None,
        eta_at=view.eta_at, drop_lat=delivery.drop_lat, drop_lng=delivery.drop_lng,
        pin=delivery.pin if is_owner and not delivery.terminal else None,
        updated_at=delivery.updated_at,
    )


def ensure_tracking_access(principal: Principal, delivery: Delivery) -> None:
    """The customer who owns the order, staff of its store, operations; 404 for anyone else."""
    if principal.is_staff or principal.user_id == delivery.customer_id:
        return
    if principal.has(Role.MERCHANT_STAFF) and delivery.store_id in principal.store_ids:
        return
    raise DeliveryNotFound()


def make_router(services: Services) -> APIRouter:
    """Build the delivery routes around the application services."""
    router = APIRouter(tags=["delivery"])

    # -- geo (anonymous reads through the gateway) -----------------------------------------

    @router.get("/v1/geo/geocode", response_model=GeocodeRead,
                responses=problem_responses(404, 422))
    async def geocode(
        q: Annotated[str, Query(min_length=1, max_length=300)],
        city: Annotated[str | None, Query(max_length=60)] = None,
    ) -> GeocodeRead:
        """Place a free-text Cameroonian address ("Bonamoussadi, carrefour Eto'o, derrière la
        pharmacie") on the map, with the quartier and a confidence from 0 to 1.

        Forgives accents, case, common spellings and direction words; a Plus Code in the
        text wins. 404 ``address_not_found`` when nothing is recognised.
        """
        match = services.geo.geocode(q, city)
        return GeocodeRead(lat=match.point.lat, lng=match.point.lng, city=match.city,
                           quartier=match.quartier, landmark=match.landmark,
                           confidence=match.confidence, method=match.method,
                           plus_code=pluscode.encode(match.point.lat, match.point.lng))

    @router.get("/v1/geo/reverse", response_model=ReverseRead,
                responses=problem_responses(404, 422))
    async def reverse(
        lat: Annotated[float, Query(ge=-90, le=90)],
        lng: Annotated[float, Query(ge=-180, le=180)],
    ) -> ReverseRead:
        """The quartier of a point (nearest known quartier centre within 4 km).

        422 ``point_outside_cameroon``; 404 ``quartier_not_found`` outside the served cities.
        """
        found = services.geo.reverse(Point(lat, lng))
        return ReverseRead(city=found.place.city, quartier=found.place.name,
                           distance_m=found.distance_m, plus_code=found.plus_code)

    @router.get("/v1/geo/pluscode/encode", response_model=PlusCodeRead,
                responses=problem_responses(422))
    async def pluscode_encode(
        lat: Annotated[float, Query(ge=-90, le=90)],
        lng: Annotated[float, Query(ge=-180, le=180)],
        length: Literal[8, 10, 11] = 10,
    ) -> PlusCodeRead:
        """The Plus Code of a point in Cameroon (8 digits ≈ 100 m, 10 ≈ 14 m, 11 ≈ 3 m)."""
        code = services.geo.encode(Point(lat, lng), length)
        return _code_read(code, services.geo.decode(code))

    @router.get("/v1/geo/pluscode/decode", response_model=PlusCodeRead,
                responses=problem_responses(422))
    async def pluscode_decode(
        code: Annotated[str, Query(min_length=2, max_length=20)],
        city: Annotated[str | None, Query(max_length=60)] = None,
    ) -> PlusCodeRead:
        """The cell of a full code, or of a short code (``GH5W+5F``) near ``city``."""
        area = services.geo.decode(code, city)
        full = pluscode.encode(*area.center, area.code_length)
        return _code_read(full, area)

    # -- quote (orders at checkout, or the app) --------------------------------------------

    @router.post("/v1/delivery/quote", response_model=QuoteRead,
                 responses=problem_responses(401, 422))
    async def quote(body: QuoteCreate, principal: CurrentPrincipal) -> QuoteRead:
        """Serviceability, fee (XAF) and ETA of delivering from a store to a drop.

        A confirmed GPS pin (``lat``/``lng``) wins over ``city``/``quartier``/``landmark``.
        Not serviceable comes with a ``reason``: ``outside_delivery_area``, ``store_closed``,
        ``address_not_found`` or ``store_unknown``. 422 ``point_outside_cameroon``.
        """
        result = await services.quotes.quote(QuoteRequest(
            store_id=body.store_id, lat=body.lat, lng=body.lng, city=body.city,
            quartier=body.quartier, landmark=body.landmark))
        return QuoteRead(serviceable=result.serviceable, fee_xaf=result.fee_xaf,
                         distance_m=result.distance_m, eta_minutes=result.eta_minutes,
                         eta_at=result.eta_at, lat=result.lat, lng=result.lng,
                         reason=result.reason)

    # -- riders ----------------------------------------------------------------------------

    @router.get("/v1/rider/shift", response_model=RiderRead,
                responses=problem_responses(401, 403))
    async def get_shift(principal: CurrentPrincipal) -> RiderRead:
        """The signed-in rider's shift, position and current job."""
        rider = require_role(principal, Role.RIDER)
        return rider_read(await services.riders.get(rider.user_id))

    @router.post("/v1/rider/shift", response_model=RiderRead,
                 responses=problem_responses(401, 403, 409, 422))
    async def set_shift(body: ShiftUpdate, principal: CurrentPrincipal) -> RiderRead:
        """Go ``online``, ``offline`` or ``busy`` (idempotent).

        Going offline with a job before pickup hands it to another rider; after pickup it is
        409 ``delivery_in_progress``.
        """
        rider = require_role(principal, Role.RIDER)
        return rider_read(await services.riders.set_shift(
            ShiftChange(rider_id=rider.user_id, shift=body.status, lat=body.lat, lng=body.lng)))

    @router.post("/v1/rider/locations", response_model=PingResult,
                 responses=problem_responses(401, 403, 409, 422))
    async def post_locations(body: PingBatch, principal: CurrentPrincipal) -> PingResult:
        """Record a batch of position pings (phone timestamps), idempotently.

        Re-sent pings are counted as ``duplicates``; pings older than the newest known one
        (sent late after a loss of signal) go to the history only; future or too old ones
        and points outside Cameroon are listed in ``rejected``. 409 ``rider_off_shift``.
        """
        rider = require_role(principal, Role.RIDER)
        outcome = await services.riders.ingest(
            rider.user_id,
            [Ping(at=p.at, lat=p.lat, lng=p.lng, accuracy_m=p.accuracy_m) for p in body.pings])
        return PingResult(accepted=outcome.accepted, duplicates=outcome.duplicates,
                          rejected=[PingRejection(index=int(str(r["index"])),
                                                  reason=str(r["reason"]))
                                    for r in outcome.rejected],
                          live_updated=outcome.live_updated)

    @router.get("/v1/rider/offers", response_model=OfferPage,
                responses=problem_responses(401, 403))
    async def list_offers(principal: CurrentPrincipal) -> OfferPage:
        """The rider's open offers."""
        rider = require_role(principal, Role.RIDER)
        found = await services.dispatch.offers_for(rider.user_id)
        return OfferPage(data=[offer_read(o, d) for o, d in found])

    @router.post("/v1/rider/offers/{offer_id}/accept", response_model=DeliveryRead,
                 responses=problem_responses(401, 403, 404, 409))
    async def accept_offer(offer_id: uuid.UUID, principal: CurrentPrincipal) -> DeliveryRead:
        """Claim the job. Of riders accepting at once exactly one wins; the others get 409
        ``offer_taken``; 409 ``offer_expired`` after the timeout."""
        rider = require_role(principal, Role.RIDER)
        return delivery_read(await services.dispatch.accept(rider.user_id, offer_id))

    @router.post("/v1/rider/offers/{offer_id}/decline", status_code=204,
                 responses=problem_responses(401, 403, 404, 409))
    async def decline_offer(offer_id: uuid.UUID, principal: CurrentPrincipal) -> Response:
        """Refuse the job: it goes to the next rider at once."""
        rider = require_role(principal, Role.RIDER)
        await services.dispatch.decline(rider.user_id, offer_id)
        return Response(status_code=204)

    @router.get("/v1/rider/deliveries/{delivery_id}", response_model=DeliveryRead,
                responses=problem_responses(401, 403, 404))
    async def rider_delivery(delivery_id: uuid.UUID, principal: CurrentPrincipal
                             ) -> DeliveryRead:
        """The rider's job (only the assigned rider: 404 for anyone else)."""
        rider = require_role(principal, Role.RIDER)
        delivery = await services.deliveries.get(delivery_id)
        if delivery.rider_id != rider.user_id:
            raise DeliveryNotFound()
        return delivery_read(delivery)

    @router.post("/v1/rider/deliveries/{delivery_id}/status", response_model=DeliveryRead,
                 responses=problem_responses(401, 403, 404, 409, 422, 429))
    async def report_status(
        delivery_id: uuid.UUID, body: StatusUpdate, principal: CurrentPrincipal
    ) -> DeliveryRead:
        """Report progress: ``AT_STORE``, ``PICKED_UP``, ``ARRIVING``, ``DELIVERED`` (with the
        customer's ``pin`` or a ``photo_upload_id``) or ``FAILED`` (with a ``reason``).

        Only the assigned rider (404 for others); idempotent; ``at`` may be late. A wrong
        PIN is 422 ``wrong_pin`` with ``attempts_left``; after the limit 429 ``pin_locked``.
        ``lat``/``lng`` with ``DELIVERED`` correct the drop point.
        """
        rider = require_role(principal, Role.RIDER)
        delivery = await services.deliveries.rider_report(rider.user_id, delivery_id, RiderUpdate(
            status=Status(body.status), at=body.at, pin=body.pin,
            photo_upload_id=body.photo_upload_id, reason=body.reason, lat=body.lat, lng=body.lng,
        ))
        return delivery_read(delivery)

    # -- operations ------------------------------------------------------------------------

    @router.get("/v1/admin/delivery/deliveries/{delivery_id}", response_model=DeliveryRead,
                responses=problem_responses(401, 403, 404))
    async def admin_get(delivery_id: uuid.UUID, principal: CurrentPrincipal) -> DeliveryRead:
        """A delivery, for operations."""
        require_role(principal, Role.OPERATIONS)
        return delivery_read(await services.deliveries.get(delivery_id))

    @router.post("/v1/admin/delivery/deliveries/{delivery_id}/assign",
                 response_model=DeliveryRead,
                 responses=problem_responses(401, 403, 404, 409, 422))
    async def admin_assign(
        delivery_id: uuid.UUID, body: AssignRequest, principal: CurrentPrincipal
    ) -> DeliveryRead:
        """Assign or reassign a job by hand (before pickup), with a reason."""
        require_role(principal, Role.OPERATIONS)
        return delivery_read(await services.dispatch.assign(
            delivery_id, body.rider_id, reason=body.reason))

    # -- tracking --------------------------------------------------------------------------

    @router.get("/v1/delivery/orders/{order_id}/tracking", response_model=TrackingRead,
                responses={**problem_responses(401, 404),
                           304: {"description": "not modified"},
                           200: {"content": {EVENT_STREAM: {}}}})
    async def tracking(
        order_id: uuid.UUID,
        request: Request,
        principal: CurrentPrincipal,
        max_seconds: Annotated[float | None, Query(gt=0, le=3600)] = None,
    ) -> Response:
        """Status, rider position and ETA of an order's delivery; ``pin`` for its customer.

        The customer who owns the order, staff of its store and operations (404 for anyone
        else). Cheap to poll: ``ETag``/``If-None-Match`` → 304. With ``Accept:
        text/event-stream`` the answer is a stream of ``tracking`` events, one per change,
        that ends at a terminal status or after ``max_seconds`` (capped by settings).
        """
        view = await services.deliveries.tracking(order_id)
        ensure_tracking_access(principal, view.delivery)
        if EVENT_STREAM in request.headers.get("accept", ""):
            limit = min(max_seconds or services.sse_max_seconds, services.sse_max_seconds)
            return StreamingResponse(
                _stream(services, order_id, principal, limit),
                media_type=EVENT_STREAM,
                headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
            )
        body = tracking_read(view, principal).model_dump_json().encode()
        etag = body_etag(body)
        cached = not_modified(request, etag)
        if cached is not None:
            return cached
        return Response(body, media_type="application/json",
                        headers={"ETag": etag, "Cache-Control": "private, no-cache"})

    @router.get("/internal/v1/delivery/orders/{order_id}/pin", response_model=PinRead,
                responses=problem_responses(401, 403, 404))
    async def internal_pin(order_id: uuid.UUID, principal: CurrentPrincipal) -> PinRead:
        """The handover PIN of an order's delivery, for other services only (notifications
        puts it in the "rider arriving" message). Never routed by the gateway."""
        require_role(principal, Role.SERVICE)
        view = await services.deliveries.tracking(order_id)
        if view.delivery.terminal:
            raise DeliveryNotFound()
        return PinRead(order_id=order_id, customer_id=view.delivery.customer_id,
                       pin=view.delivery.pin)

    return router


async def _stream(
    services: Services, order_id: uuid.UUID, principal: Principal, limit: float
) -> AsyncIterator[bytes]:
    """Server-sent events: the tracking body each time it changes, bounded in time.

    The stream polls the database every ``sse_poll_seconds`` (a transport loop, not business
    waiting) and closes at a terminal status or after ``limit`` seconds; the client then
    reconnects or falls back to polling with ETags.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    last = ""
    sequence = 0
    while True:
        try:
            view = await services.deliveries.tracking(order_id)
        except NotFound:
            return
        body = tracking_read(view, principal).model_dump_json()
        etag = body_etag(body.encode())
        if etag != last:
            last = etag
            sequence += 1
            yield f"id: {sequence}\nevent: tracking\ndata: {body}\n\n".encode()
        if view.delivery.terminal:
            yield b"event: end\ndata: {\"reason\": \"terminal\"}\n\n"
            return
        remaining = deadline - loop.time()
        if remaining <= 0:
            yield b"event: end\ndata: {\"reason\": \"timeout\"}\n\n"
            return
        await asyncio.sleep(min(services.sse_poll_seconds, remaining))


def _code_read(code: str, area: pluscode.CodeArea) -> PlusCodeRead:
    lat, lng = area.center
    return PlusCodeRead(code=code, lat=lat, lng=lng, south=area.south, west=area.west,
                        north=area.north, east=area.east)

