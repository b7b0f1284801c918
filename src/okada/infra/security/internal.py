"""The verified principal as the gateway hands it to services, signed so nobody can forge it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid

import orjson

from okada.kernel.authz import Principal, roles_from

_REMEMBERED = 10_000
PRINCIPAL_HEADER = "x-okada-principal"
INTERNAL_HEADERS = (PRINCIPAL_HEADER, "x-okada-internal")
"""Headers only the gateway may set; it strips them from every incoming request."""


class PrincipalCodec:
    """Signs and verifies the principal header with the shared internal secret (HMAC-SHA256).

    Business rule: services never trust a principal header blindly. The header carries an
    expiry (the access token's) and a MAC over the exact bytes; a header that does not verify
    is ignored and the request is treated as anonymous.
    """

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"okada-principal:" + secret.encode()).digest()
        self._verified: dict[str, tuple[Principal, float]] = {}

    def encode(
        self, principal: Principal, *, ttl: float = 600.0, expires_at: float | None = None
    ) -> str:
        """Return the header value for ``principal``, valid ``ttl`` seconds or until
        ``expires_at`` (Unix seconds) when given."""
        body = orjson.dumps(
            {
                "sub": str(principal.user_id),
                "roles": sorted(r.value for r in principal.roles),
                "stores": sorted(str(s) for s in principal.store_ids),
                "jti": principal.token_id,
                "sid": str(principal.session_family) if principal.session_family else None,
                "exp": int(expires_at if expires_at is not None else time.time() + ttl),
            }
        )
        payload = base64.urlsafe_b64encode(body).rstrip(b"=").decode()
        mac = hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()
        return f"{payload}.{mac}"

    def decode(self, value: str | None) -> Principal | None:
        """Return the principal of a valid header, else None.

        A client sends the same header on every request of a session, so verified headers
        are remembered (bounded) and only their expiry is checked again.
        """
        if not value or "." not in value:
            return None
        remembered = self._verified.get(value)
        if remembered is not None:
            principal, expires = remembered
            return principal if expires >= time.time() else None
        principal_and_expiry = self._verify(value)
        if principal_and_expiry is None:
            return None
        if len(self._verified) >= _REMEMBERED:
            self._verified.clear()  # crude but bounded; a miss only costs one HMAC
        self._verified[value] = principal_and_expiry
        return principal_and_expiry[0]

    def _verify(self, value: str) -> tuple[Principal, float] | None:
        payload, _, mac = value.rpartition(".")
        expected = hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, expected):
            return None
        try:
            data = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            expires = float(data["exp"])
            if expires < time.time():
                return None
            return Principal(
                user_id=uuid.UUID(data["sub"]),
                roles=roles_from(data.get("roles", [])),
                store_ids=frozenset(uuid.UUID(s) for s in data.get("stores", [])),
                token_id=data.get("jti"),
                session_family=uuid.UUID(data["sid"]) if data.get("sid") else None,
            ), expires
        except (ValueError, KeyError, TypeError):
            return None
