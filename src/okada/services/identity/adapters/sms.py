"""SMS gateway client (the simulator in embedded mode and tests)."""

from __future__ import annotations

import httpx
import structlog

from okada.kernel.errors import Unavailable

log = structlog.get_logger(__name__)


class HttpSmsSender:
    """Sends SMS through an HTTP gateway that speaks ``POST {to, text, sender}``.

    A provider error or timeout becomes :class:`Unavailable` (503 for the caller), so a
    login code is never recorded as sent when it was not.
    """

    def __init__(self, client: httpx.AsyncClient, *, path: str, sender_id: str) -> None:
        self._client = client
        self._path = path
        self._sender_id = sender_id

    async def send(self, *, to: str, text: str) -> None:
        try:
            response = await self._client.post(
                self._path,
                json={"to": to, "text": text, "sender": self._sender_id},
                timeout=5.0,
            )
        except httpx.HTTPError as exc:
            log.warning("sms.send_failed", error=type(exc).__name__)
            raise Unavailable("sms_unavailable") from exc
        if response.status_code >= 300:
            log.warning("sms.send_rejected", status=response.status_code)
            raise Unavailable("sms_unavailable")
