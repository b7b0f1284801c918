"""The inventory HTTP API in the embedded platform, called with signed principal headers.

The gateway does not route inventory paths yet, so requests go to the service app with the
principal header the gateway would sign.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from okada.contracts.catalog.v1 import OfferState, PriceChanged, offer_id
from okada.infra.bus.policy import FAST_TEST_POLICY
from okada.infra.security.internal import PRINCIPAL_HEADER
from okada.infra.settings import Mode, PlatformSettings
from okada.kernel.authz import Principal, Role
from okada.kernel.messages import Envelope
from okada.runtime.embedded import create_embedded_app


class Api:
    """Calls to the inventory service app as different principals."""

    def __init__(self, platform: FastAPI, http: httpx.AsyncClient) -> None:
        self.platform = platform
        self.http = http
        self.store = uuid.uuid4()
        self.other_store = uuid.uuid4()

    def headers(self, *roles: Role, stores: tuple[uuid.UUID, ...] = ()) -> dict[str, str]:
        principal = Principal(user_id=uuid.uuid4(), roles=frozenset(roles),
                              store_ids=frozenset(stores))
        codec = self.platform.state.host.ctx.codec
        return {PRINCIPAL_HEADER: codec.encode(principal), "accept-language": "en"}

    @property
    def service(self) -> dict[str, str]:
        return self.headers(Role.SERVICE)

    @property
    def merchant(self) -> dict[str, str]:
        return self.headers(Role.MERCHANT_STAFF, stores=(self.store,))

    async def offer(self, product: uuid.UUID, *, store: uuid.UUID | None = None,
                    on_hand: int = 0) -> None:
        """The catalog lists the product in the store; the merchant receives ``on_hand``."""
        store = store or self.store
        event = PriceChanged(entity_id=offer_id(store, product), version=1,
                             state=OfferState(store_id=store, product_id=product,
                                              price_xaf=750, listed=True))
        runtime = self.platform.state.host.runtimes["inventory"]
        (subscription,) = runtime.subscriptions
        await subscription.handler(Envelope(schema=event.schema_name,
                                            payload=event.to_payload(), producer="catalog"))
        if on_hand:
            response = await self.http.post(
                f"/v1/merchant/stores/{store}/stock/adjustments",
                json={"product_id": str(product), "kind": "receipt", "quantity": on_hand},
                headers=self.headers(Role.MERCHANT_STAFF, stores=(store,)))
            assert response.status_code == 201, response.text

    async def level(self, product: uuid.UUID) -> dict[str, Any]:
        response = await self.http.get(f"/v1/inventory/stores/{self.store}/stock",
                                       params={"product_ids": str(product)},
                                       headers=self.service)
        assert response.status_code == 200, response.text
        (item,) = response.json()["data"]
        return dict(item)

    def basket(self, *lines: tuple[uuid.UUID, Any], order_id: uuid.UUID | None = None,
               **extra: Any) -> dict[str, Any]:
        return {"order_id": str(order_id or uuid.uuid4()), "store_id": str(self.store),
                "lines": [{"product_id": str(p), "quantity": q} for p, q in lines], **extra}


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[FastAPI]:
    """The embedded platform hosting inventory alone (other services' seeds stay out)."""
    settings = PlatformSettings(mode=Mode.EMBEDDED, data_dir=tmp_path, log_json=True)
    app = create_embedded_app(settings, services=["inventory"], policy=FAST_TEST_POLICY,
                              configure_logs=False)
    async with LifespanManager(app, startup_timeout=120, shutdown_timeout=60):
        yield app


@pytest.fixture
async def api(platform: FastAPI) -> AsyncIterator[Api]:
    transport = httpx.ASGITransport(app=platform.state.host.runtimes["inventory"].app)
    async with httpx.AsyncClient(transport=transport, base_url="http://inventory.test") as http:
        yield Api(platform, http)


async def test_reservation_round_trip_for_the_orders_service(api: Api) -> None:
    rice, oil = uuid.uuid4(), uuid.uuid4()
    await api.offer(rice, on_hand=3)
    await api.offer(oil, on_hand=10)
    order_id = uuid.uuid4()
    body = api.basket((oil, 2), (rice, 1), order_id=order_id)

    created = await api.http.post("/v1/inventory/reservations", json=body, headers=api.service)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "held"
    assert [x["product_id"] for x in created.json()["lines"]] == sorted([str(rice), str(oil)])
    assert (await api.level(oil))["available"] == 8

    # the same order id and lines: the same reservation, nothing reserved twice
    again = await api.http.post("/v1/inventory/reservations", json=body, headers=api.service)
    assert (again.status_code, again.json()) == (201, created.json())
    assert (await api.level(oil))["reserved"] == 2
    other = await api.http.post("/v1/inventory/reservations", headers=api.service,
                                json=api.basket((oil, 3), order_id=order_id))
    assert (other.status_code, other.json()["code"]) == (409, "reservation_mismatch")

    # a basket with one short line: 409 naming it, and nothing of the basket is held
    short = await api.http.post("/v1/inventory/reservations", headers=api.service,
                                json=api.basket((oil, 1), (rice, 5)))
    assert short.status_code == 409
    assert short.headers["content-type"] == "application/problem+json"
    assert short.json()["code"] == "out_of_stock"
    assert short.json()["missing"] == [{"product_id": str(rice), "requested": 5,
                                        "available": 2}]
    assert (await api.level(oil))["reserved"] == 2

    fetched = await api.http.get(f"/v1/inventory/reservations/{order_id}", headers=api.service)
    assert fetched.json() == created.json()
    extended = await api.http.post(f"/v1/inventory/reservations/{order_id}/extend",
                                   json={"ttl_seconds": 1200}, headers=api.service)
    assert extended.status_code == 200, extended.text
    assert extended.json()["expires_at"] > created.json()["expires_at"]
    confirmed = await api.http.post(f"/v1/inventory/reservations/{order_id}/confirm",
                                    headers=api.service)
    assert (confirmed.status_code, confirmed.json()["status"]) == (200, "confirmed")
    assert {k: (await api.level(oil))[k] for k in ("on_hand", "reserved")} == {
        "on_hand": 8, "reserved": 0}
    late = await api.http.post(f"/v1/inventory/reservations/{order_id}/release",
                               json={"reason": "customer_cancelled"}, headers=api.service)
    assert (late.status_code, late.json()["code"]) == (409, "reservation_already_confirmed")
    missing = await api.http.get(f"/v1/inventory/reservations/{uuid.uuid4()}",
                                 headers=api.headers(Role.OPERATIONS))
    assert (missing.status_code, missing.json()["code"]) == (404, "reservation_not_found")


async def test_bad_baskets_are_422_naming_the_problem(api: Api) -> None:
    sold = uuid.uuid4()
    await api.offer(sold, on_hand=5)
    unknown, elsewhere = uuid.uuid4(), uuid.uuid4()
    await api.offer(elsewhere, store=api.other_store, on_hand=5)

    for quantity in (0, -1, 1000, 2.5, "3", None):
        response = await api.http.post("/v1/inventory/reservations", headers=api.service,
                                       json=api.basket((sold, quantity)))
        assert response.status_code == 422, (quantity, response.text)
    for extra in ({"ttl_seconds": 0}, {"ttl_seconds": 99_999}, {"status": "confirmed"}):
        response = await api.http.post("/v1/inventory/reservations", headers=api.service,
                                        json=api.basket((sold, 1), **extra))
        assert response.status_code == 422, (extra, response.text)
    merged = await api.http.post("/v1/inventory/reservations", headers=api.service,
                                 json=api.basket((sold, 600), (sold, 600)))
    assert (merged.status_code, merged.json()["code"]) == (422, "invalid_quantity")

    refused = await api.http.post("/v1/inventory/reservations", headers=api.service,
                                  json=api.basket((sold, 1), (unknown, 1), (elsewhere, 1)))
    assert refused.status_code == 422
    assert refused.json()["code"] == "product_not_offered"
    assert sorted(x["product_id"] for x in refused.json()["lines"]) == sorted(
        [str(unknown), str(elsewhere)])
    assert (await api.level(sold))["reserved"] == 0


async def test_who_may_call_what(api: Api) -> None:
    product = uuid.uuid4()
    await api.offer(product, on_hand=5)
    order_id = uuid.uuid4()
    held = await api.http.post("/v1/inventory/reservations", headers=api.service,
                               json=api.basket((product, 1), order_id=order_id))
    assert held.status_code == 201
    stock_url = f"/v1/inventory/stores/{api.store}/stock"
    adjust_url = f"/v1/merchant/stores/{api.store}/stock/adjustments"
    receipt = {"product_id": str(product), "kind": "receipt", "quantity": 1}
    reservation_calls = [
        ("POST", "/v1/inventory/reservations", api.basket((product, 1))),
        ("GET", f"/v1/inventory/reservations/{order_id}", None),
        ("POST", f"/v1/inventory/reservations/{order_id}/confirm", None),
        ("POST", f"/v1/inventory/reservations/{order_id}/release", {"reason": "x"}),
        ("POST", f"/v1/inventory/reservations/{order_id}/extend", {"ttl_seconds": 60}),
    ]
    management_calls = [("GET", stock_url, None), ("POST", adjust_url, receipt),
                        ("GET", adjust_url, None)]

    async def status(method: str, url: str, body: Any, headers: dict[str, str]) -> int:
        response = await api.http.request(method, url, json=body, headers=headers)
        return response.status_code

    customer = api.headers(Role.CUSTOMER)
    stranger = api.headers(Role.MERCHANT_STAFF, stores=(api.other_store,))
    rider = api.headers(Role.RIDER)
    for method, url, body in reservation_calls + management_calls:
        assert await status(method, url, body, {}) == 401, url
        assert await status(method, url, body, customer) == 403, url
        assert await status(method, url, body, rider) == 403, url
        assert await status(method, url, body, stranger) == 403, url
    for method, url, body in reservation_calls:  # store staff do not drive reservations
        assert await status(method, url, body, api.merchant) == 403, url
    level = await api.level(product)  # nothing changed by any refused call
    assert (level["on_hand"], level["reserved"]) == (5, 1)

    # allowed: the store's own staff and operations manage stock, services read it
    ops = api.headers(Role.OPERATIONS)
    assert await status("GET", stock_url, None, api.merchant) == 200
    assert await status("POST", adjust_url, receipt, api.merchant) == 201
    assert await status("POST", adjust_url, receipt, ops) == 201
    assert await status("POST", adjust_url, receipt, api.service) == 403
    assert await status("GET", f"/v1/inventory/reservations/{order_id}", None, ops) == 200
    assert (await api.level(product))["on_hand"] == 7


async def test_adjustments_through_the_api_with_a_paginated_audit_trail(api: Api) -> None:
    product = uuid.uuid4()
    await api.offer(product, on_hand=10)
    url = f"/v1/merchant/stores/{api.store}/stock/adjustments"
    reserve = await api.http.post("/v1/inventory/reservations", headers=api.service,
                                  json=api.basket((product, 6)))
    assert reserve.status_code == 201

    for kind, quantity in (("damage", 1), ("return", 2), ("count", 8)):
        response = await api.http.post(url, headers=api.merchant, json={
            "product_id": str(product), "kind": kind, "quantity": quantity, "note": kind})
        assert response.status_code == 201, response.text
    assert response.json()["stock"] | {"version": 0} == {
        "store_id": str(api.store), "product_id": str(product), "on_hand": 8, "reserved": 6,
        "available": 2, "low_stock_threshold": 5, "listed": True, "sellable": True,
        "version": 0}

    below = await api.http.post(url, headers=api.merchant, json={
        "product_id": str(product), "kind": "count", "quantity": 5})
    assert (below.status_code, below.json()["code"]) == (409, "stock_below_reserved")
    for body in ({"product_id": str(product), "kind": "theft", "quantity": 1},
                 {"product_id": str(product), "kind": "receipt", "quantity": -1},
                 {"product_id": str(product), "kind": "receipt", "quantity": 1, "delta": 5}):
        assert (await api.http.post(url, headers=api.merchant, json=body)).status_code == 422
    unknown = await api.http.post(url, headers=api.merchant, json={
        "product_id": str(uuid.uuid4()), "kind": "receipt", "quantity": 1})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "stock_item_not_found")

    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await api.http.get(url, params=params, headers=api.merchant)).json()
        seen += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [(e["kind"], e["delta"], e["on_hand_before"], e["on_hand_after"]) for e in seen] == [
        ("count", -3, 11, 8), ("return", 2, 9, 11), ("damage", -1, 10, 9),
        ("receipt", 10, 0, 10)]
    bad = await api.http.get(url, params={"cursor": "not-a-cursor"}, headers=api.merchant)
    assert bad.status_code == 400


