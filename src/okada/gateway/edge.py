"""The gateway's request path as raw ASGI: route, authenticate, limit, cache, forward."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import structlog
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from okada.gateway.caching import CachedResponse, ResponseCache, cache_tags, cacheable_query
from okada.gateway.compression import negotiate_encoding
from okada.gateway.proxy import UpstreamProxy, UpstreamResponse, upstream_headers
from okada.gateway.ratelimiting import EdgeRateLimiter
from okada.gateway.routes import LOCAL_SERVICE, Route, match_route
from okada.infra.http.problems import STATUS_BY_KIND, problem_response
from okada.infra.i18n import negotiate
from okada.infra.observability.context import request_id_var, traceparent_var
from okada.infra.security.internal import PrincipalCodec
from okada.infra.security.revocation import fetch_many, is_revoked_by, revocation_keys
from okada.infra.security.tokens import AccessTokenVerifier, VerifiedToken
from okada.kernel.errors import OkadaError, Unauthenticated
from okada.kernel.ports import Cache

log = structlog.get_logger(__name__)

PRINCIPAL_SCOPE_KEY = "okada.principal"
"""Scope key under which gateway-local routes find the verified :class:`Principal` (or None)."""
PRINCIPAL_HEADER_SCOPE_KEY = "okada.principal_header"
"""Scope key of the signed principal header to forward to upstreams (or None)."""

MAX_PRINCIPAL_HEADER_TTL = 600.0
"""Longest life of a signed principal header: the access token's remaining life, capped."""
_HEADER_REUSE_MARGIN = 60.0
# A signed header is reused for the same token while it has this long left (or until the
# token's own expiry, which re-signing would not extend): identical bytes also let the
# services' codec answer from its memory of verified headers.
_SIGNED_REMEMBERED = 10_000

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A cache fill must fetch the full body: the gateway answers conditionals from its own entry.
_CONDITIONAL = frozenset({b"if-none-match", b"if-modified-since"})


class _Disconnected(Exception):
    """The client went away before sending its whole body."""


