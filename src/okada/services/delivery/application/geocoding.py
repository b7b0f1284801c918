"""Addresses and promises: geocoding, reverse geocoding, Plus Codes and delivery quotes."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from okada.kernel import pluscode
from okada.kernel.clock import Clock
from okada.kernel.errors import Unavailable
from okada.kernel.hours import within_opening_hours
from okada.services.delivery.application.model import StoreRecord
from okada.services.delivery.application.ports import DeliveryUnitOfWork, GeoIndex
from okada.services.delivery.domain.errors import (
    AddressNotFound,
    InvalidPlusCode,
    PointOutsideCameroon,
    QuartierNotFound,
)
from okada.services.delivery.domain.gazetteer import Gazetteer, Match, Place, normalize_city
from okada.services.delivery.domain.geo import CITY_BOXES, Point, distance_m, in_cameroon
from okada.services.delivery.domain.pricing import FeeRules, SpeedTable, eta_minutes

UowFactory = Callable[[], DeliveryUnitOfWork]


@dataclass(frozen=True, slots=True)
class Reverse:
    """The quartier of a point."""

    place: Place
    distance_m: int
    plus_code: str


class GeoService:
    """Geocoding over the gazetteer (pure, in memory: no database, no network)."""

    def __init__(self, gazetteer: Gazetteer) -> None:
        self.gazetteer = gazetteer

    def geocode(self, text: str, city: str | None = None) -> Match:
        """The point a text names, with a confidence; 404 ``address_not_found`` if unknown."""
        match = self.gazetteer.geocode(text, city)
        if match is None:
            raise AddressNotFound()
        return match

    def reverse(self, point: Point) -> Reverse:
        """The quartier of a point: 422 outside Cameroon, 404 away from every quartier."""
        if not in_cameroon(point):
            raise PointOutsideCameroon()
        place = self.gazetteer.reverse(point)
        if place is None:
            raise QuartierNotFound()
        return Reverse(place, round(distance_m(point, place.point)),
                       pluscode.encode(point.lat, point.lng))

    @staticmethod
    def encode(point: Point, length: int = pluscode.PAIR_CODE_LENGTH) -> str:
        """The Plus Code of a point in Cameroon."""
        if not in_cameroon(point):
            raise PointOutsideCameroon()
        return pluscode.encode(point.lat, point.lng, length)

    @staticmethod
    def decode(code: str, city: str | None = None) -> pluscode.CodeArea:
        """The area of a full code, or of a short code near a served city's centre."""
        code = code.strip().upper()
        try:
            if not pluscode.is_full(code):
                key = normalize_city(city)
                if not pluscode.is_short(code) or key is None:
                    raise InvalidPlusCode()
                box = CITY_BOXES[key]
                code = pluscode.recover_nearest(
                    code, (box.south + box.north) / 2, (box.west + box.east) / 2)
            return pluscode.decode(code)
        except ValueError:
            raise InvalidPlusCode() from None


@dataclass(frozen=True, slots=True)
class QuoteRequest:
    """What checkout knows of the drop: a confirmed pin and/or the text address."""

    store_id: uuid.UUID
    lat: float | None = None
    lng: float | None = None
    city: str | None = None
    quartier: str | None = None
    landmark: str | None = None


@dataclass(frozen=True, slots=True)
class Quote:
    """The answer orders uses at checkout (shape fixed by interplay.md)."""

    serviceable: bool
    fee_xaf: int = 0
    distance_m: int | None = None
    eta_minutes: int | None = None
    eta_at: dt.datetime | None = None
    lat: float | None = None
    lng: float | None = None
    reason: str | None = None
    quartier: str | None = None


@dataclass(frozen=True, slots=True)
class Drop:
    """A resolved drop point and how it was found."""

    point: Point
    quartier: str | None
    source: str  # "pin" or "geocoded"


