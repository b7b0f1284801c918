"""Access-token verification against the identity service's JWKS."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jwt
import structlog
from jwt.algorithms import OKPAlgorithm

from okada.kernel.authz import Principal, roles_from
from okada.kernel.errors import Unauthenticated

log = structlog.get_logger(__name__)

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type, not a secret
ALLOWED_ALGORITHMS = ("EdDSA",)
"""Pinned: the algorithm comes from our key, never from the token header, which blocks
``alg: none`` and HMAC-keyed-with-the-public-key confusion."""
ISSUER = "https://auth.okada.cm"
AUDIENCE = "okada-api"
LEEWAY_SECONDS = 30
_KID = re.compile(r"^[A-Za-z0-9_\-]{8,64}$")

JwksFetcher = Callable[[], Awaitable[dict[str, Any]]]


class JwksCache:
    """Public keys by ``kid``, refreshed on expiry and on an unknown ``kid`` (rate-limited)."""

    def __init__(self, fetch: JwksFetcher, *, ttl: float = 300.0, min_refresh: float = 10.0):
        self._fetch = fetch
        self._ttl = ttl
        self._min_refresh = min_refresh
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    def load(self, jwks: dict[str, Any]) -> None:
        """Replace the cached keys with a JWKS document."""
        keys: dict[str, Any] = {}
        for jwk in jwks.get("keys", []):
            if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519" and "kid" in jwk:
                keys[jwk["kid"]] = OKPAlgorithm.from_jwk(json.dumps(jwk))
        self._keys = keys
        self._fetched_at = time.monotonic()

    def knows(self, kid: str) -> bool:
        """Return whether ``kid`` is among the cached keys (no refresh)."""
        return kid in self._keys

    async def key(self, kid: str) -> Any:
        """Return the key for ``kid`` or raise :class:`Unauthenticated`."""
        age = time.monotonic() - self._fetched_at
        stale = age > self._ttl
        if (kid not in self._keys and (age > self._min_refresh or not self._keys)) or stale:
            await self._refresh()
        key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated("unauthenticated")
        return key

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._fetched_at < 0.5 and self._keys:
                return  # another task refreshed while we waited
            try:
                self.load(await self._fetch())
            except Exception as exc:  # keep serving the keys we have
                log.warning("jwks.refresh_failed", error=repr(exc))
                self._fetched_at = time.monotonic() - self._ttl + self._min_refresh


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """An access token whose signature and claims were checked.

    Attributes:
        principal: Who the token speaks for.
        issued_at: The ``iat`` claim (Unix seconds): compared with a user's "not before".
        expires_at: The ``exp`` claim (Unix seconds).
        kid: The signing key's id.
    """

    principal: Principal
    issued_at: float
    expires_at: float
    kid: str


DEFAULT_VERIFIED_CACHE = 10_000


class AccessTokenVerifier:
    """Checks Okada access tokens: signature first, then type, issuer, audience and times.

    Verified tokens are remembered (a bounded LRU keyed by the exact token string) until
    their ``exp``: a client sends the same token on every request for its whole life, and the
    signature check plus PyJWT's parsing is most of the cost of authenticating a request.
    Only a byte-identical string can hit the memory, so a forged or altered token is always
    verified in full; a remembered token is dropped as soon as its key leaves the JWKS.
    Revocation (deny-list, per-user "not before") is *not* remembered: callers check it per
    request (see :mod:`okada.infra.security.revocation`).

    Args:
        jwks: The identity service's keys.
        audience: Required ``aud``.
        issuer: Required ``iss``.
        cache_size: Verified tokens remembered; 0 disables the memory.
        clock: Unix seconds; injectable for tests.
    """

    def __init__(
        self,
        jwks: JwksCache,
        *,
        audience: str = AUDIENCE,
        issuer: str = ISSUER,
        cache_size: int = DEFAULT_VERIFIED_CACHE,
        clock: Callable[[], float] = time.time,
    ):
        self.jwks = jwks
        self.audience = audience
        self.issuer = issuer
        self._cache_size = cache_size
        self._clock = clock
        self._verified: OrderedDict[str, VerifiedToken] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        """Return the principal of a valid access token, else raise :class:`Unauthenticated`."""
        return (await self.verify_token(token)).principal

    async def verify_token(self, token: str) -> VerifiedToken:
        """Return the verified token, else raise :class:`Unauthenticated`."""
        remembered = self._verified.get(token)
        if remembered is not None:
            if remembered.expires_at > self._clock() and self.jwks.knows(remembered.kid):
                self._verified.move_to_end(token)
                return remembered
            del self._verified[token]
        verified = await self._verify(token)
        if self._cache_size > 0:
            if len(self._verified) >= self._cache_size:
                self._verified.popitem(last=False)
            self._verified[token] = verified
        return verified

    async def _verify(self, token: str) -> VerifiedToken:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated() from exc
        kid = header.get("kid")
        if not isinstance(kid, str) or not _KID.match(kid):
            raise Unauthenticated()
        if header.get("alg") not in ALLOWED_ALGORITHMS or header.get("typ") != ACCESS_TOKEN_TYPE:
            raise Unauthenticated()
        key = await self.jwks.key(kid)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=list(ALLOWED_ALGORITHMS),
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
            )
            issued_at = float(claims["iat"])
            expires_at = float(claims["exp"])
        except (jwt.PyJWTError, TypeError, ValueError) as exc:
            raise Unauthenticated() from exc
        return VerifiedToken(principal_from_claims(claims), issued_at, expires_at, kid)


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """Build a principal from verified claims."""
    try:
        return Principal(
            user_id=uuid.UUID(str(claims["sub"])),
            roles=roles_from(claims.get("roles", [])),
            store_ids=frozenset(uuid.UUID(s) for s in claims.get("stores", [])),
            token_id=str(claims["jti"]),
            session_family=uuid.UUID(claims["sid"]) if claims.get("sid") else None,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise Unauthenticated() from exc
