"""Ending sessions at once: the per-user "not before" marker every verifier reads.

Access tokens are self-contained, so revoking the refresh-token families is not enough to stop
a live access token. The gateway and every service refuse a token whose ``iat`` is before the
Unix time stored under ``user-nbf:<user_id>`` (the key format of
``okada.infra.security.revocation``, which reads it).
"""

from __future__ import annotations

import datetime as dt
import uuid

import structlog

from okada.kernel.ports import Cache

log = structlog.get_logger(__name__)


async def refuse_tokens_issued_before(
    cache: Cache, user_id: uuid.UUID, at: dt.datetime, *, ttl: float
) -> None:
    """Refuse every access token of ``user_id`` issued before ``at``, for ``ttl`` seconds.

    ``ttl`` must outlast the access-token lifetime (older tokens have expired by then). A cache
    failure is logged, not raised: the refresh tokens are already revoked in the database and
    the access tokens die at their (short) expiry.
    """
    try:
        # ``iat`` has one-second resolution: round up so a token issued in the same second as
        # the revocation is refused too (a new login a second later passes).
        not_before = int(at.timestamp()) + 1
        await cache.set(f"user-nbf:{user_id}", str(not_before).encode(), ttl=ttl)
    except Exception as exc:  # the database change stands; see the docstring
        log.warning("identity.not_before_marker_failed", error=type(exc).__name__)
