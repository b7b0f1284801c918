"""HTTP clients to inventory and delivery (in process when embedded, pooled when distributed).

Every call carries the service principal of orders and its own timeout. A transport error or
a 5xx is an unknown outcome: checkout answers 503 (the client retries with the same key and
order id, which inventory answers with the same hold), the saga retries the step later.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import structlog

from okada.kernel.errors import Unavailable
from okada.services.orders.application.ports import OutOfStock, Quote, ReservationEnded
from okada.services.orders.domain.errors import OrderIdConflict, ProductsUnavailable

log = structlog.get_logger(__name__)

ClientFactory = Callable[[], httpx.AsyncClient]
HeaderFactory = Callable[[], dict[str, str]]


def _code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("code", "")) if isinstance(body, dict) else ""


class HttpInventory:
    """Inventory's reservation and adjustment API."""

    def __init__(self, client: ClientFactory, headers: HeaderFactory, timeout: float) -> None:
        self._client = client
        self._headers = headers
        self._timeout = timeout

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
                    extra: dict[str, str] | None = None) -> httpx.Response:
        try:
            return await self._client().request(
                method, path, json=body, headers={**self._headers(), **(extra or {})},
                timeout=self._timeout)
        except httpx.HTTPError as exc:
            log.warning("orders.inventory_unreachable", path=path, error=repr(exc))
            raise Unavailable("inventory_unavailable", retry_after=1) from exc

    def _unexpected(self, response: httpx.Response) -> Exception:
        log.warning("orders.inventory_unexpected", status=response.status_code,
                    code=_code(response))
        return Unavailable("inventory_unavailable", retry_after=1)

    async def reserve(self, reservation_id: uuid.UUID, store_id: uuid.UUID,
                      lines: Sequence[tuple[uuid.UUID, int]], ttl_seconds: int) -> None:
        response = await self._call("POST", "/v1/inventory/reservations", {
            "order_id": str(reservation_id), "store_id": str(store_id),
            "lines": [{"product_id": str(p), "quantity": q} for p, q in lines],
            "ttl_seconds": ttl_seconds,
        })
        if response.status_code in (200, 201):
            return
        code = _code(response)
        if code == "out_of_stock":
            raise OutOfStock(list(response.json().get("missing", [])))
        if code == "product_not_offered":
            raise ProductsUnavailable([(uuid.UUID(x["product_id"]), str(x["reason"]))
                                       for x in response.json().get("lines", [])])
        if code in ("reservation_expired", "reservation_released"):
            raise ReservationEnded()
        if code == "reservation_mismatch":
            raise OrderIdConflict()
        raise self._unexpected(response)

    async def release(self, reservation_id: uuid.UUID, reason: str) -> str:
        response = await self._call(
            "POST", f"/v1/inventory/reservations/{reservation_id}/release", {"reason": reason})
        if response.status_code == 200:
            return str(response.json()["status"])
        if response.status_code == 404:
            return "missing"
        if _code(response) == "reservation_already_confirmed":
            return "confirmed"
        raise self._unexpected(response)

    async def confirm(self, reservation_id: uuid.UUID) -> str:
        response = await self._call(
            "POST", f"/v1/inventory/reservations/{reservation_id}/confirm")
        if response.status_code == 200:
            return "confirmed"
        if response.status_code == 404:
            return "missing"
        if _code(response) in ("reservation_expired", "reservation_released"):
            return "lost"
        raise self._unexpected(response)

    async def extend(self, reservation_id: uuid.UUID, ttl_seconds: int) -> str:
        response = await self._call(
            "POST", f"/v1/inventory/reservations/{reservation_id}/extend",
            {"ttl_seconds": ttl_seconds})
        if response.status_code == 200:
            return "held"
        if response.status_code == 404:
            return "missing"
        if response.status_code == 409:
            return "ended"
        raise self._unexpected(response)

    async def status(self, reservation_id: uuid.UUID) -> str:
        response = await self._call("GET", f"/v1/inventory/reservations/{reservation_id}")
        if response.status_code == 200:
            return str(response.json()["status"])
        if response.status_code == 404:
            return "missing"
        raise self._unexpected(response)

    async def return_goods(self, store_id: uuid.UUID, product_id: uuid.UUID, quantity: int,
                           key: str, note: str) -> None:
        # Inventory's Idempotency-Key makes the retried return count once.
        response = await self._call(
            "POST", f"/v1/merchant/stores/{store_id}/stock/adjustments",
            {"product_id": str(product_id), "kind": "return", "quantity": quantity,
             "note": note[:500]},
            extra={"Idempotency-Key": key[:255]})
        if response.status_code in (200, 201):
            return
        raise self._unexpected(response)


class HttpDelivery:
    """The delivery quote; None when delivery is not hosted, too slow or failing."""

    def __init__(self, client: ClientFactory, headers: HeaderFactory, timeout: float) -> None:
        self._client = client
        self._headers = headers
        self._timeout = timeout

    async def quote(self, store_id: uuid.UUID, address: dict[str, Any]) -> Quote | None:
        body: dict[str, Any] = {"store_id": str(store_id)}
        for name in ("lat", "lng", "city", "quartier", "landmark"):
            if address.get(name) is not None:
                body[name] = address[name]
        try:
            response = await self._client().post(
                "/v1/delivery/quote", json=body, headers=self._headers(), timeout=self._timeout)
        except httpx.HTTPError:
            return None  # not hosted or not answering in time: the local fallback decides
        if response.status_code != 200:
            return None
        try:
            data = response.json()
            return Quote(serviceable=bool(data["serviceable"]), fee_xaf=int(data["fee_xaf"]),
                         eta_minutes=data.get("eta_minutes"), reason=data.get("reason"),
                         lat=data.get("lat"), lng=data.get("lng"))
        except (ValueError, KeyError, TypeError):
            return None
