"""Points, distances and areas on the ground (pure functions, no I/O)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True, slots=True)
class Point:
    """A WGS 84 position."""

    lat: float
    lng: float


@dataclass(frozen=True, slots=True)
class Box:
    """A latitude/longitude envelope."""

    south: float
    west: float
    north: float
    east: float

    def contains(self, point: Point) -> bool:
        """Whether ``point`` lies inside the envelope (edges included)."""
        return self.south <= point.lat <= self.north and self.west <= point.lng <= self.east


CAMEROON = Box(south=1.654, west=8.452, north=13.085, east=16.207)
"""Cameroon onshore (EPSG area 3226, cameroon.md §5.1): anything outside is refused."""

CITY_BOXES = {
    "douala": Box(south=3.95, west=9.60, north=4.17, east=9.86),
    "yaounde": Box(south=3.76, west=11.42, north=3.98, east=11.60),
}
"""Urban envelopes of the two cities served (cameroon.md §5.1, inferred with a margin)."""


def in_cameroon(point: Point) -> bool:
    """Whether the point is in Cameroon's onshore envelope."""
    return CAMEROON.contains(point)


def city_of(point: Point) -> str | None:
    """The served city whose urban envelope holds ``point``, if any."""
    for city, box in CITY_BOXES.items():
        if box.contains(point):
            return city
    return None


def distance_m(a: Point, b: Point) -> float:
    """Great-circle (haversine) distance in metres."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlng = math.radians(b.lng - a.lng)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def in_polygon(point: Point, ring: Sequence[tuple[float, float]]) -> bool:
    """Ray casting: whether ``point`` is inside the ``(lat, lng)`` ring (first != last).

    City-sized polygons are small enough for a plane approximation; a point exactly on an
    edge may fall either way, which the delivery area tolerates.
    """
    if len(ring) < 3:
        return False
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        lat_i, lng_i = ring[i]
        lat_j, lng_j = ring[j]
        if (lat_i > point.lat) != (lat_j > point.lat):
            cross = (lng_j - lng_i) * (point.lat - lat_i) / (lat_j - lat_i) + lng_i
            if point.lng < cross:
                inside = not inside
        j = i
    return inside
