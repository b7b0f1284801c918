"""The delivery lifecycle: jobs from accepted orders, rider reports, cancellation, tracking."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from okada.contracts.orders.v1 import OrderEvent, OrderState
from okada.kernel.clock import Clock
from okada.kernel.ids import new_id
from okada.services.delivery.application.clienttime import ClientTimePolicy
from okada.services.delivery.application.errors import (
    DeliveryNotFound,
    StoreUnknown,
    TransientConflict,
)
from okada.services.delivery.application.geocoding import GeoService, QuoteService
from okada.services.delivery.application.model import PlaceCorrection, RiderRecord
from okada.services.delivery.application.ports import DeliveryUnitOfWork, GeoIndex
from okada.services.delivery.application.publishing import (
    publish_delivery_events,
    publish_shift,
)
from okada.services.delivery.application.retry import with_retries
from okada.services.delivery.application.riders import sync_index
from okada.services.delivery.domain.delivery import (
    Delivery,
    RiderUpdate,
    Status,
    new_pin,
)
from okada.services.delivery.domain.errors import InvalidPlusCode, PointOutsideCameroon, WrongPin
from okada.services.delivery.domain.geo import Point, in_cameroon
from okada.services.delivery.domain.pricing import SpeedTable

log = structlog.get_logger(__name__)

UowFactory = Callable[[], DeliveryUnitOfWork]


def mask_phone(e164: str | None) -> str | None:
    """``+237671234321`` → ``+2376****4321`` (what riders and other services may see)."""
    if not e164 or len(e164) < 9:
        return None
    return f"{e164[:5]}****{e164[-4:]}"


@dataclass(frozen=True, slots=True)
class LifecyclePolicy:
    """Lifecycle rules from settings."""

    pickup_requires_ready: bool = True
    pin_max_attempts: int = 5
    dispatch_lead: dt.timedelta = dt.timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class TrackingView:
    """What tracking shows: the job, its rider's live position and a fresh ETA."""

    delivery: Delivery
    rider: RiderRecord | None
    eta_at: dt.datetime | None


