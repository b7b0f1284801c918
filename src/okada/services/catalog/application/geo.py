"""Delivery areas: great-circle distance, radius and polygon checks, bounding boxes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)
METRES_PER_DEGREE_LAT = 111_320.0


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Return the great-circle distance in metres between two points.

    Args:
        lat1: Latitude of the first point, degrees.
        lng1: Longitude of the first point, degrees.
        lat2: Latitude of the second point, degrees.
        lng2: Longitude of the second point, degrees.

    Returns:
        The distance in metres (haversine formula, spherical Earth: well under 0.5 % off at
        city scale, which is far finer than a delivery radius).
    """
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lng2 - lng1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def in_polygon(lat: float, lng: float, ring: Sequence[tuple[float, float]]) -> bool:
    """Return whether a point lies inside a polygon of ``(lat, lng)`` vertices.

    Args:
        lat: Latitude of the point.
        lng: Longitude of the point.
        ring: Vertices in order; the ring is closed implicitly (first != last).

    Returns:
        True inside, False outside. Ray casting on plain degrees: a delivery polygon spans a
        few kilometres near the equator, where treating degrees as planar is exact enough.
    """
    inside = False
    count = len(ring)
    j = count - 1
    for i in range(count):
        lat_i, lng_i = ring[i]
        lat_j, lng_j = ring[j]
        if (lat_i > lat) != (lat_j > lat):
            crossing = (lng_j - lng_i) * (lat - lat_i) / (lat_j - lat_i) + lng_i
            if lng < crossing:
                inside = not inside
        j = i
    return inside


@dataclass(frozen=True, slots=True)
class BoundingBox:
    """The smallest latitude/longitude box holding a delivery area.

    Stored with the store so the database discards far-away stores with an indexed range
    check before the exact (Python) test.
    """

    min_lat: float
    max_lat: float
    min_lng: float
    max_lng: float


def area_box(
    lat: float,
    lng: float,
    radius_m: int | None,
    polygon: Sequence[tuple[float, float]] | None,
) -> BoundingBox:
    """Return the bounding box of a radius around ``(lat, lng)`` or of a polygon.

    Args:
        lat: Store latitude.
        lng: Store longitude.
        radius_m: Delivery radius in metres, when the area is a circle.
        polygon: Delivery polygon, when the area is a polygon.

    Returns:
        The box, padded by one metre-ish so points on the edge are not lost to rounding.
    """
    pad = 1e-5
    if polygon:
        lats = [p[0] for p in polygon]
        lngs = [p[1] for p in polygon]
        return BoundingBox(min(lats) - pad, max(lats) + pad, min(lngs) - pad, max(lngs) + pad)
    radius = float(radius_m or 0)
    dlat = radius / METRES_PER_DEGREE_LAT
    dlng = radius / (METRES_PER_DEGREE_LAT * max(0.01, math.cos(math.radians(lat))))
    return BoundingBox(lat - dlat - pad, lat + dlat + pad, lng - dlng - pad, lng + dlng + pad)


def serves(
    store_lat: float,
    store_lng: float,
    radius_m: int | None,
    polygon: Sequence[tuple[float, float]] | None,
    lat: float,
    lng: float,
) -> bool:
    """Return whether a store's delivery area covers a point.

    Args:
        store_lat: Store latitude.
        store_lng: Store longitude.
        radius_m: Delivery radius in metres (circle areas).
        polygon: Delivery polygon (polygon areas); it wins when both are set.
        lat: Latitude of the customer.
        lng: Longitude of the customer.

    Returns:
        True when the point is inside the polygon, or within the radius (edge included).
    """
    if polygon:
        return in_polygon(lat, lng, polygon)
    if radius_m is None:
        return False
    return haversine_m(store_lat, store_lng, lat, lng) <= radius_m
