"""Edge rate limits: which policies a request is charged against, under which keys."""

from __future__ import annotations

import asyncio
import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import structlog

from okada.gateway.routes import CALLBACK, EXEMPT, MONEY, OTP_REQUEST
from okada.infra.cache.redis import RedisCache
from okada.infra.ratelimit import (
    _GCRA_SCRIPT,
    DEFAULT_POLICIES,
    RateLimitDecision,
    RateLimiter,
    RateLimitPolicy,
    RedisRateLimiter,
    _check_cost,
    _decision,
    rate_limit_headers,
)
from okada.kernel.errors import OkadaError, Unavailable
from okada.kernel.phone import parse_phone
from okada.kernel.ports import Cache

log = structlog.get_logger(__name__)

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

MONEY_POLICY = RateLimitPolicy("money", limit=30, period_seconds=60, burst=10)
"""Requests that move money, per principal: 30 per minute, 10 back to back (ordinary writes
allow 60 per minute). A customer places or cancels a handful of orders an hour; a script
trying stolen cards or hammering a provider does not get far."""

GATEWAY_POLICIES: dict[str, RateLimitPolicy] = {**DEFAULT_POLICIES, MONEY_POLICY.name: MONEY_POLICY}
"""The gateway's policies by name: the platform's standard ones plus :data:`MONEY_POLICY`."""


class KeyKind(enum.Enum):
    """What a limit counts by."""

    CALLER = "caller"  # the principal when authenticated, else the client IP
    IP = "ip"
    PHONE = "phone"  # the phone number in the JSON body, normalised


@dataclass(frozen=True, slots=True)
class LimitRule:
    """One policy (by name) applied to a request, counted by ``key``."""

    policy: str
    key: KeyKind


CLASS_RULES: dict[str, tuple[LimitRule, ...]] = {
    OTP_REQUEST: (LimitRule("otp_phone", KeyKind.PHONE), LimitRule("otp_ip", KeyKind.IP)),
    CALLBACK: (LimitRule("callbacks", KeyKind.IP),),
    MONEY: (LimitRule("money", KeyKind.CALLER),),
    "write": (LimitRule("writes", KeyKind.CALLER),),
    "read": (LimitRule("reads", KeyKind.CALLER),),
    EXEMPT: (),
}
"""Rules per rate class; ``api`` routes resolve to ``read`` or ``write`` by method."""

FAIL_CLOSED = frozenset({OTP_REQUEST})
"""Classes refused while the limiter is down: each OTP request may cost an SMS (reference B5).
Money routes fail open like other writes: the services' own idempotency and business rules
still apply, and refusing every order during a Redis blip would stop the business."""


@dataclass(frozen=True, slots=True)
class LimitOutcome:
    """The verdict on one request.

    Attributes:
        allowed: Whether the request may proceed.
        headers: ``RateLimit-Policy``/``RateLimit`` (and ``Retry-After`` when denied).
        retry_after: Whole seconds before retrying; 0 when allowed.
    """

    allowed: bool
    headers: list[tuple[bytes, bytes]]
    retry_after: int = 0
    read: list[bytes | None] | None = None
    """Values of the cache keys the caller asked to read along (None: not read)."""


ALLOWED_UNLIMITED = LimitOutcome(True, [])


def rate_class(route_class: str, method: str) -> str:
    """Return the rate class of a request: the route's, or ``read``/``write`` by method."""
    if route_class in CLASS_RULES:
        return route_class
    return "read" if method in READ_METHODS else "write"


def phone_key(body: bytes) -> str | None:
    """Return the normalised phone number of a JSON body's ``phone`` field, if any.

    ``6 77 12 34 56``, ``677123456`` and ``+237677123456`` all give ``+237677123456``; a number
    we cannot parse falls back to its digits, so reformatting cannot dodge the limit.
    """
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None
    raw = data.get("phone") if isinstance(data, dict) else None
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        return parse_phone(raw).e164
    except OkadaError:
        digits = re.sub(r"\D", "", raw)
        return digits or None


