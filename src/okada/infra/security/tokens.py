"""Access-token verification against the identity service's JWKS."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
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


class AccessTokenVerifier:
    """Checks Okada access tokens: signature first, then type, issuer, audience and times."""

    def __init__(self, jwks: JwksCache, *, audience: str = AUDIENCE, issuer: str = ISSUER):
        self.jwks = jwks
        self.audience = audience
        self.issuer = issuer

    async def verify(self, token: str) -> Principal:
        """Return the principal of a valid access token, else raise :class:`Unauthenticated`."""
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
        except jwt.PyJWTError as exc:
            raise Unauthenticated() from exc
        return principal_from_claims(claims)


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
