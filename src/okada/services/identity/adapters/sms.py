"""How identity's login codes reach a phone: through the notifications service, else directly."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import structlog

from okada.kernel.errors import Unavailable

log = structlog.get_logger(__name__)


class HttpSmsSender:
    """Sends SMS through an HTTP endpoint that speaks ``POST {to, text, sender}``.

    That is both the SMS gateway itself and the notifications service's
    ``/internal/v1/notifications/sms`` (which adds provider failover and delivery receipts).
    A provider error or timeout becomes :class:`Unavailable` (503 for the caller), so a login
    code is never recorded as sent when it was not.

    Args:
        headers: Called per request for extra headers (the signed service principal, which
            expires, so it is minted each time).
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        path: str,
        sender_id: str,
        headers: Callable[[], dict[str, str]] | None = None,
        timeout: float = 5.0,
    ) -> None:
        self._client = client
        self._path = path
        self._sender_id = sender_id
        self._headers = headers
        self._timeout = timeout

    async def send(self, *, to: str, text: str) -> None:
        try:
            response = await self._client.post(
                self._path,
                json={"to": to, "text": text, "sender": self._sender_id},
                headers=self._headers() if self._headers else None,
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            log.warning("sms.send_failed", path=self._path, error=type(exc).__name__)
            raise Unavailable("sms_unavailable") from exc
        if response.status_code >= 300:
            log.warning("sms.send_rejected", path=self._path, status=response.status_code)
            raise Unavailable("sms_unavailable")


class FallbackSmsSender:
    """Send through ``primary`` (notifications); when it cannot, through ``fallback`` (the gateway).

    Business rule: a login code always goes by SMS. Notifications is the normal path (failover
    between SMS providers, receipts visible to operations), but identity must not stop signing
    people in because the notifications service is down or not deployed; the direct gateway is
    then used and the event is logged. Only when both fail does the caller get 503.
    """

    def __init__(self, primary: HttpSmsSender, fallback: HttpSmsSender) -> None:
        self._primary = primary
        self._fallback = fallback

    async def send(self, *, to: str, text: str) -> None:
        try:
            await self._primary.send(to=to, text=text)
        except Unavailable:
            log.warning("sms.notifications_unavailable_using_gateway")
            await self._fallback.send(to=to, text=text)
