"""Forwarding a request to its upstream service, behind a breaker, a bound and a deadline."""

from __future__ import annotations

import asyncio
import http.cookiejar
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field

import aiohttp
import httpx
import structlog
import yarl
from httpx_aiohttp import AiohttpTransport

from okada.gateway.compression import compressible
from okada.gateway.resilience import Admission, UpstreamGuard, UpstreamGuards
from okada.infra.hosting import ServiceDirectory
from okada.infra.security.internal import INTERNAL_HEADERS, PRINCIPAL_HEADER
from okada.kernel.errors import ErrorKind, OkadaError, Unavailable

log = structlog.get_logger(__name__)

_NO_COOKIES = http.cookiejar.DefaultCookiePolicy(allowed_domains=[])
"""Allows no domain at all: the shared upstream clients keep no cookie jar."""

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
    }
)
# Client-supplied identity and routing headers are never believed: the gateway sets its own.
_STRIPPED_REQUEST = HOP_BY_HOP | {h.encode() for h in INTERNAL_HEADERS} | {
    b"x-forwarded-for",
    b"x-forwarded-host",
    b"x-forwarded-proto",
    b"x-real-ip",
    b"forwarded",
    b"x-request-id",
    b"traceparent",
    b"accept-encoding",
}
# The edge middleware adds its own request id, trace context and security headers; the
# compression middleware decides the encoding.
_STRIPPED_RESPONSE = HOP_BY_HOP | {
    b"content-encoding",
    b"server",
    b"date",
    b"x-request-id",
    b"traceparent",
}
_RETRY_STATUSES = frozenset({502, 503})
_FAILURE_STATUSES = frozenset({502, 503, 504})
# A refused or dropped connection means the request was not processed, so idempotent requests
# may be sent again; a read timeout may mean it is being processed, so it is never retried.
_CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError)
_AIOHTTP_CONNECT_ERRORS = (
    aiohttp.ClientConnectorError,
    aiohttp.ServerDisconnectedError,
    aiohttp.ConnectionTimeoutError,
)


@dataclass(slots=True)
class UpstreamResponse:
    """An upstream's answer: status, filtered headers and either a body or a live stream.

    Attributes:
        status: HTTP status code.
        headers: Lower-case header pairs, hop-by-hop and encoding headers removed.
        body: The whole body (empty when ``stream`` is set).
        stream: Chunks of an event stream, relayed as they come.
    """

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = field(default=None)

    def header(self, name: bytes) -> bytes | None:
        """Return the first value of header ``name`` (lower case), or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


def upstream_headers(
    incoming: Iterable[tuple[bytes, bytes]],
    *,
    client_ip: str,
    principal_header: str | None,
    request_id: str | None,
    traceparent: str | None,
    drop: frozenset[bytes] = frozenset(),
) -> list[tuple[bytes, bytes]]:
    """Build the headers sent upstream from the caller's.

    Business rules: internal identity headers coming from outside are removed and only the
    gateway's signed principal header is sent; the client IP is set by the gateway, never
    taken from the caller.
    """
    stripped = _STRIPPED_REQUEST | drop
    headers = [(k, v) for k, v in incoming if k.lower() not in stripped]
    # Identity: compressing between gateway and service only burns CPU on both sides of a
    # loopback or LAN hop; the edge compresses once for the client.
    headers.append((b"accept-encoding", b"identity"))
    headers.append((b"x-forwarded-for", client_ip.encode("latin-1")))
    if principal_header:
        headers.append((PRINCIPAL_HEADER.encode(), principal_header.encode("latin-1")))
    if request_id:
        headers.append((b"x-request-id", request_id.encode("latin-1")))
    if traceparent:
        headers.append((b"traceparent", traceparent.encode("latin-1")))
    return headers


STREAM_THRESHOLD = 256 * 1024
"""Bytes above which a proxied response that the edge would not compress anyway (images,
files) is relayed chunk by chunk rather than buffered, as is any response the upstream
itself streams (no ``Content-Length``). Compressible bodies of known length are buffered:
the compression middleware needs them whole, and on a 3G link compression matters more
than the gateway's memory. Only where the caller allows it: cache fills and the home
aggregate need the whole body."""


def _worth_streaming(response: aiohttp.ClientResponse) -> bool:
    if response.status < 200 or response.status in (204, 304):
        return False  # no body by definition
    length = response.content_length
    if length is None:
        return True  # the upstream streams (chunked): relay as it comes
    content_type = response.headers.get("content-type", "").encode("latin-1")
    return length > STREAM_THRESHOLD and not compressible(content_type)


@dataclass(frozen=True, slots=True)
class _Target:
    """Where one upstream is reached: a base URL over the gateway's own aiohttp pool, or the
    directory's httpx client (in-process ASGI in embedded mode)."""

    base_url: yarl.URL | None
    client: httpx.AsyncClient | None