class GatewayEdge:
    """Handles every path of the routing table; everything else goes to the wrapped app.

    Raw ASGI on purpose: this runs on every proxied request, and skipping the framework's
    routing, dependency resolution and response classes keeps the gateway's added latency low.

    Args:
        app: The gateway's own FastAPI app (platform routes, home aggregate, 404s).
        hosted: Upstream services this gateway may route to.
        verifier: Access-token verifier.
        codec: Signs the principal header sent upstream.
        cache: Shared cache (token deny-list).
        limits: Rate limits.
        proxy: Upstream forwarding with resilience.
        responses: Response cache for cacheable anonymous GETs.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        hosted: Iterable[str],
        verifier: AccessTokenVerifier,
        codec: PrincipalCodec,
        cache: Cache,
        limits: EdgeRateLimiter,
        proxy: UpstreamProxy,
        responses: ResponseCache,
    ) -> None:
        self.app = app
        self.hosted = frozenset(hosted) | {LOCAL_SERVICE}
        self.verifier = verifier
        self.codec = codec
        self.cache = cache
        self.limits = limits
        self.proxy = proxy
        self.responses = responses
        self._signed: dict[str, tuple[str, float]] = {}
        self._labels: dict[str, _RouteLabel] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = match_route(scope["path"])
        if route is None:
            await self.app(scope, receive, send)
            return
        # Metrics and access logs label requests by route template; ours is the table's prefix.
        label = self._labels.get(route.prefix)
        if label is None:
            label = self._labels[route.prefix] = _RouteLabel(route.prefix)
        scope["route"] = label
        wanted = _Headers(scope["headers"])
        language = negotiate(wanted.accept_language)
        try:
            await self._handle(scope, receive, send, route, wanted, language)
        except OkadaError as exc:
            await _error_response(exc, language, scope["path"])(scope, receive, send)
        except _Disconnected:
            return

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: Route,
        wanted: _Headers,
        language: str,
    ) -> None:
        method: str = scope["method"]
        path: str = scope["path"]
        if route.service not in self.hosted:
            response = problem_response(
                404, "route_not_found", language, instance=path, method=method, path=path
            )
            await response(scope, receive, send)
            return
        bearer = self._bearer_token(wanted.authorization, route, method, path)
        token = await self.verifier.verify_token(bearer) if bearer else None
        principal = token.principal if token else None
        body = await _read_body(receive)
        client = scope.get("client")
        client_ip = client[0] if client else "unknown"
        revocation = revocation_keys(token) if token else []
        limit = await self.limits.check(
            route.rate_class(method, path),
            method,
            caller=str(principal.user_id) if principal else None,
            client_ip=client_ip,
            body=body,
            read=revocation,
        )
        principal_header: str | None = None
        if bearer and token is not None:
            # Revocation first, so a logged-out token gets 401 even when over its limit. The
            # keys came back with the rate-limit call when the limiter could read them along.
            values = limit.read
            if values is None:
                values = await _fetch_revocation(self.cache, revocation)
            if values is not None and is_revoked_by(token, values):
                raise Unauthenticated()
            principal_header = self._principal_header(bearer, token)
        if not limit.allowed:
            await problem_response(
                429,
                "rate_limited",
                language,
                instance=path,
                headers={k.decode(): v.decode() for k, v in limit.headers},
                retry_after=limit.retry_after,
            )(scope, receive, send)
            return
        if route.service == LOCAL_SERVICE:
            local_scope = {
                **scope,
                PRINCIPAL_SCOPE_KEY: principal,
                PRINCIPAL_HEADER_SCOPE_KEY: principal_header,
            }
            await self.app(local_scope, _replay(body, receive), _adding(send, limit.headers))
            return
        headers = upstream_headers(
            scope["headers"],
            client_ip=client_ip,
            principal_header=principal_header,
            request_id=request_id_var.get(),
            traceparent=traceparent_var.get(),
        )
        raw_path: bytes = scope.get("raw_path") or path.encode()
        query: bytes = scope["query_string"]
        target = (raw_path + b"?" + query if query else raw_path).decode("latin-1")
        idempotent = method in _IDEMPOTENT_METHODS or wanted.idempotency_key
        query_text = query.decode("latin-1")
        if (
            method == "GET"
            and route.cacheable
            and principal is None
            and route.allows_anonymous(method, path)
            and cacheable_query(query_text)
        ):
            encoding = negotiate_encoding(wanted.accept_encoding)
            key = await self.responses.key(
                path, query_text, language, encoding, cache_tags(route.service, path, query_text)
            )
            if key is not None:
                fill_headers = [(k, v) for k, v in headers if k not in _CONDITIONAL]

                async def load() -> UpstreamResponse:
                    return await self.proxy.forward(
                        route.service, method, target, fill_headers,
                        idempotent=True, timeout=route.timeout,
                    )

                result, hit = await self.responses.fetch(key, encoding, load)
                if isinstance(result, CachedResponse):
                    await _send_cached(send, result, wanted.if_none_match, hit, limit.headers)
                else:
                    await _send_upstream(send, result, limit.headers)
                return
        upstream = await self.proxy.forward(
            route.service, method, target, headers, body,
            idempotent=idempotent, timeout=route.timeout, stream_large=True,
        )
        await _send_upstream(send, upstream, limit.headers)

    @staticmethod
    def _bearer_token(
        authorization: str | None, route: Route, method: str, path: str
    ) -> str | None:
        """Return the bearer token, None for an anonymous call the route allows.

        Business rules: a token must verify (signature, type, issuer, audience, times) and
        must not be revoked: neither its ``jti`` deny-listed (logout) nor issued before its
        user's "not before" marker (account disabled, every session ended). Anything else
        than a well-formed bearer token is a 401, and so is no token on a private route.
        """
        if authorization:
            scheme, _, token = authorization.partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                raise Unauthenticated()
            return token
        if not route.allows_anonymous(method, path):
            raise Unauthenticated()
        return None

    def _principal_header(self, token: str, verified: VerifiedToken) -> str:
        """The signed principal header for ``token``, valid as long as the token (capped)."""
        now = time.time()
        remembered = self._signed.get(token)
        if remembered is not None:
            header, expires = remembered
            if expires > now and (
                expires - now >= _HEADER_REUSE_MARGIN or expires >= verified.expires_at
            ):
                return header
        expires = min(verified.expires_at, now + MAX_PRINCIPAL_HEADER_TTL)
        header = self.codec.encode(verified.principal, expires_at=expires)
        if len(self._signed) >= _SIGNED_REMEMBERED:
            self._signed.clear()  # bounded; a miss costs one HMAC
        self._signed[token] = (header, expires)
        return header


class _RouteLabel:
    """Stands in for a framework route in ``scope["route"]``: only its ``path`` is read."""

    __slots__ = ("path",)

    def __init__(self, prefix: str) -> None:
        self.path = prefix + "*"


class _Headers:
    """The few request headers the edge looks at, read in one pass."""

    __slots__ = (
        "accept_encoding",
        "accept_language",
        "authorization",
        "idempotency_key",
        "if_none_match",
    )

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        self.authorization: str | None = None
        self.accept_language: str | None = None
        self.accept_encoding: str | None = None
        self.if_none_match: bytes | None = None
        self.idempotency_key = False
        for key, value in raw:
            if key == b"authorization":
                self.authorization = value.decode("latin-1")
            elif key == b"accept-language":
                self.accept_language = value.decode("latin-1")
            elif key == b"accept-encoding":
                self.accept_encoding = value.decode("latin-1")
            elif key == b"if-none-match":
                self.if_none_match = value
            elif key == b"idempotency-key":
                self.idempotency_key = bool(value.strip())


async def _fetch_revocation(cache: Cache, keys: list[str]) -> list[bytes | None] | None:
    """Read the revocation keys; None (let through, logged) when the cache is down."""
    try:
        return await fetch_many(cache, keys)
    except Exception as exc:  # a deny-list outage must not lock everyone out; tokens expire
        log.warning("gateway.revocation_check_failed", error=repr(exc))
        return None


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _adding(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    if not extra:
        return send

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped


def _error_response(exc: OkadaError, language: str, path: str) -> Response:
    status = STATUS_BY_KIND[exc.kind]
    headers: dict[str, str] = {}
    params: dict[str, Any] = dict(exc.params)
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
        params.setdefault("retry_after", exc.retry_after)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="okada"'
    return problem_response(status, exc.code, language, instance=path, headers=headers, **params)


async def _send_upstream(
    send: Send, upstream: UpstreamResponse, extra: list[tuple[bytes, bytes]]
) -> None:
    headers = [*upstream.headers, *extra]
    if upstream.stream is None:
        headers.append((b"content-length", str(len(upstream.body)).encode()))
        await send({"type": "http.response.start", "status": upstream.status, "headers": headers})
        await send({"type": "http.response.body", "body": upstream.body})
        return
    await send({"type": "http.response.start", "status": upstream.status, "headers": headers})
    async for chunk in upstream.stream:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def _send_cached(
    send: Send,
    entry: CachedResponse,
    if_none_match: bytes | None,
    hit: bool,
    extra: list[tuple[bytes, bytes]],
) -> None:
    state = (b"x-cache", b"HIT" if hit else b"MISS")
    if entry.not_modified(if_none_match):
        kept = [(k, v) for k, v in entry.headers if k in (b"etag", b"vary", b"cache-control")]
        await send(
            {"type": "http.response.start", "status": 304, "headers": [*kept, state, *extra]}
        )
        await send({"type": "http.response.body", "body": b""})
        return
    headers = [
        *entry.headers,
        state,
        *extra,
        (b"content-length", str(len(entry.body)).encode()),
    ]
    await send({"type": "http.response.start", "status": entry.status, "headers": headers})
    await send({"type": "http.response.body", "body": entry.body})
