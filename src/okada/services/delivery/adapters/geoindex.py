"""Live geo index of free riders: Redis GEO (distributed) or memory (embedded), one contract."""

from __future__ import annotations

import math
import uuid
from typing import Any

from okada.infra.cache.redis import UNREACHABLE_ERRORS, make_client
from okada.kernel.errors import Unavailable
from okada.services.delivery.application.ports import GeoIndex
from okada.services.delivery.domain.geo import Point, distance_m


def search_radii(radius_m: float) -> tuple[float, ...]:
    """The rings a nearest-riders search tries, smallest first, ending at ``radius_m``.

    If the inner ring already holds ``limit`` riders, they are the nearest ``limit`` of the
    whole circle (everyone outside it is farther), so the wide ring is never measured. The
    cost of a geo search is the number of riders it measures and sorts (redis/redis#8259), and
    in central Douala a 3 km circle holds about 16 times the riders of a 750 m one.
    """
    inner = radius_m / 4
    return (inner, radius_m) if inner >= 250.0 else (radius_m,)


class MemoryGeoIndex(GeoIndex):
    """Positions bucketed in a grid of ``cell_deg`` degrees (about 1.1 km for 0.01).

    A search looks only at the cells the radius touches, so 5,000 riders cost a few hundred
    distance computations per query instead of 5,000; one embedded process holds them all.
    """

    def __init__(self, *, cell_deg: float = 0.01) -> None:
        self._cell_deg = cell_deg
        self._points: dict[uuid.UUID, tuple[Point, tuple[int, int]]] = {}
        self._cells: dict[tuple[int, int], dict[uuid.UUID, Point]] = {}

    def _cell(self, lat: float, lng: float) -> tuple[int, int]:
        return math.floor(lat / self._cell_deg), math.floor(lng / self._cell_deg)

    async def upsert(self, rider_id: uuid.UUID, point: Point) -> None:
        await self.remove(rider_id)
        cell = self._cell(point.lat, point.lng)
        self._points[rider_id] = (point, cell)
        self._cells.setdefault(cell, {})[rider_id] = point

    async def remove(self, rider_id: uuid.UUID) -> None:
        found = self._points.pop(rider_id, None)
        if found is not None:
            bucket = self._cells.get(found[1], {})
            bucket.pop(rider_id, None)
            if not bucket:
                self._cells.pop(found[1], None)

    async def nearby(
        self, point: Point, *, radius_m: float, limit: int
    ) -> list[tuple[uuid.UUID, float]]:
        for ring in search_radii(radius_m):
            found = self._within(point, ring)
            if len(found) >= limit:
                break
        found.sort(key=lambda x: (x[1], str(x[0])))
        return found[:limit]

    def _within(self, point: Point, radius_m: float) -> list[tuple[uuid.UUID, float]]:
        dlat = radius_m / 111_000.0
        dlng = radius_m / (111_000.0 * max(0.01, math.cos(math.radians(point.lat))))
        south, west = self._cell(point.lat - dlat, point.lng - dlng)
        north, east = self._cell(point.lat + dlat, point.lng + dlng)
        found = []
        for row in range(south, north + 1):
            for col in range(west, east + 1):
                for rider, where in self._cells.get((row, col), {}).items():
                    distance = distance_m(point, where)
                    if distance <= radius_m:
                        found.append((rider, distance))
        return found


# Tries each ring (ARGV[4..]) until one holds COUNT riders: one round trip, and the wide
# circle is searched only where the narrow one is too sparse.
_NEAREST_IN_RINGS = """
local count = tonumber(ARGV[3])
for i = 4, #ARGV do
  local found = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[1], ARGV[2],
                           'BYRADIUS', ARGV[i], 'm', 'ASC', 'COUNT', count, 'WITHDIST')
  if #found >= count or i == #ARGV then return found end
end
return {}
"""


class RedisGeoIndex(GeoIndex):
    """Riders in one Redis sorted set with GEO commands (GEOADD, GEOSEARCH, ZREM).

    Redis measures with its own haversine on a 52-bit geohash (precision well under a metre at
    these latitudes), so distances agree with the memory index to a few centimetres. Every call
    is bounded by the client's socket timeout; an unreachable Redis is reported as
    ``Unavailable`` so callers can degrade (a quote without surge data) or retry.
    """

    def __init__(self, url: str, *, key: str, socket_timeout: float = 1.0,
                 client: Any | None = None) -> None:
        self._client: Any = client or make_client(url, socket_timeout=socket_timeout)
        self._key = key
        self._nearest = self._client.register_script(_NEAREST_IN_RINGS)

    async def upsert(self, rider_id: uuid.UUID, point: Point) -> None:
        try:
            await self._client.geoadd(self._key, (point.lng, point.lat, str(rider_id)))
        except UNREACHABLE_ERRORS as exc:
            raise Unavailable("geo_index_unavailable") from exc

    async def remove(self, rider_id: uuid.UUID) -> None:
        try:
            await self._client.zrem(self._key, str(rider_id))
        except UNREACHABLE_ERRORS as exc:
            raise Unavailable("geo_index_unavailable") from exc

    async def nearby(
        self, point: Point, *, radius_m: float, limit: int
    ) -> list[tuple[uuid.UUID, float]]:
        try:
            rows = await self._nearest(
                keys=[self._key],
                args=[point.lng, point.lat, limit, *search_radii(radius_m)],
            )
        except UNREACHABLE_ERRORS as exc:
            raise Unavailable("geo_index_unavailable") from exc
        found = [(uuid.UUID(member.decode()), float(dist)) for member, dist in rows]
        # Same tie order as the memory index: equal distances by rider id.
        return sorted(found, key=lambda x: (round(x[1], 2), str(x[0])))

    async def clear(self) -> None:
        """Drop the whole index (tests)."""
        await self._client.delete(self._key)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
