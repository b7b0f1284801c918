"""In-memory cache for embedded mode and unit tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from okada.kernel.errors import Unavailable


class MemoryCache:
    """A process-local cache with expiry, counters and locks.

    Same contract as the Redis adapter; values are bytes so callers serialise exactly as
    they would for Redis.
    """

    SWEEP_EVERY = 1000
    """Writes between two sweeps of expired entries (keeps memory bounded without a task)."""

    def __init__(self, *, max_entries: int = 200_000) -> None:
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._locks: dict[str, tuple[object, float]] = {}
        self._monotonic = time.monotonic
        self._max_entries = max_entries
        self._writes = 0

    def _after_write(self) -> None:
        self._writes += 1
        if self._writes % self.SWEEP_EVERY and len(self._data) <= self._max_entries:
            return
        now = self._monotonic()
        for key in [k for k, (_, exp) in self._data.items() if exp is not None and exp <= now]:
            del self._data[key]
        # Still too big: drop the oldest entries (dicts keep insertion order).
        excess = len(self._data) - self._max_entries
        for key in list(self._data)[: max(0, excess)]:
            del self._data[key]

    def _alive(self, key: str) -> tuple[bytes, float | None] | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] is not None and item[1] <= self._monotonic():
            del self._data[key]
            return None
        return item

    async def get(self, key: str) -> bytes | None:
        """Return the stored value or None."""
        item = self._alive(key)
        return item[0] if item else None

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        """Store ``value`` for ``ttl`` seconds (forever when None)."""
        self._data[key] = (value, self._monotonic() + ttl if ttl else None)
        self._after_write()

    async def delete(self, *keys: str) -> int:
        """Delete keys; return how many existed."""
        return sum(1 for key in keys if self._alive(key) and self._data.pop(key, None))

    async def incr(self, key: str, *, ttl: float) -> int:
        """Increment a counter; its window starts at the first increment."""
        item = self._alive(key)
        if item is None:
            self._data[key] = (b"1", self._monotonic() + ttl)
            self._after_write()
            return 1
        value = int(item[0]) + 1
        self._data[key] = (str(value).encode(), item[1])
        return value

    @asynccontextmanager
    async def lock(self, key: str, *, ttl: float, wait: float = 5.0) -> AsyncIterator[None]:
        """Hold a named lock for at most ``ttl`` seconds, like the Redis lock.

        A holder that never leaves (a stuck task) loses the lock when ``ttl`` passes, so the
        contract is the same in both modes. Raises :class:`Unavailable` if not acquired
        within ``wait`` seconds.
        """
        token = object()
        deadline = self._monotonic() + wait
        while True:
            now = self._monotonic()
            held = self._locks.get(key)
            if held is None or held[1] <= now:
                self._locks[key] = (token, now + ttl)
                break
            if now >= deadline:
                raise Unavailable("lock_timeout")
            await asyncio.sleep(min(0.01, max(0.0, deadline - now)))
        try:
            yield
        finally:
            held = self._locks.get(key)
            if held is not None and held[0] is token:
                del self._locks[key]

    async def is_healthy(self) -> bool:
        """Always reachable."""
        return True
