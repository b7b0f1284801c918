"""Rate limiting with GCRA (generic cell rate algorithm): a port, two adapters and HTTP headers.

GCRA keeps one number per key, the *theoretical arrival time* (TAT): the moment the key's bucket
would be empty again if no more requests came. A policy of ``limit`` requests per
``period_seconds`` with ``burst`` B has an emission interval ``T = period / limit`` and a
tolerance ``tau = B * T``. A request costing ``n`` is allowed when
``max(TAT, now) + n*T - tau <= now``; the TAT then advances by ``n*T``.

Properties worth knowing when choosing a policy:

* Up to ``burst`` requests pass at once, then one every ``T`` seconds: the long-run rate never
  exceeds ``limit / period``.
* Over one sliding window of ``period`` seconds the worst case is ``burst + limit - 1`` requests
  (a full burst, then the refill). Where a hard "at most N per window" is required (the OTP caps
  of the identity service), the authoritative counters are elsewhere; the gateway limits here
  are flood brakes. ``burst=1`` makes GCRA a strict N-per-window limiter at the cost of no burst.

Time is counted in whole microseconds and ``T`` is rounded *up* to a whole microsecond, so all
arithmetic is exact (integers below 2**53 even in Lua doubles): N requests in a burst of N is
exactly N, never N-1 through float drift. The rounding makes a limit stricter by < 1 us per
emission interval.

Failure policy: :meth:`RedisRateLimiter.hit` raises :class:`~okada.kernel.errors.Unavailable` when
Redis cannot be reached; it never guesses. Callers decide: OTP sending **fails closed** (no SMS
without a working limiter), reads may fail open (serve without limiting and log), writes and
provider callbacks should fail closed unless the route is explicitly marked otherwise.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from okada.infra.cache.redis import UNREACHABLE_ERRORS, make_client
from okada.kernel.errors import Unavailable

_US = 1_000_000


@dataclass(frozen=True)
class RateLimitPolicy:
    """A named limit: ``limit`` requests per ``period_seconds``, with up to ``burst`` at once.

    Attributes:
        name: Stable identifier, used in Redis keys and in the ``RateLimit*`` headers.
        limit: Requests allowed per period (the refill rate is ``limit / period_seconds``).
        period_seconds: Length of the period in seconds.
        burst: Requests allowed back to back from a full bucket; defaults to ``limit``.
    """

    name: str
    limit: int
    period_seconds: float
    burst: int | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("policy name must not be empty")
        if self.limit < 1:
            raise ValueError("limit must be at least 1")
        if self.period_seconds <= 0:
            raise ValueError("period_seconds must be positive")
        if self.burst is not None and self.burst < 1:
            raise ValueError("burst must be at least 1")

    @property
    def capacity(self) -> int:
        """The effective burst: ``burst`` or, when unset, ``limit``."""
        return self.limit if self.burst is None else self.burst

    @property
    def emission_interval_us(self) -> int:
        """Microseconds between two requests at the sustained rate, rounded up (stricter)."""
        period_us = round(self.period_seconds * _US)
        return max(1, -(-period_us // self.limit))

    @property
    def tolerance_us(self) -> int:
        """How far ahead of now the TAT may run: ``burst`` emission intervals."""
        return self.capacity * self.emission_interval_us


@dataclass(frozen=True)
class RateLimitDecision:
    """The outcome of one :meth:`RateLimiter.hit`.

    Attributes:
        allowed: Whether the request may proceed.
        limit: The policy's ``limit`` (for the ``RateLimit-Policy`` header).
        remaining: Requests that would still pass right now after this one.
        reset_after: Seconds until the bucket is full again.
        retry_after: Seconds until this request would be allowed; 0 when allowed.
    """

    allowed: bool
    limit: int
    remaining: int
    reset_after: float
    retry_after: float


class RateLimiter(Protocol):
    """Counts requests per key against a policy, atomically."""

    async def hit(self, key: str, policy: RateLimitPolicy, cost: int = 1) -> RateLimitDecision:
        """Charge ``cost`` units to ``key`` under ``policy`` and say whether that is allowed.

        A denied hit charges nothing. ``cost=0`` inspects without charging.
        """
        ...


def _check_cost(policy: RateLimitPolicy, cost: int) -> None:
    if cost < 0:
        raise ValueError("cost must not be negative")
    if cost > policy.capacity:
        # Such a request could never pass: refuse loudly instead of a 429 with no useful retry.
        raise ValueError(f"cost {cost} exceeds the burst {policy.capacity} of {policy.name!r}")


def _gcra(
    now: int, stored_tat: int | None, emission: int, tolerance: int, cost: int
) -> tuple[bool, int, int, int, int]:
    """One GCRA step in integer microseconds; the Lua script below mirrors it line for line.

    Returns:
        ``(allowed, new_tat, remaining, reset_after_us, retry_after_us)``; ``new_tat`` is the TAT
        to store (unchanged when denied).
    """
    tat = now if stored_tat is None else max(stored_tat, now)
    new_tat = tat + emission * cost
    diff = now - (new_tat - tolerance)
    if diff < 0:
        remaining = max(0, now - (tat - tolerance)) // emission
        return False, tat, remaining, tat - now, -diff
    return True, new_tat, diff // emission, new_tat - now, 0


def _decision(
    policy: RateLimitPolicy, allowed: bool, remaining: int, reset_us: int, retry_us: int
) -> RateLimitDecision:
    return RateLimitDecision(
        allowed=allowed,
        limit=policy.limit,
        remaining=remaining,
        reset_after=reset_us / _US,
        retry_after=retry_us / _US,
    )


class MemoryRateLimiter:
    """A process-local GCRA limiter for embedded mode and unit tests.

    Atomic under asyncio because :meth:`hit` never awaits between reading and writing the TAT.
    Not shared between processes: run one gateway process in embedded mode.

    Args:
        clock: Returns seconds on a monotonic scale; injectable for tests.
        sweep_every: Drop expired keys after this many hits, bounding memory.
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, *, sweep_every: int = 1024
    ) -> None:
        self._clock = clock
        self._tats: dict[str, int] = {}
        self._sweep_every = sweep_every
        self._hits = 0

    async def hit(self, key: str, policy: RateLimitPolicy, cost: int = 1) -> RateLimitDecision:
        """Charge ``cost`` to ``key`` under ``policy``; see :class:`RateLimiter`."""
        _check_cost(policy, cost)
        now = int(self._clock() * _US)
        self._maybe_sweep(now)
        full_key = f"{policy.name}:{key}"
        tat = self._tats.get(full_key)
        allowed, new_tat, remaining, reset_us, retry_us = _gcra(
            now, tat, policy.emission_interval_us, policy.tolerance_us, cost
        )
        if allowed and new_tat > now:
            self._tats[full_key] = new_tat
        return _decision(policy, allowed, remaining, reset_us, retry_us)

    def _maybe_sweep(self, now: int) -> None:
        self._hits += 1
        if self._hits % self._sweep_every:
            return
        # A TAT in the past means a full bucket: the same as no entry at all.
        for key in [k for k, tat in self._tats.items() if tat <= now]:
            del self._tats[key]