class DeliveryService:
    """Use cases on deliveries: creation from orders, rider reports, tracking."""

    def __init__(
        self, *, uow_factory: UowFactory, clock: Clock, index: GeoIndex, geo: GeoService,
        quotes: QuoteService, speeds: SpeedTable, times: ClientTimePolicy,
        policy: LifecyclePolicy,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._index = index
        self._geo = geo
        self._quotes = quotes
        self._speeds = speeds
        self._times = times
        self.policy = policy

    # -- from orders events (inside the consumer's unit of work) ----------------------------

    async def on_order(self, event: OrderEvent, uow: DeliveryUnitOfWork, *, cancelled: bool,
                       create: bool = True) -> None:
        """Apply an orders.v1 event: create the job, follow the order's status, or cancel.

        Business rules:
            - The first of ``OrderAccepted``/``OrderPreparing``/``OrderReady`` creates the
              job (``SEARCHING``, new PIN), dispatch due ``dispatch_lead`` before the order is
              expected ready (store preparation time), at once if that is past.
            - Later events only move the replica of the order's status (older versions are
              ignored); ``OrderReady`` makes a waiting job due now.
            - ``OrderCancelled`` cancels the job, withdraws its offers and frees its rider.
            - The job needs its store: while the catalog's store event has not arrived the
              event is refused and redelivered later.
        """
        now = self._clock.now()
        delivery = await uow.deliveries.by_order(event.entity_id)
        if delivery is None:
            if cancelled or not create:
                return
            delivery = await self._create(event, uow, now)
            if delivery is None:
                return
        expected = delivery.version
        if cancelled:
            if event.version <= delivery.order_version and delivery.order_status == "CANCELLED":
                return
            delivery.order_changed(event.state.status, event.version, now)
            if delivery.cancel(now):
                await uow.offers.withdraw(delivery.id, now)
                if delivery.rider_id is not None:
                    freed = await uow.riders.free(delivery.rider_id, delivery.id, now)
                    if freed is not None:
                        publish_shift(uow, freed, now)
                        await sync_index(self._index, freed)
        elif not delivery.order_changed(event.state.status, event.version, now):
            return
        if not await uow.deliveries.save(delivery, expected_version=expected):
            raise TransientConflict()  # the bus redelivers; the inbox claim rolls back too
        publish_delivery_events(uow, delivery)

    async def _create(
        self, event: OrderEvent, uow: DeliveryUnitOfWork, now: dt.datetime
    ) -> Delivery | None:
        state = event.state
        store = await uow.stores.get(state.store_id)
        if store is None:
            raise StoreUnknown()
        point, quartier, source = self._drop(state)
        ready_at = now + dt.timedelta(minutes=store.prep_minutes)
        due = max(now, ready_at - self.policy.dispatch_lead)
        if state.status == "READY_FOR_PICKUP":
            due = now
        eta = state.eta_at
        if point is not None:
            road = self._speeds.road_m(store.location, point)
            eta = ready_at + dt.timedelta(minutes=2 + self._speeds.ride_minutes(road, ready_at))
        cash = state.payable_xaf if state.payment.method == "cash" else 0
        delivery = Delivery(
            id=new_id(), order_id=event.entity_id, store_id=state.store_id,
            customer_id=state.customer_id, status=Status.SEARCHING, pin=new_pin(),
            store_name=store.name, store_lat=store.lat, store_lng=store.lng,
            drop_lat=point.lat if point else None, drop_lng=point.lng if point else None,
            drop_quartier=quartier, drop_landmark=_landmark(state), drop_source=source,
            place_id=state.address.place_id,
            customer_phone_masked=mask_phone(state.address.contact_phone),
            cash_to_collect_xaf=max(0, cash), fee_xaf=state.delivery_fee_xaf,
            order_status=state.status, order_version=event.version, eta_at=eta,
            dispatch_due_at=due, created_at=now, updated_at=now,
        )
        if not await uow.deliveries.add(delivery):
            return await uow.deliveries.by_order(event.entity_id)
        log.info("delivery.created", delivery_id=str(delivery.id), order_id=str(delivery.order_id),
                 dispatch_due_at=due.isoformat(), drop_source=source)
        return None  # just created with this event's state: nothing more to apply

    def _drop(self, state: OrderState) -> tuple[Point | None, str | None, str | None]:
        """The drop point: the confirmed pin, else the Plus Code, else the geocoded text."""
        address = state.address
        if address.lat is not None and address.lng is not None:
            point = Point(address.lat, address.lng)
            if in_cameroon(point):
                return point, address.quartier, "pin"
        if address.plus_code:
            try:
                area = self._geo.decode(address.plus_code, address.city)
                return Point(*area.center), address.quartier, "plus_code"
            except InvalidPlusCode:
                pass
        drop = self._quotes.resolve_drop(lat=None, lng=None, city=address.city,
                                         quartier=address.quartier, landmark=address.landmark)
        if drop is None:
            return None, address.quartier, None
        return drop.point, address.quartier or drop.quartier, "geocoded"

    # -- riders -----------------------------------------------------------------------------

    async def rider_report(
        self, rider_id: uuid.UUID, delivery_id: uuid.UUID, update: RiderUpdate
    ) -> Delivery:
        """The assigned rider reports progress (see :class:`Delivery` for the rules).

        Business rules: only the job's rider (404 for anyone else, hiding the job); the
        phone's time ``at`` is accepted late but not from the future; a wrong PIN is counted
        (committed) before the 422; delivered or failed frees the rider.
        """
        at = self._times.check(update.at, self._clock.now())
        if update.lat is not None and update.lng is not None and not in_cameroon(
            Point(update.lat, update.lng)
        ):
            raise PointOutsideCameroon()
        checked = RiderUpdate(status=update.status, at=at, pin=update.pin,
                              photo_upload_id=update.photo_upload_id, reason=update.reason,
                              lat=update.lat, lng=update.lng)
        delivery, freed = await with_retries(
            lambda: self._rider_report(rider_id, delivery_id, checked))
        if freed is not None:
            await sync_index(self._index, freed)
        return delivery

    async def _rider_report(
        self, rider_id: uuid.UUID, delivery_id: uuid.UUID, update: RiderUpdate
    ) -> tuple[Delivery, RiderRecord | None]:
        now = self._clock.now()
        async with self._uow() as uow:
            delivery = await uow.deliveries.get(delivery_id)
            if delivery is None or delivery.rider_id != rider_id:
                raise DeliveryNotFound()
            expected = delivery.version
            try:
                changed = delivery.rider_report(
                    update, now, pickup_requires_ready=self.policy.pickup_requires_ready,
                    max_pin_attempts=self.policy.pin_max_attempts,
                )
            except WrongPin:
                # The attempt counts even though the request fails.
                if not await uow.deliveries.save(delivery, expected_version=expected):
                    raise TransientConflict() from None
                await uow.commit()
                raise
            if not changed:
                return delivery, None
            if delivery.status is Status.PICKED_UP and delivery.drop_lat is not None:
                assert delivery.drop_lng is not None
                road = self._speeds.road_m(Point(delivery.store_lat, delivery.store_lng),
                                           Point(delivery.drop_lat, delivery.drop_lng))
                delivery.eta_at = now + dt.timedelta(
                    minutes=self._speeds.ride_minutes(road, now))
            if not await uow.deliveries.save(delivery, expected_version=expected):
                raise TransientConflict()
            publish_delivery_events(uow, delivery)
            if (delivery.status is Status.DELIVERED and delivery.drop_corrected
                    and delivery.place_id is not None and delivery.drop_lat is not None
                    and delivery.drop_lng is not None):
                # Saved with the delivery, pushed to identity by a worker (see places.py).
                await uow.place_corrections.add(PlaceCorrection(
                    delivery_id=delivery.id, customer_id=delivery.customer_id,
                    place_id=delivery.place_id, lat=delivery.drop_lat, lng=delivery.drop_lng,
                    status="pending", attempts=0, next_attempt_at=now))
            freed = None
            if delivery.terminal:
                freed = await uow.riders.free(rider_id, delivery.id, now)
                if freed is not None:
                    publish_shift(uow, freed, now)
            await uow.commit()
            return delivery, freed

    # -- reads ------------------------------------------------------------------------------

    async def get(self, delivery_id: uuid.UUID) -> Delivery:
        """A delivery by id (operations)."""
        async with self._uow() as uow:
            delivery = await uow.deliveries.get(delivery_id)
        if delivery is None:
            raise DeliveryNotFound()
        return delivery

    async def tracking(self, order_id: uuid.UUID) -> TrackingView:
        """The job of an order with its rider's position and a fresh ETA (callers check access).

        ETA: before pickup, the later of the rider reaching the store and the order being
        ready, plus the ride to the drop; after pickup, the rider's ride to the drop; at the
        current hour's motorbike speed, rounded to the minute.
        """
        now = self._clock.now()
        async with self._uow() as uow:
            delivery = await uow.deliveries.by_order(order_id)
            if delivery is None:
                raise DeliveryNotFound()
            rider = (await uow.riders.get(delivery.rider_id)
                     if delivery.rider_id is not None else None)
        return TrackingView(delivery, rider, self._eta(delivery, rider, now))

    def _eta(self, delivery: Delivery, rider: RiderRecord | None, now: dt.datetime
             ) -> dt.datetime | None:
        if delivery.terminal:
            return None
        position = rider.position if rider is not None else None
        if position is None or delivery.drop_lat is None or delivery.drop_lng is None:
            return delivery.eta_at
        drop = Point(delivery.drop_lat, delivery.drop_lng)
        store = Point(delivery.store_lat, delivery.store_lng)
        if delivery.status in (Status.PICKED_UP, Status.ARRIVING):
            minutes = self._speeds.ride_minutes(self._speeds.road_m(position, drop), now)
        else:
            to_store = self._speeds.ride_minutes(self._speeds.road_m(position, store), now)
            minutes = to_store + 2 + self._speeds.ride_minutes(
                self._speeds.road_m(store, drop), now)
        eta = now + dt.timedelta(minutes=minutes)
        return eta.replace(second=0, microsecond=0)


def _landmark(state: OrderState) -> str | None:
    parts = [x for x in (state.address.landmark, state.address.directions) if x]
    return ", ".join(parts)[:300] if parts else None

