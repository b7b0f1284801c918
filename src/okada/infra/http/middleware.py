"""One pure-ASGI middleware for every app: ids, trace context, limits, headers, logs, metrics."""

from __future__ import annotations

import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from okada.infra.i18n import negotiate
from okada.infra.observability import metrics
from okada.infra.observability.context import (
    child_traceparent,
    new_request_id,
    request_id_var,
    traceparent_var,
)

log = structlog.get_logger("okada.access")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-site"),
]


class BodyTooLarge(Exception):
    """Raised inside the app when the streamed body passes the limit."""


class EdgeMiddleware:
    """Request id, ``traceparent``, body size limit, security headers, access log, metrics.

    Written as raw ASGI rather than ``BaseHTTPMiddleware`` because it runs on every request of
    every service and the gateway: one layer, no extra task per request.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        max_body_bytes: int = 1_048_576,
        access_log: bool = True,
    ) -> None:
        self.app = app
        self.service = service
        self.max_body_bytes = max_body_bytes
        self.access_log = access_log
        self._counters: dict[tuple[str, int], Any] = {}
        self._histograms: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        incoming_id = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming_id if 8 <= len(incoming_id) <= 64 else new_request_id()
        traceparent = child_traceparent(headers.get(b"traceparent", b"").decode("latin-1"))
        id_token = request_id_var.set(request_id)
        trace_token = traceparent_var.set(traceparent)
        started = time.perf_counter()
        status_holder = [500]

        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await _too_large(send, _language(headers), self.max_body_bytes, request_id)
            status_holder[0] = 413
            self._finish(scope, started, status_holder[0], request_id, id_token, trace_token)
            return

        received = 0
        limit = self.max_body_bytes

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
            return message

        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                status_holder[0] = message["status"]
                out = list(message.get("headers", []))
                names = {k.lower() for k, _ in out}
                if b"x-request-id" not in names:
                    out.append((b"x-request-id", request_id.encode()))
                out.append((b"traceparent", traceparent.encode()))
                out.extend(h for h in SECURITY_HEADERS if h[0] not in names)
                message = {**message, "headers": out}
            await send(message)

        try:
            await self.app(scope, limited_receive, send_wrapper)
        except BodyTooLarge:
            if not response_started:
                await _too_large(send, _language(headers), self.max_body_bytes, request_id)
            status_holder[0] = 413
        finally:
            self._finish(scope, started, status_holder[0], request_id, id_token, trace_token)

    def _finish(
        self,
        scope: Scope,
        started: float,
        status: int,
        request_id: str,
        id_token: Any,
        trace_token: Any,
    ) -> None:
        elapsed = time.perf_counter() - started
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        counter = self._counters.get((template, status))
        if counter is None:  # labels() costs a lock and a dict build: resolve each series once
            counter = self._counters[(template, status)] = metrics.HTTP_REQUESTS.labels(
                self.service, template, str(status)
            )
            self._histograms[template] = metrics.HTTP_DURATION.labels(self.service, template)
        counter.inc()
        self._histograms[template].observe(elapsed)
        if self.access_log:
            log.info(
                "http.access",
                method=scope.get("method"),
                path=scope.get("path"),
                route=template,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
        request_id_var.reset(id_token)
        traceparent_var.reset(trace_token)


def _language(headers: dict[bytes, bytes]) -> str:
    return negotiate(headers.get(b"accept-language", b"").decode("latin-1") or None)


async def _too_large(send: Send, language: str, limit: int, request_id: str) -> None:
    from okada.infra.http.problems import problem_response

    response = problem_response(413, "payload_too_large", language, limit=limit)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                *response.raw_headers,
                (b"x-request-id", request_id.encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": response.body})
