"""Forwarding a request to its upstream service over the directory's client."""

from __future__ import annotations

import httpx
from starlette.requests import Request
from starlette.responses import Response

from okada.infra.hosting import ServiceDirectory
from okada.infra.security.internal import INTERNAL_HEADERS, PRINCIPAL_HEADER
from okada.kernel.errors import ErrorKind, OkadaError, Unavailable

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
_STRIPPED_REQUEST = HOP_BY_HOP | set(INTERNAL_HEADERS) | {"x-forwarded-for", "accept-encoding"}
_STRIPPED_RESPONSE = HOP_BY_HOP | {"content-encoding", "server", "date"}


class UpstreamProxy:
    """Sends a request to a service and relays its answer.

    Business rules: internal identity headers coming from outside are removed and only the
    gateway's signed principal header is sent; the client IP is set by the gateway, never
    taken from the caller; an unreachable upstream is 503 and a slow one 504, never a hang.
    """

    def __init__(self, directory: ServiceDirectory, *, timeout: float = 10.0) -> None:
        self._directory = directory
        self._timeout = timeout

    async def forward(
        self,
        request: Request,
        service: str,
        body: bytes,
        *,
        principal_header: str | None,
        request_id: str | None,
        traceparent: str | None,
    ) -> Response:
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _STRIPPED_REQUEST]
        if principal_header:
            headers.append((PRINCIPAL_HEADER, principal_header))
        client_ip = request.client.host if request.client else "unknown"
        headers.append(("x-forwarded-for", client_ip))
        if request_id:
            headers.append(("x-request-id", request_id))
        if traceparent:
            headers = [(k, v) for k, v in headers if k.lower() != "traceparent"]
            headers.append(("traceparent", traceparent))
        client = self._directory.client(service)
        try:
            upstream = await client.request(
                request.method,
                request.url.path,
                params=request.url.query,
                content=body,
                headers=headers,
                timeout=self._timeout,
            )
        except httpx.TimeoutException as exc:
            raise OkadaError("upstream_timeout", kind=ErrorKind.TIMEOUT) from exc
        except httpx.HTTPError as exc:
            raise Unavailable("unavailable", retry_after=5) from exc
        response_headers = [
            (k, v) for k, v in upstream.headers.multi_items() if k.lower() not in _STRIPPED_RESPONSE
        ]
        response = Response(content=upstream.content, status_code=upstream.status_code)
        response.raw_headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response_headers
        ] + [(b"content-length", str(len(upstream.content)).encode())]
        return response