class EdgeRateLimiter:
    """Charges each request to the policies of its rate class and renders the headers.

    When the limiter is a :class:`RedisRateLimiter` and ``cache`` a :class:`RedisCache` on the
    same Redis server, a request charged to one policy also reads the cache keys it asks for
    (the token revocation keys) in the same script call: one Redis round trip per request
    instead of two. The GCRA step is the limiter's own script, on the limiter's keys, so the
    limits stay exact and shared with gateways that take the plain path.

    Args:
        limiter: The shared limiter (Redis in distributed mode, memory in embedded mode).
        policies: Policies by name, overriding :data:`GATEWAY_POLICIES`.
        cache: The shared cache the extra reads come from.
    """

    def __init__(
        self,
        limiter: RateLimiter,
        policies: Mapping[str, RateLimitPolicy] | None = None,
        *,
        cache: Cache | None = None,
    ) -> None:
        self.limiter = limiter
        self.policies = {**GATEWAY_POLICIES, **(policies or {})}
        self._together = _RedisTogether.for_(limiter, cache)

    async def check(
        self,
        route_class: str,
        method: str,
        *,
        caller: str | None,
        client_ip: str,
        body: bytes,
        read: Sequence[str] = (),
    ) -> LimitOutcome:
        """Charge one request and say whether it may proceed.

        Args:
            route_class: The route's class.
            method: HTTP method.
            caller: The principal's user id, or None when anonymous.
            client_ip: The client's address.
            body: The request body (OTP requests are counted by its ``phone``).
            read: Cache keys to read in the same round trip where possible; their values
                are in :attr:`LimitOutcome.read` (None there when they were not read).

        Raises:
            Unavailable: ``rate_limiter_unavailable`` when the limiter fails on a fail-closed
                class (OTP); other classes are let through with a warning in the log.
        """
        klass = rate_class(route_class, method)
        charges: list[tuple[RateLimitPolicy, str]] = []
        for rule in CLASS_RULES[klass]:
            key = self._key(rule.key, caller, client_ip, body)
            if key is not None:
                charges.append((self.policies[rule.policy], key))
        if not charges:
            return ALLOWED_UNLIMITED
        values: list[bytes | None] | None = None
        try:
            if len(charges) == 1 and read and self._together is not None:
                decision, values = await self._together.hit(charges[0][1], charges[0][0], read)
                decisions = [decision]
            elif len(charges) == 1:
                decisions = [await self.limiter.hit(charges[0][1], charges[0][0])]
            else:
                decisions = list(
                    await asyncio.gather(*(self.limiter.hit(k, p) for p, k in charges))
                )
        except Exception as exc:
            if klass in FAIL_CLOSED:
                log.warning("gateway.rate_limiter_failed_closed", rate_class=klass,
                            error=repr(exc))
                raise Unavailable("rate_limiter_unavailable", retry_after=30) from exc
            log.warning("gateway.rate_limiter_failed_open", rate_class=klass, error=repr(exc))
            return ALLOWED_UNLIMITED
        outcome = _outcome([p for p, _ in charges], decisions)
        if values is not None:
            return LimitOutcome(outcome.allowed, outcome.headers, outcome.retry_after, values)
        return outcome

    @staticmethod
    def _key(kind: KeyKind, caller: str | None, client_ip: str, body: bytes) -> str | None:
        if kind is KeyKind.CALLER:
            return f"u:{caller}" if caller else f"ip:{client_ip}"
        if kind is KeyKind.IP:
            return f"ip:{client_ip}"
        phone = phone_key(body)
        return f"phone:{phone}" if phone else None


def _outcome(policies: list[RateLimitPolicy], decisions: list[RateLimitDecision]) -> LimitOutcome:
    denied = [(p, d) for p, d in zip(policies, decisions, strict=True) if not d.allowed]
    if denied:
        # The policy that keeps the caller out longest is the one to report.
        policy, decision = max(denied, key=lambda pd: pd[1].retry_after)
        headers = rate_limit_headers(policy, decision)
        return LimitOutcome(
            False,
            [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            int(headers["Retry-After"]),
        )
    rendered = [rate_limit_headers(p, d) for p, d in zip(policies, decisions, strict=True)]
    # Both fields are Structured Field Lists, so several policies join into one field each.
    return LimitOutcome(
        True,
        [
            (b"ratelimit-policy", ", ".join(h["RateLimit-Policy"] for h in rendered).encode()),
            (b"ratelimit", ", ".join(h["RateLimit"] for h in rendered).encode()),
        ],
    )


_TOGETHER_SCRIPT = (
    "local function gcra()\n"
    + _GCRA_SCRIPT
    + "\nend\n"
    + "local result = gcra()\n"
    + "for i = 2, #KEYS do\n"
    + "  result[#result + 1] = redis.call('GET', KEYS[i])\n"
    + "end\n"
    + "return result\n"
)
"""The limiter's GCRA script run unchanged as a function on ``KEYS[1]``, then a GET of every
further key (false, i.e. nil, when absent), all in one call."""


def _server(client: Any) -> tuple[Any, ...]:
    kwargs = client.connection_pool.connection_kwargs
    return (kwargs.get("host"), kwargs.get("port"), kwargs.get("path"), kwargs.get("db", 0))


class _RedisTogether:
    """One EVALSHA that charges a GCRA policy and reads cache keys (see EdgeRateLimiter)."""

    def __init__(self, limiter: RedisRateLimiter, cache: RedisCache) -> None:
        # Same package family, deliberately coupled: the limiter's client, key prefix and
        # decision rules are reused as they are, so this path and RedisRateLimiter.hit agree.
        self._client: Any = limiter._client
        self._prefix: str = limiter._prefix
        self._cache_prefix = cache.prefix
        self._script = self._client.register_script(_TOGETHER_SCRIPT)

    @classmethod
    def for_(cls, limiter: RateLimiter, cache: Cache | None) -> _RedisTogether | None:
        if not isinstance(limiter, RedisRateLimiter) or not isinstance(cache, RedisCache):
            return None
        try:
            if _server(limiter._client) != _server(cache._client):
                return None
        except AttributeError:
            return None
        return cls(limiter, cache)

    async def hit(
        self, key: str, policy: RateLimitPolicy, read: Sequence[str]
    ) -> tuple[RateLimitDecision, list[bytes | None]]:
        _check_cost(policy, 1)
        keys = [f"{self._prefix}{policy.name}:{key}", *(self._cache_prefix + k for k in read)]
        result: Any = await self._script(
            keys=keys, args=[policy.emission_interval_us, policy.tolerance_us, 1]
        )
        allowed, remaining, reset_us, retry_us = (int(v) for v in result[:4])
        values: list[bytes | None] = list(result[4:])
        values += [None] * (len(read) - len(values))  # a trailing nil may be dropped
        return _decision(policy, bool(allowed), remaining, reset_us, retry_us), values