# KEYS[1]: the TAT key. ARGV: emission interval (us), tolerance (us), cost.
# Uses the Redis server clock (TIME) so every gateway process sees one timeline regardless of host
# clock skew. Redis 7 replicates script effects, so TIME before a write is allowed (older servers
# needed redis.replicate_commands()). Numbers are integral doubles < 2**53: exact.
_GCRA_SCRIPT = """
local emission = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then
  tat = math.max(tonumber(stored), now)
end
local new_tat = tat + emission * cost
local diff = now - (new_tat - tolerance)
if diff < 0 then
  local remaining = math.floor(math.max(0, now - (tat - tolerance)) / emission)
  return {0, remaining, tat - now, -diff}
end
if new_tat > now then
  -- The key is useless once the TAT has passed (bucket full), so it expires then.
  redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX',
    math.max(1, math.ceil((new_tat - now) / 1000)))
end
return {1, math.floor(diff / emission), new_tat - now, 0}
"""


class RedisRateLimiter:
    """A GCRA limiter shared by every gateway process through Redis.

    Each :meth:`hit` is one ``EVALSHA`` of a Lua script, so the read-modify-write is atomic on
    the server: limits stay exact under any concurrency across processes.

    Args:
        redis: A Redis URL (the limiter then owns and closes its client) or an existing
            ``redis.asyncio.Redis`` client (left open by :meth:`aclose`).
        prefix: Prepended to keys, which are ``<prefix><policy name>:<key>``.
        socket_timeout: Seconds for connecting, per command and for a free pooled connection,
            when given a URL.
        max_connections: Pool size, when given a URL.
    """

    def __init__(
        self,
        redis: str | object,
        *,
        prefix: str = "okada:rl:",
        socket_timeout: float = 2.0,
        max_connections: int = 50,
    ) -> None:
        # The client is typed Any for the reason given in make_client (two competing stubs).
        self._client: Any
        if isinstance(redis, str):
            self._client = make_client(
                redis, socket_timeout=socket_timeout, max_connections=max_connections
            )
            self._owns_client = True
        else:
            self._client = redis
            self._owns_client = False
        self._prefix = prefix
        # Only hashes the source; redis-py loads it on the first NOSCRIPT and uses EVALSHA.
        self._script = self._client.register_script(_GCRA_SCRIPT)

    async def hit(self, key: str, policy: RateLimitPolicy, cost: int = 1) -> RateLimitDecision:
        """Charge ``cost`` to ``key`` under ``policy``; see :class:`RateLimiter`.

        Raises:
            Unavailable: ``rate_limiter_unavailable`` when Redis cannot be reached in time.
                OTP routes must treat this as a refusal (fail closed).
            ValueError: ``cost`` is negative or larger than the policy's burst.
        """
        _check_cost(policy, cost)
        full_key = f"{self._prefix}{policy.name}:{key}"
        try:
            result: Any = await self._script(
                keys=[full_key],
                args=[policy.emission_interval_us, policy.tolerance_us, cost],
            )
        except UNREACHABLE_ERRORS as exc:
            raise Unavailable("rate_limiter_unavailable") from exc
        allowed, remaining, reset_us, retry_us = (int(v) for v in result)
        return _decision(policy, bool(allowed), remaining, reset_us, retry_us)

    async def aclose(self) -> None:
        """Close the client if this limiter created it."""
        if self._owns_client:
            await self._client.aclose()


