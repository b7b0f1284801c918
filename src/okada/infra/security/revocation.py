"""Access-token revocation: the ``jti`` deny-list and the per-user "not before" marker.

Access tokens are self-contained and live 10 minutes, so ending a session at once needs
state that every verifier reads on every request (reference B2/B4, battery S6):

* ``jti-deny:<jti>``: written by identity at logout (TTL = the token's remaining life);
  that one token is refused.
* ``user-nbf:<user_id>``: Unix seconds (decimal ASCII). Every token of that user issued
  *before* it (``iat`` < value) is refused: written when an account is disabled or all its
  sessions are ended, with a TTL of at least the access-token lifetime (older tokens have
  expired by then anyway). ``iat`` has one-second resolution, so a token issued in the same
  second as the marker still passes; a disabled account cannot obtain new tokens.

The gateway checks both for every authenticated request, and so does every service for a
bearer token that reaches it directly; the gateway's signed principal header carries a
principal the gateway has already checked.

Failure policy: when the cache cannot be read the request is let through (and logged): a
cache outage must not lock every customer out, and the token still dies at its expiry.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import structlog

from okada.infra.cache.redis import RedisCache
from okada.infra.security.tokens import VerifiedToken
from okada.kernel.ports import Cache

log = structlog.get_logger(__name__)

DENY_LIST_PREFIX = "jti-deny:"
USER_NOT_BEFORE_PREFIX = "user-nbf:"


def deny_list_key(jti: str) -> str:
    """Cache key that refuses the access token with id ``jti``."""
    return DENY_LIST_PREFIX + jti


def user_not_before_key(user_id: uuid.UUID | str) -> str:
    """Cache key holding the time before which ``user_id``'s tokens are refused."""
    return f"{USER_NOT_BEFORE_PREFIX}{user_id}"


async def mark_user_not_before(cache: Cache, user_id: uuid.UUID, at: float, *, ttl: float) -> None:
    """Refuse every token of ``user_id`` issued before ``at`` (Unix seconds) for ``ttl`` s."""
    await cache.set(user_not_before_key(user_id), str(int(at)).encode(), ttl=ttl)


def revocation_keys(token: VerifiedToken) -> list[str]:
    """The keys to read for ``token``: its user's marker, then its ``jti`` when it has one."""
    keys = [user_not_before_key(token.principal.user_id)]
    if token.principal.token_id:
        keys.append(deny_list_key(token.principal.token_id))
    return keys


def is_revoked_by(token: VerifiedToken, values: list[bytes | None]) -> bool:
    """Decide from the values of :func:`revocation_keys` (same order)."""
    not_before = values[0]
    if not_before is not None:
        try:
            if token.issued_at < float(not_before):
                return True
        except ValueError:
            return True  # an unreadable marker was still written to stop this user
    return len(values) > 1 and values[1] is not None


async def fetch_many(cache: Cache, keys: list[str]) -> list[bytes | None]:
    """Read several keys in one round trip where the cache allows it.

    On :class:`RedisCache` one ``MGET`` (one round trip, one redis-py call: the client's CPU
    per command is what a request pays); elsewhere (the in-process cache) one ``get`` each.
    """
    if isinstance(cache, RedisCache):
        client: Any = cache._client  # the port has no multi-get; same package, same prefixing
        values: list[bytes | None] = await client.mget([cache.prefix + k for k in keys])
        return values
    return list(await asyncio.gather(*(cache.get(k) for k in keys)))


async def is_revoked(cache: Cache, token: VerifiedToken) -> bool:
    """Return whether ``token`` was logged out or its user's tokens were cut off.

    Fails open (False) when the cache cannot be read; see the module docstring.
    """
    try:
        values = await fetch_many(cache, revocation_keys(token))
    except Exception as exc:
        log.warning("auth.revocation_check_failed", error=repr(exc))
        return False
    return is_revoked_by(token, values)
