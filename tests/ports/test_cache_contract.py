"""One contract for every Cache adapter: MemoryCache (embedded) and RedisCache (distributed)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from okada.infra.cache.memory import MemoryCache
from okada.infra.cache.redis import RedisCache
from okada.kernel.errors import Unavailable
from okada.kernel.ports import Cache
from tests.support.services import require_redis

REDIS_URL = "redis://127.0.0.1:6379/0"


async def _purge(cache: RedisCache) -> None:
    keys = [key async for key in cache._client.scan_iter(match=cache.prefix + "*")]
    if keys:
        await cache._client.delete(*keys)


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    if request.param == "memory":
        yield MemoryCache()
        return
    require_redis()
    redis_cache = RedisCache(REDIS_URL, prefix=f"test:{uuid.uuid4().hex}:")
    try:
        yield redis_cache
    finally:
        await _purge(redis_cache)
        await redis_cache.aclose()


async def test_get_missing_is_none(cache: Cache) -> None:
    assert await cache.get("absent") is None


async def test_set_then_get(cache: Cache) -> None:
    await cache.set("k", b"\x00value\xff")
    assert await cache.get("k") == b"\x00value\xff"
    await cache.set("k", b"other")
    assert await cache.get("k") == b"other"


async def test_ttl_expiry(cache: Cache) -> None:
    await cache.set("short", b"v", ttl=0.2)
    await cache.set("forever", b"v")
    assert await cache.get("short") == b"v"
    await asyncio.sleep(0.3)
    assert await cache.get("short") is None
    assert await cache.get("forever") == b"v"


async def test_delete_counts_existing_keys(cache: Cache) -> None:
    await cache.set("a", b"1")
    await cache.set("b", b"2")
    assert await cache.delete("a", "b", "never-set") == 2
    assert await cache.get("a") is None
    assert await cache.delete("a") == 0
    assert await cache.delete() == 0


async def test_delete_does_not_count_expired_keys(cache: Cache) -> None:
    await cache.set("gone", b"v", ttl=0.1)
    await asyncio.sleep(0.2)
    assert await cache.delete("gone") == 0


async def test_incr_window_starts_at_first_increment(cache: Cache) -> None:
    assert await cache.incr("counter", ttl=0.4) == 1
    await asyncio.sleep(0.2)
    # Later increments must not push the window back: it still ends 0.4 s after the first.
    assert await cache.incr("counter", ttl=0.4) == 2
    assert await cache.incr("counter", ttl=0.4) == 3
    await asyncio.sleep(0.3)
    assert await cache.get("counter") is None
    assert await cache.incr("counter", ttl=0.4) == 1


async def test_incr_is_atomic_under_concurrency(cache: Cache) -> None:
    values = await asyncio.gather(*(cache.incr("hot", ttl=10) for _ in range(200)))
    assert sorted(values) == list(range(1, 201))


async def test_lock_excludes_a_second_holder(cache: Cache) -> None:
    events: list[str] = []
    first_inside = asyncio.Event()

    async def first() -> None:
        async with cache.lock("job", ttl=5, wait=1):
            events.append("first-in")
            first_inside.set()
            await asyncio.sleep(0.2)
            events.append("first-out")

    async def second() -> None:
        await first_inside.wait()
        started = time.monotonic()
        async with cache.lock("job", ttl=5, wait=2):
            events.append("second-in")
            waited = time.monotonic() - started
        assert waited >= 0.1

    await asyncio.gather(first(), second())
    assert events == ["first-in", "first-out", "second-in"]


async def test_lock_timeout_raises_unavailable(cache: Cache) -> None:
    async with cache.lock("busy", ttl=5, wait=1):
        started = time.monotonic()
        with pytest.raises(Unavailable) as caught:
            async with cache.lock("busy", ttl=5, wait=0.2):
                pytest.fail("acquired a held lock")
        elapsed = time.monotonic() - started
    assert caught.value.code == "lock_timeout"
    assert 0.15 <= elapsed < 1.0


async def test_lock_is_released_on_error(cache: Cache) -> None:
    with pytest.raises(RuntimeError):
        async with cache.lock("fragile", ttl=5, wait=1):
            raise RuntimeError("boom")
    async with cache.lock("fragile", ttl=5, wait=0.2):
        pass


async def test_locks_are_independent_of_data_keys(cache: Cache) -> None:
    await cache.set("shared-name", b"data")
    async with cache.lock("shared-name", ttl=5, wait=0.2):
        assert await cache.get("shared-name") == b"data"
    assert await cache.get("shared-name") == b"data"


async def test_lock_expires_when_holder_dies(cache: Cache) -> None:
    # Enter the context manager and never leave it: a holder that crashed mid-job.
    abandoned = cache.lock("orphan", ttl=0.3, wait=1)
    await abandoned.__aenter__()
    started = time.monotonic()
    async with cache.lock("orphan", ttl=5, wait=2):
        waited = time.monotonic() - started
    assert 0.1 <= waited < 1.5


async def test_is_healthy(cache: Cache) -> None:
    assert await cache.is_healthy() is True


async def test_redis_unreachable_is_reported() -> None:
    # Port 1 is never a Redis server: no real Redis is needed for this test.
    down = RedisCache("redis://127.0.0.1:1/0", socket_timeout=0.5)
    try:
        assert await down.is_healthy() is False
        with pytest.raises(Unavailable):
            await down.get("k")
        with pytest.raises(Unavailable):
            await down.incr("k", ttl=1)
        with pytest.raises(Unavailable):
            async with down.lock("k", ttl=1, wait=0.1):
                pass
    finally:
        await down.aclose()


async def test_redis_keys_are_prefixed() -> None:
    require_redis()
    prefix = f"test:{uuid.uuid4().hex}:"
    cache = RedisCache(REDIS_URL, prefix=prefix)
    try:
        await cache.set("k", b"v")
        assert await cache._client.get(prefix + "k") == b"v"
        await cache.incr("n", ttl=10)
        assert 0 < await cache._client.pttl(prefix + "n") <= 10_000
    finally:
        await _purge(cache)
        await cache.aclose()


async def test_memory_cache_stays_bounded() -> None:
    # Given a small cap, when far more keys are written than it holds (half of them expiring)
    cache = MemoryCache(max_entries=500)
    for n in range(5000):
        await cache.set(f"k{n}", b"v", ttl=0.01 if n % 2 else None)
    await asyncio.sleep(0.02)
    for n in range(1000):
        await cache.set(f"late{n}", b"v")
    # Then expired entries were swept and the size never grew past the cap
    assert len(cache._data) <= 500
    assert await cache.get("late999") == b"v"
