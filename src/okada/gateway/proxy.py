"""Forwarding a request to its upstream service, behind a breaker, a bound and a deadline."""

from __future__ import annotations

import asyncio
import http.cookiejar
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

import httpx
import structlog

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


class UpstreamProxy:
    """Sends a request to a service and relays its answer.

    Business rules: an upstream that is open-circuited or saturated answers 503 at once, an
    unreachable one 503 after at most ``max_retries`` quick retries (idempotent requests only),
    and a slow one 504 when its deadline passes, never a hang.

    Args:
        directory: Clients to every service (ASGI in process, or pooled HTTP).
        guards: Breaker, concurrency bound and policy per upstream.
    """

    def __init__(self, directory: ServiceDirectory, guards: UpstreamGuards | None = None) -> None:
        self._directory = directory
        self.guards = guards or UpstreamGuards()
        self._clients: dict[str, httpx.AsyncClient] = {}

    def _client(self, service: str) -> httpx.AsyncClient:
        client = self._clients.get(service)
        if client is None:
            client = self._directory.client(service)
            # The client is shared by every caller: a cookie an upstream sets for one user
            # must never be stored and replayed to the next (the user's own Set-Cookie still
            # reaches them in the relayed response).
            client.cookies.jar.set_policy(_NO_COOKIES)
            self._clients[service] = client
        return client

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
    ) -> UpstreamResponse:
        """Send ``method target`` to ``service`` and return its answer.

        Args:
            service: Upstream name.
            method: HTTP method.
            target: Path and query string, as sent by the client.
            headers: Headers to send (see :func:`upstream_headers`).
            body: Request body.
            idempotent: Whether the request may be sent again after a connection error, 502
                or 503 (GET, HEAD, or a request carrying an ``Idempotency-Key``).
            timeout: Seconds for the whole exchange; None uses the upstream's policy.

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
            response = await self._exchange(
                guard, method, target, headers, body, idempotent, timeout or guard.policy.timeout
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

    async def _exchange(
        self,
        guard: UpstreamGuard,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        idempotent: bool,
        deadline: float,
    ) -> UpstreamResponse:
        client = self._client(guard.name)
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


async def _relay(response: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_bytes():
            yield chunk
    finally:
        await response.aclose()
