"""Fake upstreams, a token issuer and a gateway built around them."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from jwt.algorithms import OKPAlgorithm

from okada.gateway.app import create_gateway_app
from okada.infra.cache.memory import MemoryCache
from okada.infra.hosting import ServiceDirectory
from okada.infra.security.internal import PrincipalCodec
from okada.infra.security.tokens import AUDIENCE, ISSUER, AccessTokenVerifier, JwksCache
from okada.infra.settings import Mode, PlatformSettings
from okada.kernel.ports import Cache

CLIENT_IP = "203.0.113.9"
SECRET = "gateway-test-secret"

Handler = Callable[["Seen"], "Reply | None"]


@dataclass
class Seen:
    """One request as the upstream received it."""

    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]


@dataclass
class Reply:
    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0


class FakeUpstream:
    """An ASGI app standing in for a service: records requests, answers per ``handler``.

    ``connect_error`` makes every request fail like a refused connection (the in-process
    transport lets the app's exception through, so httpx.ConnectError reaches the proxy).
    """

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler
        self.default = Reply()
        self.seen: list[Seen] = []
        self.connect_error = False

    @property
    def hits(self) -> int:
        return len(self.seen)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen = Seen(
            scope["method"],
            scope["path"],
            scope["query_string"].decode(),
            [(k.decode(), v.decode()) for k, v in scope["headers"]],
            body,
        )
        self.seen.append(seen)
        if self.connect_error:
            raise httpx.ConnectError("connection refused")
        reply = (self.handler(seen) if self.handler else None) or self.default
        if reply.delay:
            await asyncio.sleep(reply.delay)
        payload = reply.body if isinstance(reply.body, bytes) else orjson.dumps(reply.body)
        headers = [(k.lower().encode(), v.encode()) for k, v in reply.headers]
        if not any(k == b"content-type" for k, _ in headers):
            headers.append((b"content-type", b"application/json"))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


class TokenIssuer:
    """Signs access tokens the gateway's verifier accepts."""

    def __init__(self) -> None:
        self.kid = "test-kid-0001"
        self._key = Ed25519PrivateKey.generate()
        public = json.loads(OKPAlgorithm.to_jwk(self._key.public_key()))
        public.update({"kid": self.kid, "alg": "EdDSA", "use": "sig"})
        self.jwks = {"keys": [public]}

    def verifier(self) -> AccessTokenVerifier:
        async def fetch() -> dict[str, Any]:
            return self.jwks

        return AccessTokenVerifier(JwksCache(fetch))

    def token(
        self,
        user_id: uuid.UUID | None = None,
        roles: tuple[str, ...] = ("customer",),
        *,
        issued_at: int | None = None,
        ttl: int = 600,
        jti: str | None = None,
    ) -> str:
        now = int(time.time()) if issued_at is None else issued_at
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(user_id or uuid.uuid4()),
            "jti": jti or uuid.uuid4().hex,
            "iat": now,
            "exp": now + ttl,
            "roles": list(roles),
        }
        return jwt.encode(
            claims, self._key, algorithm="EdDSA", headers={"kid": self.kid, "typ": "at+jwt"}
        )

    def bearer(self, user_id: uuid.UUID | None = None) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token(user_id)}"}


def directory_with(upstreams: dict[str, Any]) -> ServiceDirectory:
    directory = ServiceDirectory(PlatformSettings(mode=Mode.EMBEDDED))
    for name, app in upstreams.items():
        directory.register_app(name, app)
    return directory


def build_gateway(
    upstreams: dict[str, Any],
    *,
    issuer: TokenIssuer | None = None,
    hosted: list[str] | None = None,
    cache: Cache | None = None,
    **options: Any,
) -> FastAPI:
    """A gateway routing to fake ``upstreams`` (hosted: their names unless given)."""
    issuer = issuer or TokenIssuer()
    directory = directory_with(upstreams)
    app = create_gateway_app(
        directory=directory,
        services=hosted if hosted is not None else list(upstreams),
        verifier=issuer.verifier(),
        codec=PrincipalCodec(SECRET),
        cache=cache or MemoryCache(),
        access_log=False,
        **options,
    )
    app.state.directory = directory
    return app


@asynccontextmanager
async def client_for(app: FastAPI, ip: str = CLIENT_IP) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        yield client
    await app.state.directory.aclose()