async def test_the_sweeper_worker_expires_holds_and_confirm_is_then_refused(api: Api) -> None:
    product = uuid.uuid4()
    await api.offer(product, on_hand=2)
    order_id = uuid.uuid4()
    held = await api.http.post("/v1/inventory/reservations", headers=api.service,
                               json=api.basket((product, 2), order_id=order_id, ttl_seconds=1))
    assert held.status_code == 201
    assert (await api.level(product))["available"] == 0

    status = "held"
    for _ in range(50):  # the platform's own sweeper, scanning every second
        await asyncio.sleep(0.1)
        status = (await api.http.get(f"/v1/inventory/reservations/{order_id}",
                                     headers=api.service)).json()["status"]
        if status == "expired":
            break
    assert status == "expired"
    assert (await api.level(product))["available"] == 2
    refused = await api.http.post(f"/v1/inventory/reservations/{order_id}/confirm",
                                  headers=api.service)
    assert refused.status_code == 409
    assert refused.json()["code"] == "reservation_expired"
    assert (await api.level(product))["available"] == 2


async def test_an_idempotency_key_replays_the_first_answer(api: Api) -> None:
    product = uuid.uuid4()
    await api.offer(product, on_hand=1)
    headers = {**api.service, "idempotency-key": f"reserve-{uuid.uuid4()}"}
    body = api.basket((product, 1))

    first = await api.http.post("/v1/inventory/reservations", json=body, headers=headers)
    second = await api.http.post("/v1/inventory/reservations", json=body, headers=headers)

    assert first.status_code == second.status_code == 201
    assert second.headers.get("idempotent-replayed") == "true"
    assert second.content == first.content


async def test_a_whole_store_is_listed_page_by_page(api: Api) -> None:
    products = sorted(uuid.uuid4() for _ in range(3))
    for number, product in enumerate(products):
        await api.offer(product, on_hand=number + 1)
    await api.offer(uuid.uuid4(), store=api.other_store, on_hand=1)
    url = f"/v1/inventory/stores/{api.store}/stock"

    first = (await api.http.get(url, params={"limit": 2}, headers=api.merchant)).json()
    second = (await api.http.get(url, params={"limit": 2, "cursor": first["next_cursor"]},
                                 headers=api.merchant)).json()
    some = (await api.http.get(url, headers=api.merchant, params={
        "product_ids": f"{products[2]},{uuid.uuid4()}", "limit": 1})).json()
    malformed = await api.http.get(url, params={"product_ids": "nope"}, headers=api.merchant)

    assert [x["on_hand"] for x in first["data"] + second["data"]] == [1, 2, 3]
    assert second["next_cursor"] is None
    assert [(x["product_id"], x["available"]) for x in some["data"]] == [(str(products[2]), 3)]
    assert malformed.status_code == 422