# --- HTTP headers -------------------------------------------------------------------------------
# Syntax of draft-ietf-httpapi-ratelimit-headers-09 (same in -08 and -10): both fields are
# Structured Field Lists (RFC 9651) whose members are a String naming the policy with parameters:
#   RateLimit-Policy: "<name>";q=<quota>;w=<window seconds>
#   RateLimit:        "<name>";r=<remaining>;t=<seconds until reset>
# q, w, r and t are sf-integers (non-negative whole numbers), so seconds are rounded up.


def _sf_string(value: str) -> str:
    """Serialise ``value`` as a Structured Field String (RFC 9651 section 4.1.6)."""
    if any(not 0x20 <= ord(ch) <= 0x7E for ch in value):
        raise ValueError(f"policy name {value!r} is not printable ASCII")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _whole_seconds(seconds: float) -> int:
    # Round up: telling a client to come back too early only earns it another 429.
    return max(0, math.ceil(seconds - 1e-9))


def rate_limit_headers(policy: RateLimitPolicy, decision: RateLimitDecision) -> dict[str, str]:
    """Build the response headers for one decision.

    Args:
        policy: The policy that was applied.
        decision: Its outcome for this request.

    Returns:
        ``RateLimit-Policy`` and ``RateLimit`` (draft-ietf-httpapi-ratelimit-headers-09), plus
        ``Retry-After`` in whole seconds (at least 1) when the request was denied.
    """
    name = _sf_string(policy.name)
    window = _whole_seconds(policy.period_seconds)
    headers = {
        "RateLimit-Policy": f"{name};q={policy.limit};w={max(1, window)}",
        "RateLimit": f"{name};r={decision.remaining};t={_whole_seconds(decision.reset_after)}",
    }
    if not decision.allowed:
        headers["Retry-After"] = str(max(1, _whole_seconds(decision.retry_after)))
    return headers


# --- Standard route classes -----------------------------------------------------------------------
# Keys: OTP per phone (E.164) and per client IP; writes per principal; reads per principal (or IP
# when anonymous); provider callbacks per source IP, separate so a chatty provider cannot starve
# customers and vice versa.

OTP_REQUEST_PER_PHONE = RateLimitPolicy("otp_phone", limit=5, period_seconds=3600)
"""OTP sends per phone number: 5 per hour (reference S7)."""

OTP_REQUEST_PER_IP = RateLimitPolicy("otp_ip", limit=20, period_seconds=3600)
"""OTP sends per client IP: 20 per hour (reference S7)."""

WRITES = RateLimitPolicy("writes", limit=60, period_seconds=60)
"""Mutating requests per principal: 60 per minute."""

READS = RateLimitPolicy("reads", limit=600, period_seconds=60)
"""Read requests per principal or, when anonymous, per IP: 600 per minute."""

CALLBACKS = RateLimitPolicy("callbacks", limit=300, period_seconds=60)
"""Provider callbacks (mobile money, SMS delivery reports) per source IP: 300 per minute."""

DEFAULT_POLICIES: dict[str, RateLimitPolicy] = {
    policy.name: policy
    for policy in (OTP_REQUEST_PER_PHONE, OTP_REQUEST_PER_IP, WRITES, READS, CALLBACKS)
}
"""The standard policies by name."""

ROUTE_CLASS_POLICIES: dict[str, tuple[RateLimitPolicy, ...]] = {
    "otp_request": (OTP_REQUEST_PER_PHONE, OTP_REQUEST_PER_IP),
    "write": (WRITES,),
    "read": (READS,),
    "callback": (CALLBACKS,),
}
"""Policies applied to each route class; a request must pass every one of them.

Earlier policies are charged even when a later one denies: for OTP that is wanted (every attempt
counts against the IP too)."""

__all__ = [
    "CALLBACKS",
    "DEFAULT_POLICIES",
    "OTP_REQUEST_PER_IP",
    "OTP_REQUEST_PER_PHONE",
    "READS",
    "ROUTE_CLASS_POLICIES",
    "WRITES",
    "MemoryRateLimiter",
    "RateLimitDecision",
    "RateLimitPolicy",
    "RateLimiter",
    "RedisRateLimiter",
    "rate_limit_headers",
]
