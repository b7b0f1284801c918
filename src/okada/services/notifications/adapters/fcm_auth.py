"""OAuth access tokens for FCM HTTP v1, minted from a Google service account.

FCM HTTP v1 takes a short-lived OAuth 2.0 access token (one hour), not a static server key. A
service account signs a JWT assertion (RS256, scope ``firebase.messaging``) and exchanges it at
its ``token_uri`` for an access token (RFC 7523 JWT bearer grant). We cache the token and mint a
new one five minutes before it expires; concurrent senders wait for one exchange rather than
starting many. Written by hand on httpx + PyJWT (both already dependencies) instead of
google-auth, whose transport is synchronous ``requests``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import structlog

log = structlog.get_logger(__name__)

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REFRESH_MARGIN_SECONDS = 300


class TokenUnavailable(Exception):
    """No access token could be obtained (the send is retried later)."""


@dataclass(frozen=True)
class ServiceAccount:
    """The fields of a Google service-account key file that token minting needs."""

    client_email: str
    private_key: str
    token_uri: str

    @classmethod
    def from_json(cls, text: str) -> ServiceAccount:
        """Parse the key file's JSON (as downloaded from the Google Cloud console)."""
        data: dict[str, Any] = json.loads(text)
        return cls(
            client_email=str(data["client_email"]),
            private_key=str(data["private_key"]),
            token_uri=str(data.get("token_uri") or "https://oauth2.googleapis.com/token"),
        )


class StaticToken:
    """A fixed token from settings (the simulator accepts any bearer)."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def token(self) -> str:
        return self._token


class ServiceAccountTokens:
    """Mints and caches FCM access tokens for one service account."""

    def __init__(
        self,
        account: ServiceAccount,
        client: httpx.AsyncClient,
        *,
        timeout: float = 10.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._account = account
        self._client = client
        self._timeout = timeout
        self._now = now
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        """A valid access token; exchanges a new assertion when the cached one is near expiry."""
        if self._token is not None and self._now() < self._expires_at - REFRESH_MARGIN_SECONDS:
            return self._token
        async with self._lock:
            if self._token is None or self._now() >= self._expires_at - REFRESH_MARGIN_SECONDS:
                self._token, self._expires_at = await self._exchange()
            return self._token

    async def _exchange(self) -> tuple[str, float]:
        issued = int(self._now())
        assertion = jwt.encode(
            {
                "iss": self._account.client_email,
                "scope": SCOPE,
                "aud": self._account.token_uri,
                "iat": issued,
                "exp": issued + 3600,
            },
            self._account.private_key,
            algorithm="RS256",
        )
        try:
            response = await self._client.post(
                self._account.token_uri,
                data={"grant_type": GRANT_TYPE, "assertion": assertion},
                timeout=self._timeout,
            )
            body = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("push.oauth_failed", error=type(exc).__name__)
            raise TokenUnavailable from exc
        token = body.get("access_token") if isinstance(body, dict) else None
        if response.status_code != 200 or not isinstance(token, str) or not token:
            log.warning("push.oauth_refused", status=response.status_code)
            raise TokenUnavailable
        lifetime = body.get("expires_in", 3600)
        seconds = float(lifetime) if isinstance(lifetime, int | float) else 3600.0
        return token, issued + seconds
