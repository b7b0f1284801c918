"""FCM HTTP v1 client: ``POST /v1/projects/{project}/messages:send`` with an OAuth token.

The provider's answer is classified for the dispatcher: 200 accepted; ``UNREGISTERED``
(404) and ``SENDER_ID_MISMATCH`` (403) mean the token is dead and must be retired;
``UNAVAILABLE``, ``INTERNAL``, ``QUOTA_EXCEEDED`` and timeouts are worth a retry; anything
else refuses this message for good.
"""

from __future__ import annotations

from typing import Any

import httpx
import structlog

from okada.services.notifications.adapters.fcm_auth import (
    ServiceAccountTokens,
    StaticToken,
    TokenUnavailable,
)
from okada.services.notifications.application.model import Outcome, SendResult

log = structlog.get_logger(__name__)

PROVIDER = "fcm"
DEAD_TOKEN_CODES = frozenset({"UNREGISTERED", "SENDER_ID_MISMATCH"})
RETRY_CODES = frozenset({"UNAVAILABLE", "INTERNAL", "QUOTA_EXCEEDED"})


def _error_code(response: httpx.Response) -> str:
    """The FCM error code of an error answer (``details[].errorCode``, else ``status``)."""
    try:
        body: Any = response.json()
    except ValueError:
        return f"HTTP_{response.status_code}"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return f"HTTP_{response.status_code}"
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and isinstance(detail.get("errorCode"), str):
            return str(detail["errorCode"])
    status = error.get("status")
    return status if isinstance(status, str) else f"HTTP_{response.status_code}"


class FcmPushGateway:
    """Sends one push per device token through FCM HTTP v1 (or its simulator)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        path_prefix: str,
        project_id: str,
        tokens: StaticToken | ServiceAccountTokens,
        timeout: float = 5.0,
    ) -> None:
        self._client = client
        self._url = f"{path_prefix.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self._tokens = tokens
        self._timeout = timeout

    async def send(
        self, *, token: str, title: str, body: str, data: dict[str, str], high_priority: bool
    ) -> SendResult:
        message = {
            "message": {
                "token": token,
                "notification": {"title": title, "body": body},
                "data": {k: str(v) for k, v in data.items()},
                "android": {
                    "priority": "high" if high_priority else "normal",
                    "notification": {"channel_id": "orders"},
                },
                "apns": {
                    "headers": {"apns-priority": "10" if high_priority else "5"},
                    "payload": {"aps": {"sound": "default"}},
                },
            }
        }
        try:
            access_token = await self._tokens.token()
        except TokenUnavailable:
            return SendResult(Outcome.TRANSIENT, PROVIDER, error="OAUTH_UNAVAILABLE")
        try:
            response = await self._client.post(
                self._url,
                json=message,
                headers={"authorization": f"Bearer {access_token}"},
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            log.warning("push.send_failed", error=type(exc).__name__)
            return SendResult(Outcome.TRANSIENT, PROVIDER, error=type(exc).__name__)
        if response.status_code == 200:
            try:
                name = response.json().get("name")
            except (ValueError, AttributeError):
                name = None
            return SendResult(Outcome.ACCEPTED, PROVIDER, provider_message_id=str(name or ""))
        code = _error_code(response)
        if code in DEAD_TOKEN_CODES:
            return SendResult(Outcome.INVALID_TOKEN, PROVIDER, error=code)
        if code in RETRY_CODES or response.status_code in (429, 500, 502, 503, 504):
            return SendResult(Outcome.TRANSIENT, PROVIDER, error=code)
        log.warning("push.rejected", status=response.status_code, code=code)
        return SendResult(Outcome.REJECTED, PROVIDER, error=code)
