"""Edge rate limits: which policies a request is charged against, under which keys."""

from __future__ import annotations

import asyncio
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass

import orjson
import structlog

from okada.gateway.routes import CALLBACK, EXEMPT, OTP_REQUEST
from okada.infra.ratelimit import (
    DEFAULT_POLICIES,
    RateLimitDecision,
    RateLimiter,
    RateLimitPolicy,
    rate_limit_headers,
)
from okada.kernel.errors import OkadaError, Unavailable
from okada.kernel.phone import parse_phone

log = structlog.get_logger(__name__)

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
    "write": (LimitRule("writes", KeyKind.CALLER),),
    "read": (LimitRule("reads", KeyKind.CALLER),),
    EXEMPT: (),
}
"""Rules per rate class; ``api`` routes resolve to ``read`` or ``write`` by method."""

FAIL_CLOSED = frozenset({OTP_REQUEST})
"""Classes refused while the limiter is down: each OTP request may cost an SMS (reference B5)."""


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

    Args:
        limiter: The shared limiter (Redis in distributed mode, memory in embedded mode).
        policies: Policies by name, overriding :data:`~okada.infra.ratelimit.DEFAULT_POLICIES`.
    """

    def __init__(
        self, limiter: RateLimiter, policies: Mapping[str, RateLimitPolicy] | None = None
    ) -> None:
        self.limiter = limiter
        self.policies = {**DEFAULT_POLICIES, **(policies or {})}

    async def check(
        self,
        route_class: str,
        method: str,
        *,
        caller: str | None,
        client_ip: str,
        body: bytes,
    ) -> LimitOutcome:
        """Charge one request and say whether it may proceed.

        Args:
            route_class: The route's class.
            method: HTTP method.
            caller: The principal's user id, or None when anonymous.
            client_ip: The client's address.
            body: The request body (OTP requests are counted by its ``phone``).

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
        try:
            if len(charges) == 1:
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
        return _outcome([p for p, _ in charges], decisions)

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
