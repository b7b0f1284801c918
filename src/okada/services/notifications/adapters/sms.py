"""SMS gateway clients: ``POST {to, text, sender}`` to send, ``GET …/{id}`` for the report.

Both configured providers speak this shape (the primary and the backup simulator do). A
5xx, 429 or timeout is worth a retry (or a failover); another 4xx refuses the message.
Delivery reports that cannot be read come back as ``unknown``, never as an exception.
"""

from __future__ import annotations

from typing import Any

import httpx
import structlog

from okada.services.notifications.application.model import (
    Outcome,
    Receipt,
    ReceiptStatus,
    SendResult,
)

log = structlog.get_logger(__name__)

_REPORTS = {
    "delivered": ReceiptStatus.DELIVERED,
    "failed": ReceiptStatus.FAILED,
    "undelivered": ReceiptStatus.FAILED,
    "rejected": ReceiptStatus.FAILED,
    "pending": ReceiptStatus.PENDING,
    "accepted": ReceiptStatus.PENDING,
    "sent": ReceiptStatus.PENDING,
}


class HttpSmsGateway:
    """One SMS provider reached over HTTP (the directory's client, so embedded works too)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        name: str,
        send_path: str,
        status_path: str,
        sender_id: str,
        timeout: float = 5.0,
    ) -> None:
        self.name = name
        self._client = client
        self._send_path = send_path
        self._status_path = status_path
        self._sender_id = sender_id
        self._timeout = timeout

    async def send(self, *, to: str, text: str) -> SendResult:
        try:
            response = await self._client.post(
                self._send_path,
                json={"to": to, "text": text, "sender": self._sender_id},
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            return SendResult(Outcome.TRANSIENT, self.name, error=type(exc).__name__)
        if response.status_code < 300:
            try:
                body: Any = response.json()
                message_id = str(body["id"]) if isinstance(body, dict) else None
            except (ValueError, KeyError):
                message_id = None
            return SendResult(Outcome.ACCEPTED, self.name, provider_message_id=message_id)
        error = f"HTTP_{response.status_code}"
        if response.status_code >= 500 or response.status_code in (408, 429):
            return SendResult(Outcome.TRANSIENT, self.name, error=error)
        return SendResult(Outcome.REJECTED, self.name, error=error)

    async def status(self, provider_message_id: str) -> Receipt:
        try:
            response = await self._client.get(
                self._status_path.format(id=provider_message_id), timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            return Receipt(ReceiptStatus.UNKNOWN, type(exc).__name__)
        if response.status_code >= 300:
            return Receipt(ReceiptStatus.UNKNOWN, f"HTTP_{response.status_code}")
        try:
            body: Any = response.json()
        except ValueError:
            log.warning("sms.receipt_malformed", provider=self.name)
            return Receipt(ReceiptStatus.UNKNOWN, "malformed_receipt")
        status = body.get("status") if isinstance(body, dict) else None
        if not isinstance(status, str) or status.lower() not in _REPORTS:
            log.warning("sms.receipt_malformed", provider=self.name)
            return Receipt(ReceiptStatus.UNKNOWN, "malformed_receipt")
        detail = body.get("error")
        return Receipt(_REPORTS[status.lower()], str(detail)[:200] if detail else None)