class QuoteService:
    """Serviceability, fee and ETA of a delivery, cheap enough for the checkout hot path.

    The store replica cached for a few seconds, the in-memory gazetteer when there is no pin,
    and one bounded geo-index query for the riders near the store.
    """

    def __init__(
        self, *, uow_factory: UowFactory, clock: Clock, geo: GeoService, index: GeoIndex,
        fees: FeeRules, speeds: SpeedTable, default_radius_m: int, surge_radius_m: int,
        surge_min_riders: int, default_rider_distance_m: int,
        store_cache_ttl: dt.timedelta = dt.timedelta(seconds=5),
    ) -> None:
        self._uow = uow_factory
        self._store_cache_ttl = store_cache_ttl
        self._stores: dict[uuid.UUID, tuple[StoreRecord | None, dt.datetime]] = {}
        self._clock = clock
        self._geo = geo
        self._index = index
        self.fees = fees
        self.speeds = speeds
        self.default_radius_m = default_radius_m
        self.surge_radius_m = surge_radius_m
        self.surge_min_riders = surge_min_riders
        self.default_rider_distance_m = default_rider_distance_m

    def resolve_drop(
        self, *, lat: float | None, lng: float | None, city: str | None,
        quartier: str | None, landmark: str | None,
    ) -> Drop | None:
        """The drop point. Business rule: the customer's confirmed GPS pin wins over text.

        Raises:
            PointOutsideCameroon: The pin is not in Cameroon.
        """
        if lat is not None and lng is not None:
            point = Point(lat, lng)
            if not in_cameroon(point):
                raise PointOutsideCameroon()
            near = self._geo.gazetteer.reverse(point)
            return Drop(point, quartier or (near.name if near else None), "pin")
        text = ", ".join(x for x in (landmark, quartier) if x)
        if not text.strip():
            return None
        match = self._geo.gazetteer.geocode(text, city)
        if match is None:
            return None
        return Drop(match.point, match.quartier or quartier, "geocoded")

    async def quote(self, request: QuoteRequest) -> Quote:
        """Quote a delivery from a store to a drop.

        Business rules:
            - Unknown or deleted store: not serviceable, ``store_unknown``; a closed store
              (status, or outside its opening hours in Africa/Douala): ``store_closed``; an
              address the gazetteer cannot place: ``address_not_found``; a point outside the
              store's polygon (or radius, or the default radius): ``outside_delivery_area``.
            - Fee: base + per started km after the first (road distance), plus the quartier's
              surcharge, plus a surge when fewer free riders than the minimum are near the
              store; whole XAF rounded up to 50 (see settings).
            - ETA: max(preparation, ride of the nearest free rider to the store) + handover +
              ride to the drop, at the motorbike speed of the current hour.
        """
        now = self._clock.now()
        store = await self._store(request.store_id, now)
        drop = self.resolve_drop(lat=request.lat, lng=request.lng, city=request.city,
                                 quartier=request.quartier, landmark=request.landmark)
        if store is None or store.deleted:
            return _refused("store_unknown", drop)
        if drop is None:
            return Quote(serviceable=False, reason="address_not_found")
        straight = distance_m(store.location, drop.point)
        if not store_open(store, now):
            return _refused("store_closed", drop, straight)
        if not store.area.serves(drop.point, default_radius_m=self.default_radius_m):
            return _refused("outside_delivery_area", drop, straight)
        try:
            nearby = await self._index.nearby(store.location, radius_m=self.surge_radius_m,
                                              limit=self.surge_min_riders)
            surge = len(nearby) < self.surge_min_riders
        except Unavailable:  # no live data: quote without surge rather than fail checkout
            nearby, surge = [], False
        road = self.speeds.road_m(store.location, drop.point)
        to_store = (nearby[0][1] * self.speeds.road_factor if nearby
                    else float(self.default_rider_distance_m))
        minutes = eta_minutes(
            prep_minutes=store.prep_minutes,
            to_store_minutes=self.speeds.ride_minutes(to_store, now),
            to_customer_minutes=self.speeds.ride_minutes(road, now),
        )
        return Quote(
            serviceable=True,
            fee_xaf=self.fees.fee(road, quartier=drop.quartier, surge=surge),
            distance_m=round(road),
            eta_minutes=minutes,
            eta_at=now + dt.timedelta(minutes=minutes),
            lat=drop.point.lat,
            lng=drop.point.lng,
            quartier=drop.quartier,
        )


    async def _store(self, store_id: uuid.UUID, now: dt.datetime) -> StoreRecord | None:
        # Checkout asks for the same few stores all day: a few seconds of staleness in a
        # store's area or hours is acceptable, a database round trip per quote is not.
        cached = self._stores.get(store_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        async with self._uow() as uow:
            store = await uow.stores.get(store_id)
        if len(self._stores) > 10_000:
            self._stores.clear()
        self._stores[store_id] = (store, now + self._store_cache_ttl)
        return store


def _refused(reason: str, drop: Drop | None, straight: float | None = None) -> Quote:
    return Quote(
        serviceable=False, reason=reason,
        distance_m=round(straight) if straight is not None else None,
        lat=drop.point.lat if drop else None, lng=drop.point.lng if drop else None,
        quartier=drop.quartier if drop else None,
    )


def store_open(store: StoreRecord, now: dt.datetime) -> bool:
    """Open by status, and inside one of its opening slots (none declared: always open; the
    shared rule of :func:`okada.kernel.hours.within_opening_hours`, overnight slots included)."""
    if store.status == "closed" or store.deleted:
        return False
    return within_opening_hours(store.opening_hours, now)
