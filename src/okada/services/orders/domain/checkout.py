"""Checkout rules: basket limits, re-pricing, store hours, delivery area, payment terms."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from okada.kernel.errors import Unprocessable
from okada.kernel.hours import within_opening_hours
from okada.kernel.phone import Operator, parse_phone
from okada.services.orders.domain.errors import (
    ContactPhoneInvalid,
    EmptyBasket,
    InvalidLineQuantity,
    OutsideDeliveryArea,
    PayerPhoneInvalid,
    PayerPhoneRequired,
    ProductsUnavailable,
    StoreClosed,
    TooManyLines,
    UnsupportedPaymentMethod,
)
from okada.services.orders.domain.order import OrderLine

PAYMENT_METHODS = ("mtn_momo", "orange_money", "cash")
OPERATOR_OF = {"mtn_momo": Operator.MTN, "orange_money": Operator.ORANGE}


@dataclass(frozen=True, slots=True)
class StoreInfo:
    """What checkout needs of a store (local read model of ``catalog.v1.StoreUpdated``)."""

    id: uuid.UUID
    city: str
    lat: float
    lng: float
    delivery_radius_m: int | None
    delivery_polygon: list[tuple[float, float]] | None
    opening_hours: list[dict[str, Any]]
    timezone: str
    status: str
    prep_minutes: int
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class OfferInfo:
    """A product as sold by one store, with the names people read."""

    product_id: uuid.UUID
    price_xaf: int
    listed: bool
    known_product: bool
    product_deleted: bool
    name: dict[str, str]
    unit: dict[str, str]


def basket(lines: Iterable[tuple[uuid.UUID, int]], *, max_quantity: int,
           max_lines: int) -> list[tuple[uuid.UUID, int]]:
    """Validate and merge basket lines (one line per product, in product-id order).

    Raises:
        EmptyBasket: No line.
        InvalidLineQuantity: A quantity is below 1 or above ``max_quantity`` (after merging).
        TooManyLines: More than ``max_lines`` distinct products.
    """
    merged: dict[uuid.UUID, int] = {}
    for product_id, quantity in lines:
        if isinstance(quantity, bool) or not 1 <= quantity <= max_quantity:
            raise InvalidLineQuantity(product_id, max_quantity)
        merged[product_id] = merged.get(product_id, 0) + quantity
    if not merged:
        raise EmptyBasket()
    if len(merged) > max_lines:
        raise TooManyLines(max_lines)
    for product_id, quantity in merged.items():
        if quantity > max_quantity:
            raise InvalidLineQuantity(product_id, max_quantity)
    return sorted(merged.items())


def price(lines: Sequence[tuple[uuid.UUID, int]], offers: dict[uuid.UUID, OfferInfo],
          language: str) -> list[OrderLine]:
    """Price every line from the store's offers (client prices are never trusted).

    Raises:
        ProductsUnavailable: A line names a product the store does not sell now (unknown,
            not offered by this store, delisted or withdrawn), listing every such line.
    """
    refused: list[tuple[uuid.UUID, str]] = []
    priced: list[OrderLine] = []
    for product_id, quantity in lines:
        offer = offers.get(product_id)
        if offer is None:
            refused.append((product_id, "not_offered"))
            continue
        if offer.product_deleted:
            refused.append((product_id, "removed"))
            continue
        if not offer.listed:
            refused.append((product_id, "not_listed"))
            continue
        priced.append(OrderLine(
            product_id=product_id,
            name=offer.name.get(language) or offer.name.get("fr") or str(product_id),
            unit=offer.unit.get(language) or offer.unit.get("fr") or "",
            quantity=quantity,
            unit_price_xaf=offer.price_xaf,
            line_total_xaf=offer.price_xaf * quantity,
        ))
    if refused:
        raise ProductsUnavailable(refused)
    return priced


def ensure_open(store: StoreInfo, now: dt.datetime) -> None:
    """The store takes orders now: status ``open`` (or ``busy``) and inside its hours.

    Opening hours are local times of the store's zone (Africa/Douala); a slot whose closing
    time is before its opening time runs past midnight. No hours listed means no limit.

    Raises:
        StoreClosed: Closed by status or by the clock.
    """
    if store.status not in ("open", "busy"):
        raise StoreClosed()
    if not within_opening_hours(store.opening_hours, now, store.timezone or "Africa/Douala"):
        raise StoreClosed()


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    radius = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * radius * math.asin(math.sqrt(a))


def inside_polygon(lat: float, lng: float, ring: Sequence[tuple[float, float]]) -> bool:
    """Ray casting on a (lat, lng) ring (small areas: a flat approximation is enough)."""
    inside = False
    count = len(ring)
    for i in range(count):
        y1, x1 = ring[i]
        y2, x2 = ring[(i + 1) % count]
        if (y1 > lat) != (y2 > lat):
            cross = (x2 - x1) * (lat - y1) / (y2 - y1) + x1
            if lng < cross:
                inside = not inside
    return inside


def ensure_serves(store: StoreInfo, lat: float | None, lng: float | None, city: str) -> int | None:
    """Local delivery-area check when the delivery service cannot quote; returns metres.

    With a GPS pin: inside the polygon if the store has one, else within the radius. Without a
    pin only the city can be compared (the rider calls the contact phone).

    Raises:
        OutsideDeliveryArea: The address is outside the store's area.
    """
    if lat is None or lng is None:
        if city.strip().casefold() != store.city.strip().casefold():
            raise OutsideDeliveryArea()
        return None
    metres = distance_m(store.lat, store.lng, lat, lng)
    if store.delivery_polygon:
        if not inside_polygon(lat, lng, store.delivery_polygon):
            raise OutsideDeliveryArea()
    elif store.delivery_radius_m is not None and metres > store.delivery_radius_m:
        raise OutsideDeliveryArea()
    return int(metres)


def payer_phone(method: str, phone: str | None) -> str | None:
    """Check the payment terms; return the payer's E.164 phone for mobile money.

    Business rules: MTN MoMo needs an MTN Cameroon mobile, Orange Money an Orange one (by
    prefix; the provider stays authoritative for ported numbers); cash needs no phone.

    Raises:
        UnsupportedPaymentMethod, PayerPhoneRequired, PayerPhoneInvalid.
    """
    if method not in PAYMENT_METHODS:
        raise UnsupportedPaymentMethod(method)
    if method == "cash":
        return None
    if not phone:
        raise PayerPhoneRequired()
    try:
        parsed = parse_phone(phone)
    except Unprocessable:
        raise PayerPhoneInvalid(method) from None
    if parsed.operator is not OPERATOR_OF[method]:
        raise PayerPhoneInvalid(method)
    return parsed.e164


def contact_phone(phone: str | None) -> str | None:
    """The address's contact phone in E.164 (the rider calls it), or None.

    Raises:
        ContactPhoneInvalid: Not a Cameroonian mobile number.
    """
    if not phone:
        return None
    try:
        return parse_phone(phone).e164
    except Unprocessable:
        raise ContactPhoneInvalid() from None
