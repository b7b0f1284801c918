"""The live geo index: Redis GEO and the memory index answer the same (real Redis)."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator

import pytest

from okada.services.delivery.adapters.geoindex import MemoryGeoIndex, RedisGeoIndex
from okada.services.delivery.application.ports import GeoIndex
from okada.services.delivery.domain.geo import Point, distance_m
from tests.support.services import require_redis

REDIS_URL = "redis://127.0.0.1:6379/0"
AKWA = Point(4.05, 9.70)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.distributed)])
async def index(request: pytest.FixtureRequest) -> AsyncIterator[GeoIndex]:
    if request.param == "memory":
        yield MemoryGeoIndex()
        return
    require_redis()
    redis_index = RedisGeoIndex(REDIS_URL, key=f"okada-test:{uuid.uuid4().hex}:geo")
    try:
        yield redis_index
    finally:
        await redis_index.clear()
        await redis_index.aclose()


async def test_nearest_first_within_the_radius_and_removals(index: GeoIndex) -> None:
    near, mid, far, away = (uuid.uuid4() for _ in range(4))
    await index.upsert(far, Point(4.0680, 9.70))  # ~2 km
    await index.upsert(near, Point(4.0505, 9.70))  # ~55 m
    await index.upsert(mid, Point(4.0590, 9.70))  # ~1 km
    await index.upsert(away, Point(3.87, 11.52))  # Yaoundé
    found = await index.nearby(AKWA, radius_m=3000, limit=10)
    assert [r for r, _ in found] == [near, mid, far]
    assert abs(found[0][1] - 55.6) < 1 and abs(found[1][1] - 1000.7) < 2
    assert [r for r, _ in await index.nearby(AKWA, radius_m=3000, limit=2)] == [near, mid]
    await index.upsert(near, Point(4.075, 9.70))  # moved away: now the farthest
    assert [r for r, _ in await index.nearby(AKWA, radius_m=3000, limit=10)] == [mid, far, near]
    await index.remove(mid)
    await index.remove(mid)  # removing twice is harmless
    assert [r for r, _ in await index.nearby(AKWA, radius_m=3000, limit=10)] == [far, near]


@pytest.mark.distributed
async def test_redis_and_memory_agree_on_a_random_crowd() -> None:
    require_redis()
    rng = random.Random(7)
    memory = MemoryGeoIndex()
    redis_index = RedisGeoIndex(REDIS_URL, key=f"okada-test:{uuid.uuid4().hex}:geo")
    try:
        for _ in range(300):
            rider, point = uuid.uuid4(), Point(4.05 + rng.uniform(-0.04, 0.04),
                                               9.70 + rng.uniform(-0.04, 0.04))
            await memory.upsert(rider, point)
            await redis_index.upsert(rider, point)
        for _ in range(5):
            centre = Point(4.05 + rng.uniform(-0.02, 0.02), 9.70 + rng.uniform(-0.02, 0.02))
            mine = await memory.nearby(centre, radius_m=2500, limit=20)
            theirs = await redis_index.nearby(centre, radius_m=2500, limit=20)
            assert [r for r, _ in mine] == [r for r, _ in theirs]
            assert all(abs(a[1] - b[1]) < 1.0 for a, b in zip(mine, theirs, strict=True))
    finally:
        await redis_index.clear()
        await redis_index.aclose()


@pytest.mark.parametrize("spread", [0.01, 0.03])  # dense: the inner ring suffices; sparse: not
async def test_ring_search_finds_exactly_the_nearest_of_the_whole_circle(
    index: GeoIndex, spread: float
) -> None:
    """The narrow-ring shortcut must never change the answer: compare with brute force."""
    rng = random.Random(11)
    crowd: dict[uuid.UUID, Point] = {}
    for _ in range(200):
        rider = uuid.uuid4()
        crowd[rider] = Point(4.05 + rng.uniform(-spread, spread),
                             9.70 + rng.uniform(-spread, spread))
        await index.upsert(rider, crowd[rider])
    for limit in (5, 20, 60):
        found = await index.nearby(AKWA, radius_m=3000, limit=limit)
        true_distance = {rider: distance_m(AKWA, where) for rider, where in crowd.items()}
        expected = sorted((r for r, d in true_distance.items() if d <= 3000),
                          key=true_distance.__getitem__)[:limit]
        assert len(found) == len(expected) == limit
        # Redis measures on a 52-bit geohash (tens of centimetres here), so two riders a few
        # millimetres apart may swap: compare up to that, which still catches a wrong ring.
        cutoff = true_distance[expected[-1]]
        found_ids = {r for r, _ in found}
        assert {r for r in expected if true_distance[r] < cutoff - 1.0} <= found_ids
        assert all(true_distance[r] <= cutoff + 1.0 for r in found_ids)
        assert [d for _, d in found] == sorted(d for _, d in found)
