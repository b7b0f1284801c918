"""Delivery area, fee and promise (ETA) rules, in whole XAF and minutes."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from okada.kernel.clock import to_local
from okada.services.delivery.domain.gazetteer import normalize
from okada.services.delivery.domain.geo import Point, distance_m, in_polygon


@dataclass(frozen=True, slots=True)
class StoreArea:
    """Where a store delivers: a polygon wins over a radius; neither means the default radius."""

    location: Point
    radius_m: int | None
    polygon: Sequence[tuple[float, float]] | None

    def serves(self, point: Point, *, default_radius_m: int) -> bool:
        """Whether the store delivers to ``point``."""
        if self.polygon:
            return in_polygon(point, self.polygon)
        radius = self.radius_m if self.radius_m else default_radius_m
        return distance_m(self.location, point) <= radius


@dataclass(frozen=True, slots=True)
class FeeRules:
    """Delivery fee: base + per started kilometre (road distance), zone surcharge, surge.

    Every amount is whole XAF; the total is rounded up to ``rounding_xaf`` (coins in use).
    """

    base_xaf: int = 500
    per_km_xaf: int = 100
    rounding_xaf: int = 50
    zone_surcharges_xaf: Mapping[str, int] = field(default_factory=dict)
    surge_xaf: int = 300
    max_xaf: int = 5000

    def fee(self, road_m: float, *, quartier: str | None, surge: bool) -> int:
        """The fee for ``road_m`` metres to ``quartier`` (surcharges keyed by normalised name)."""
        km = max(0, math.ceil(road_m / 1000) - 1)  # the first kilometre is in the base
        amount = self.base_xaf + km * self.per_km_xaf
        if quartier:
            amount += self.zone_surcharges_xaf.get(normalize(quartier), 0)
        if surge:
            amount += self.surge_xaf
        step = max(1, self.rounding_xaf)
        return min(self.max_xaf, -(-amount // step) * step)


@dataclass(frozen=True, slots=True)
class SpeedTable:
    """Motorbike speeds by time of day (Africa/Douala), km/h, and the road detour factor.

    Rush hours crawl (06:30-09:30 and 16:30-20:00 local), nights are fast (22:00-05:30),
    the rest is the day speed. Straight-line distance times ``road_factor`` approximates the
    road network (estimate, to tune with real trips).
    """

    peak_kmh: float = 14.0
    day_kmh: float = 20.0
    night_kmh: float = 28.0
    road_factor: float = 1.35

    def kmh(self, at: dt.datetime) -> float:
        """The speed at instant ``at``."""
        local = to_local(at)
        minutes = local.hour * 60 + local.minute
        if 390 <= minutes < 570 or 990 <= minutes < 1200:
            return self.peak_kmh
        if minutes >= 1320 or minutes < 330:
            return self.night_kmh
        return self.day_kmh

    def road_m(self, a: Point, b: Point) -> float:
        """Estimated road distance between two points."""
        return distance_m(a, b) * self.road_factor

    def ride_minutes(self, road_m: float, at: dt.datetime) -> int:
        """Whole minutes (rounded up) to ride ``road_m`` metres starting at ``at``."""
        return math.ceil(road_m / 1000 / self.kmh(at) * 60)


def eta_minutes(
    *, prep_minutes: int, to_store_minutes: int, to_customer_minutes: int, handover: int = 2
) -> int:
    """Minutes from now to the door.

    Business rule: the rider rides to the store while it prepares (dispatch is timed for
    that), so the wait at the store is the longer of the two; then the handover and the
    ride to the customer.
    """
    return max(prep_minutes, to_store_minutes) + handover + to_customer_minutes