def _network_base_url(client: httpx.AsyncClient) -> str | None:
    """The base URL of a directory client that goes over the network, else None (in process).

    The directory hands out aiohttp-backed httpx clients for upstreams in other processes and
    ASGI clients for apps in this one; only the transport tells them apart.
    """
    transport = getattr(client, "_transport", None)
    if isinstance(transport, AiohttpTransport | httpx.AsyncHTTPTransport):
        return str(client.base_url).rstrip("/")
    return None


class UpstreamProxy:
    """Sends a request to a service and relays its answer.

    Business rules: an upstream that is open-circuited or saturated answers 503 at once, an
    unreachable one 503 after at most ``max_retries`` quick retries (idempotent requests only),
    and a slow one 504 when its deadline passes, never a hang.

    Transport: upstreams in other processes are called through one pooled
    :class:`aiohttp.ClientSession` owned by the proxy (keep-alive connections, raw header
    bytes relayed as they are, no cookie jar); apps registered in this process (embedded mode)
    through the directory's in-process httpx ASGI client. Both paths share the breaker, the
    concurrency bound, the deadline and the retry rules. httpx's request/response model over
    the aiohttp transport cost about half of the gateway's CPU per request (W7).

    Args:
        directory: Clients to every service (ASGI in process, or pooled HTTP).
        guards: Breaker, concurrency bound and policy per upstream.
        base_urls: Upstreams to reach over HTTP at these base URLs, whatever the directory
            says (tests and benchmarks); others follow the directory.
        connections: Most pooled connections per upstream host.
    """

    def __init__(
        self,
        directory: ServiceDirectory,
        guards: UpstreamGuards | None = None,
        *,
        base_urls: Mapping[str, str] | None = None,
        connections: int = 256,
    ) -> None:
        self._directory = directory
        self.guards = guards or UpstreamGuards()
        self._base_urls = {k: v.rstrip("/") for k, v in (base_urls or {}).items()}
        self._connections = connections
        self._targets: dict[str, _Target] = {}
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    def _target(self, service: str) -> _Target:
        target = self._targets.get(service)
        if target is None:
            base = self._base_urls.get(service)
            if base is None:
                client = self._directory.client(service)
                base = _network_base_url(client)
                if base is None:
                    # The client is shared by every caller: a cookie an upstream sets for one
                    # user must never be stored and replayed to the next (the user's own
                    # Set-Cookie still reaches them in the relayed response).
                    client.cookies.jar.set_policy(_NO_COOKIES)
            target = _Target(None, client) if base is None else _Target(yarl.URL(base), None)
            self._targets[service] = target
        return target

    def _pool(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None or session.closed:
            session = self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=0,  # the guards bound concurrency per upstream
                    limit_per_host=self._connections,
                    # Below the services' 30 s keep-alive, so the gateway drops an idle
                    # connection before the server does (never writing into a closing one).
                    keepalive_timeout=15,
                    ttl_dns_cache=300,
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                auto_decompress=True,
                skip_auto_headers=("User-Agent", "Content-Type"),
            )
        return session

    def _client_timeout(self, deadline: float) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(deadline)
        if timeout is None:
            # The overall deadline is asyncio.timeout's; this only bounds a stuck connect.
            timeout = self._timeouts[deadline] = aiohttp.ClientTimeout(
                total=None, sock_connect=min(3.0, deadline)
            )
        return timeout

    async def aclose(self) -> None:
        """Close the pooled connections (the directory's clients are the directory's)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def forward(
        self,
        service: str,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes = b"",
        *,
        idempotent: bool,
        timeout: float | None = None,
        stream_large: bool = False,
    ) -> UpstreamResponse:
        """Send ``method target`` to ``service`` and return its answer.

        Args:
            service: Upstream name.
            method: HTTP method.
            target: Path and query string, as sent by the client (already percent-encoded).
            headers: Headers to send (see :func:`upstream_headers`).
            body: Request body.
            idempotent: Whether the request may be sent again after a connection error, 502
                or 503 (GET, HEAD, or a request carrying an ``Idempotency-Key``).
            timeout: Seconds for the whole exchange; None uses the upstream's policy.
            stream_large: Relay bodies larger than :data:`STREAM_THRESHOLD` (or of unknown
                length) as a stream instead of buffering them. Event streams always stream.

        Raises:
            Unavailable: 503 ``unavailable`` (open circuit, unreachable) or
                ``upstream_overloaded`` (concurrency bound), with ``retry_after``.
            OkadaError: 504 ``upstream_timeout`` when the deadline passes.
        """
        guard = self.guards.get(service)
        admission = guard.breaker.acquire()
        if admission is Admission.REJECTED:
            raise Unavailable("unavailable", retry_after=guard.breaker.retry_after())
        try:
            await guard.enter()
        except BaseException:
            guard.breaker.release(admission)
            raise
        outcome: bool | None = None
        try:
            upstream = self._target(service)
            deadline = timeout or guard.policy.timeout
            if upstream.base_url is not None:
                response = await self._exchange_http(
                    guard, upstream.base_url, method, target, headers, body, idempotent,
                    deadline, stream_large,
                )
            else:
                assert upstream.client is not None
                response = await self._exchange_asgi(
                    guard, upstream.client, method, target, headers, body, idempotent, deadline
                )
            outcome = response.status not in _FAILURE_STATUSES
            return response
        except OkadaError:
            outcome = False
            raise
        finally:
            guard.leave()
            if outcome is None:
                guard.breaker.release(admission)  # cancelled: says nothing about the upstream
            else:
                guard.breaker.record(admission, outcome)

    async def _exchange_http(
        self,
        guard: UpstreamGuard,
        base_url: yarl.URL,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        idempotent: bool,
        deadline: float,
        stream_large: bool,
    ) -> UpstreamResponse:
        session = self._pool()
        retries = guard.policy.max_retries if idempotent else 0
        # The target is relayed byte for byte: already encoded, never re-quoted.
        url = yarl.URL(str(base_url) + target, encoded=True)
        sent = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
        data = body or None
        client_timeout = self._client_timeout(deadline)
        try:
            async with asyncio.timeout(deadline) as scope:
                attempt = 0
                while True:
                    try:
                        response = await session.request(
                            method, url, headers=sent, data=data,
                            allow_redirects=False, timeout=client_timeout,
                        )
                    except _AIOHTTP_CONNECT_ERRORS as exc:
                        if attempt < retries:
                            attempt += 1
                            await asyncio.sleep(guard.policy.backoff(attempt))
                            continue
                        log.warning("gateway.upstream_unreachable", upstream=guard.name,
                                    error=repr(exc))
                        raise Unavailable("unavailable", retry_after=5) from exc
                    if response.status in _RETRY_STATUSES and attempt < retries:
                        response.release()
                        attempt += 1
                        await asyncio.sleep(guard.policy.backoff(attempt))
                        continue
                    break
                relayed = _aiohttp_headers(response.raw_headers)
                if response.content_type == "text/event-stream":
                    scope.reschedule(None)  # a live stream has no deadline, only its headers
                    return UpstreamResponse(
                        response.status, relayed, b"", _relay_aiohttp(response)
                    )
                if stream_large and method != "HEAD" and _worth_streaming(response):
                    return UpstreamResponse(
                        response.status, relayed, b"", _relay_aiohttp(response)
                    )
                try:
                    content = await response.read()
                finally:
                    response.release()
        except TimeoutError as exc:
            log.warning("gateway.upstream_timeout", upstream=guard.name, seconds=deadline)
            raise OkadaError("upstream_timeout", kind=ErrorKind.TIMEOUT) from exc
        except aiohttp.ClientError as exc:
            log.warning("gateway.upstream_error", upstream=guard.name, error=repr(exc))
            raise Unavailable("unavailable", retry_after=5) from exc
        return UpstreamResponse(response.status, relayed, content)

    async def _exchange_asgi(
        self,
        guard: UpstreamGuard,
        client: httpx.AsyncClient,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        idempotent: bool,
        deadline: float,
    ) -> UpstreamResponse:
        retries = guard.policy.max_retries if idempotent else 0
        # One deadline for every attempt: httpx timeouts are per network operation and do not
        # apply at all to the in-process ASGI transport.
        try:
            async with asyncio.timeout(deadline) as scope:
                attempt = 0
                while True:
                    request = client.build_request(
                        method,
                        target,
                        content=body,
                        headers=headers,
                        timeout=httpx.Timeout(deadline, connect=min(3.0, deadline)),
                    )
                    try:
                        response = await client.send(request, stream=True)
                    except _CONNECT_ERRORS as exc:
                        if attempt < retries:
                            attempt += 1
                            await asyncio.sleep(guard.policy.backoff(attempt))
                            continue
                        log.warning("gateway.upstream_unreachable", upstream=guard.name,
                                    error=repr(exc))
                        raise Unavailable("unavailable", retry_after=5) from exc
                    if response.status_code in _RETRY_STATUSES and attempt < retries:
                        await response.aclose()
                        attempt += 1
                        await asyncio.sleep(guard.policy.backoff(attempt))
                        continue
                    break
                content_type = response.headers.get("content-type", "")
                if content_type.startswith("text/event-stream"):
                    scope.reschedule(None)  # a live stream has no deadline, only its headers
                    return UpstreamResponse(
                        response.status_code, _response_headers(response), b"", _relay(response)
                    )
                try:
                    content = await response.aread()
                finally:
                    await response.aclose()
        except TimeoutError as exc:
            log.warning("gateway.upstream_timeout", upstream=guard.name, seconds=deadline)
            raise OkadaError("upstream_timeout", kind=ErrorKind.TIMEOUT) from exc
        except httpx.TimeoutException as exc:
            raise OkadaError("upstream_timeout", kind=ErrorKind.TIMEOUT) from exc
        except httpx.HTTPError as exc:
            log.warning("gateway.upstream_error", upstream=guard.name, error=repr(exc))
            raise Unavailable("unavailable", retry_after=5) from exc
        return UpstreamResponse(response.status_code, _response_headers(response), content)


def _response_headers(response: httpx.Response) -> list[tuple[bytes, bytes]]:
    return [
        (key.lower(), value)
        for key, value in response.headers.raw
        if key.lower() not in _STRIPPED_RESPONSE
    ]


def _aiohttp_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    relayed = []
    for key, value in raw:
        name = key.lower()
        if name not in _STRIPPED_RESPONSE:
            relayed.append((name, value))
    return relayed


async def _relay(response: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_bytes():
            yield chunk
    finally:
        await response.aclose()


async def _relay_aiohttp(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.content.iter_any():
            yield chunk
    finally:
        response.release()
