"""Redis cache adapter: the distributed implementation of the ``Cache`` port.

Same contract as :class:`~okada.infra.cache.memory.MemoryCache`. Every key is prefixed so several
deployments (and test runs) can share one Redis database. Connection failures and timeouts are
raised as :class:`~okada.kernel.errors.Unavailable` so callers can choose to fail closed (OTP
counters) or open (caches of derived data) without knowing about redis-py.
"""

from __future__ import annotations

import asyncio
import math
import random
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from okada.kernel.errors import Unavailable

log = structlog.get_logger(__name__)

# Errors that mean "Redis is not reachable right now" (as opposed to a bug such as a bad script).
# OSError covers refused connections raised before redis-py wraps them.
UNREACHABLE_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    TimeoutError,
)

# INCR and PEXPIRE in one script so the window expiry can never be lost between the two commands
# (a counter without expiry would lock a phone number out forever). The PTTL check also repairs a
# counter that somehow lost its expiry.
_INCR_SCRIPT = """
local value = redis.call('INCR', KEYS[1])
if value == 1 or redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return value
"""

# Compare-and-delete: only the holder of the random token may release the lock, so a holder that
# overran its ttl cannot release a lock another process has since acquired.
_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_LOCK_POLL_MIN = 0.005
_LOCK_POLL_MAX = 0.1


def _ms(seconds: float) -> int:
    """Convert seconds to whole milliseconds, rounding up so a short ttl never becomes zero."""
    return max(1, math.ceil(seconds * 1000))


def make_client(url: str, *, socket_timeout: float = 2.0, max_connections: int = 50) -> Any:
    """Create a redis-py asyncio client whose every call is bounded in time.

    The pool blocks (up to ``socket_timeout``) when all ``max_connections`` are busy instead of
    failing at once, so a burst of concurrent requests queues briefly rather than erroring. One
    retry absorbs a stale pooled connection after a Redis restart; more would only delay the
    moment callers learn Redis is down (OTP sending must fail closed quickly).

    Args:
        url: A ``redis://`` or ``rediss://`` URL.
        socket_timeout: Seconds allowed for connecting, for each command and for waiting for a
            free pooled connection.
        max_connections: Size of the connection pool.

    Returns:
        A ``redis.asyncio.Redis`` owning its pool; no connection is opened until the first
        command. Typed ``Any`` because redis-py 8 ships inline types while the stale
        ``types-redis`` 4.6 stubs (if installed) shadow them with a different, generic ``Redis``;
        ``Any`` type-checks under both.
    """
    # Any-typed for the stubs reason above (the 4.6 stubs lack ``from_pool``, added in redis 5).
    pool: Any = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=socket_timeout,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
        retry=Retry(ExponentialBackoff(cap=0.1, base=0.01), 1),
        decode_responses=False,
    )
    redis_class: Any = Redis
    # from_pool: the client owns the pool, so aclose() disconnects it too.
    return redis_class.from_pool(pool)


class RedisCache:
    """A Redis-backed cache with expiry, atomic counters and distributed locks.

    Args:
        url: Redis URL, e.g. ``redis://127.0.0.1:6379/0``.
        prefix: Prepended to every key (locks live under ``<prefix>lock:``).
        socket_timeout: Seconds allowed for connecting, for each command and for a free
            pooled connection.
        max_connections: Size of the connection pool.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "okada:",
        socket_timeout: float = 2.0,
        max_connections: int = 50,
    ) -> None:
        self._client: Any = make_client(
            url, socket_timeout=socket_timeout, max_connections=max_connections
        )
        self._prefix = prefix
        self._timeout = socket_timeout
        # register_script only hashes the source; the script is loaded lazily on NOSCRIPT.
        self._incr = self._client.register_script(_INCR_SCRIPT)
        self._release = self._client.register_script(_RELEASE_SCRIPT)

    @property
    def prefix(self) -> str:
        """The prefix prepended to every key."""
        return self._prefix

    def _key(self, key: str) -> str:
        return self._prefix + key

    async def get(self, key: str) -> bytes | None:
        """Return the stored value or None.

        Raises:
            Unavailable: Redis is unreachable.
        """
        try:
            value: bytes | None = await self._client.get(self._key(key))
        except UNREACHABLE_ERRORS as exc:
            raise Unavailable("cache_unavailable") from exc
        return value

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        """Store ``value`` for ``ttl`` seconds (forever when None or 0, like MemoryCache).

        Raises:
            Unavailable: Redis is unreachable.
        """
        try:
            if ttl:
                await self._client.set(self._key(key), value, px=_ms(ttl))
            else:
                await self._client.set(self._key(key), value)
        except UNREACHABLE_ERRORS as exc:
            raise Unavailable("cache_unavailable") from exc

    async def delete(self, *keys: str) -> int:
        """Delete keys; return how many existed.

        Raises:
            Unavailable: Redis is unreachable.
        """
        if not keys:
            return 0
        try:
            count: int = await self._client.delete(*(self._key(key) for key in keys))
        except UNREACHABLE_ERRORS as exc:
            raise Unavailable("cache_unavailable") from exc
        return count

    async def incr(self, key: str, *, ttl: float) -> int:
        """Increment a counter; its ``ttl``-second window starts at the first increment.

        Raises:
            Unavailable: Redis is unreachable (OTP callers must then refuse to send).
        """
        try:
            value: Any = await self._incr(keys=[self._key(key)], args=[_ms(ttl)])
        except UNREACHABLE_ERRORS as exc:
            raise Unavailable("cache_unavailable") from exc
        return int(value)

    @asynccontextmanager
    async def lock(self, key: str, *, ttl: float, wait: float = 5.0) -> AsyncIterator[None]:
        """Hold a distributed lock for at most ``ttl`` seconds, waiting up to ``wait`` for it.

        The lock expires after ``ttl`` even if the holder dies, so ``ttl`` must exceed the
        longest time the body can take. Single-instance Redis locking: good for avoiding
        duplicate work, not a fencing guarantee for correctness (use database constraints).

        Raises:
            Unavailable: ``lock_timeout`` if not acquired within ``wait`` seconds, or
                ``cache_unavailable`` if Redis is unreachable.
        """
        name = self._key("lock:" + key)
        token = secrets.token_hex(16).encode()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        delay = _LOCK_POLL_MIN
        while True:
            try:
                acquired = await self._client.set(name, token, nx=True, px=_ms(ttl))
            except UNREACHABLE_ERRORS as exc:
                raise Unavailable("cache_unavailable") from exc
            if acquired:
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise Unavailable("lock_timeout")
            # Jittered exponential polling: waiters on one lock do not poll in lockstep.
            await asyncio.sleep(min(remaining, delay * (0.5 + random.random())))
            delay = min(delay * 2, _LOCK_POLL_MAX)
        try:
            yield
        finally:
            await self._release_lock(name, token)

    async def _release_lock(self, name: str, token: bytes) -> None:
        try:
            released = await self._release(keys=[name], args=[token])
        except UNREACHABLE_ERRORS as exc:
            # Do not mask the body's own outcome: the ttl frees the lock anyway.
            log.warning("cache.lock_release_failed", lock=name, error=repr(exc))
            return
        if not released:
            log.warning("cache.lock_expired_before_release", lock=name)

    async def is_healthy(self) -> bool:
        """Return whether Redis answers PING within the socket timeout."""
        try:
            async with asyncio.timeout(self._timeout):
                return bool(await self._client.ping())
        except Exception:
            return False

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
