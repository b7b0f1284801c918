"""The delivery HTTP API in the embedded platform; other services' events come over the bus.

Catalog, identity, orders and payments are not hosted: their contract events are published on
the platform's in-process bus, which hands them to delivery's consumer like any producer would.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from okada.contracts.base import IntegrationEvent
from okada.contracts.catalog.v1 import StoreState, StoreUpdated
from okada.contracts.identity.v1 import UserRegistered, UserState
from okada.contracts.orders.v1 import OrderAccepted, OrderReady
from okada.contracts.payments.v1 import CashCollected, CashLedgerState
from okada.infra.bus.policy import FAST_TEST_POLICY
from okada.infra.security.internal import PRINCIPAL_HEADER
from okada.infra.settings import Mode, PlatformSettings
from okada.kernel.authz import Principal, Role
from okada.kernel.clock import FrozenClock
from okada.kernel.messages import Envelope
from okada.runtime.embedded import create_embedded_app
from tests.services.delivery.conftest import AKWA, BONAMOUSSADI, NOON, order_state


class Api:
    """Calls to the delivery app as different principals; events published on the bus."""

    def __init__(self, platform: FastAPI, http: httpx.AsyncClient, gateway: httpx.AsyncClient
                 ) -> None:
        self.platform = platform
        self.http = http
        self.gateway = gateway
        self.clock: FrozenClock = platform.state.host.ctx.clock
        self.store = uuid.uuid4()
        self.customer = uuid.uuid4()

    def headers(self, user: uuid.UUID, *roles: Role, stores: tuple[uuid.UUID, ...] = (),
                **extra: str) -> dict[str, str]:
        principal = Principal(user_id=user, roles=frozenset(roles), store_ids=frozenset(stores))
        codec = self.platform.state.host.ctx.codec
        return {PRINCIPAL_HEADER: codec.encode(principal), "accept-language": "en", **extra}

    def rider(self, rider: uuid.UUID) -> dict[str, str]:
        return self.headers(rider, Role.RIDER)

    async def publish(self, event: IntegrationEvent) -> None:
        await self.platform.state.host.ctx.bus.publish(
            [Envelope(schema=event.schema_name, payload=event.to_payload(), producer="test")])

    @property
    def services(self) -> Any:
        return self.platform.state.host.runtimes["delivery"].app.state.services


@pytest.fixture
async def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FastAPI]:
    """The embedded platform hosting delivery alone, on a frozen clock."""
    # The test drives dispatch itself (clock frozen); tracking streams poll quickly.
    monkeypatch.setenv("DELIVERY_DISPATCH_INTERVAL_SECONDS", "3600")
    monkeypatch.setenv("DELIVERY_SSE_POLL_SECONDS", "0.05")
    settings = PlatformSettings(mode=Mode.EMBEDDED, data_dir=tmp_path, log_json=True,
                                seed_demo_data=False)
    app = create_embedded_app(settings, services=["delivery"], clock=FrozenClock(NOON),
                              policy=FAST_TEST_POLICY, configure_logs=False)
    async with LifespanManager(app, startup_timeout=120, shutdown_timeout=60) as manager:
        app.state.asgi = manager.app
        yield app


@pytest.fixture
async def api(platform: FastAPI) -> AsyncIterator[Api]:
    service = httpx.ASGITransport(app=platform.state.host.runtimes["delivery"].app)
    edge = httpx.ASGITransport(app=platform.state.asgi, client=("203.0.113.9", 50000))
    async with httpx.AsyncClient(transport=service, base_url="http://delivery.test") as http, \
            httpx.AsyncClient(transport=edge, base_url="http://okada.test") as gateway:
        yield Api(platform, http, gateway)


async def publish_world(api: Api) -> tuple[uuid.UUID, uuid.UUID]:
    """A store, a rider online near it, and an accepted order ready for pickup."""
    await api.publish(StoreUpdated(entity_id=api.store, version=1, state=StoreState(
        name="Okada Akwa", kind="dark_store", city="Douala", quartier="Akwa", landmark=None,
        lat=AKWA[0], lng=AKWA[1], delivery_radius_m=8000, delivery_polygon=None,
        opening_hours=[], status="open", prep_minutes=0)))
    rider = uuid.uuid4()
    await api.publish(UserRegistered(entity_id=rider, version=1, state=UserState(
        name="Rider", language="fr", roles=["rider"], store_ids=[], phones=[], disabled=False,
        created_at=NOON)))
    order_id = uuid.uuid4()
    state = order_state(api.store, customer_id=api.customer, now=api.clock.now())
    await api.publish(OrderAccepted(entity_id=order_id, version=1, state=state))
    ready = state.model_copy(update={"status": "READY_FOR_PICKUP"})
    await api.publish(OrderReady(entity_id=order_id, version=2, state=ready))
    return rider, order_id


async def test_geo_endpoints_are_public_through_the_gateway(api: Api) -> None:
    found = await api.gateway.get("/v1/geo/geocode",
                                  params={"q": "Bépanda, face stade", "city": "Douala"})
    assert found.status_code == 200, found.text
    assert found.json()["quartier"] == "Bépanda" and found.json()["confidence"] > 0.5
    missing = await api.gateway.get("/v1/geo/geocode", params={"q": "zzqx"},
                                    headers={"accept-language": "fr"})
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert (missing.json()["code"], missing.json()["title"]) == ("address_not_found",
                                                                 "Adresse introuvable")
    where = await api.gateway.get("/v1/geo/reverse", params={"lat": 3.8951, "lng": 11.5101})
    assert (where.status_code, where.json()["quartier"]) == (200, "Bastos")
    abroad = await api.gateway.get("/v1/geo/reverse", params={"lat": 48.85, "lng": 2.35})
    assert (abroad.status_code, abroad.json()["code"]) == (422, "point_outside_cameroon")
    bad = await api.gateway.get("/v1/geo/reverse", params={"lat": "north", "lng": 2})
    assert bad.status_code == 422
    code = (await api.gateway.get("/v1/geo/pluscode/encode",
                                  params={"lat": 4.0906, "lng": 9.7455})).json()["code"]
    decoded = await api.gateway.get("/v1/geo/pluscode/decode", params={"code": code})
    assert decoded.status_code == 200
    assert abs(decoded.json()["lat"] - 4.0906) < 0.0002
    assert abs(decoded.json()["lng"] - 9.7455) < 0.0002


async def test_the_quote_has_the_shape_orders_relies_on(api: Api) -> None:
    await publish_world(api)
    service = api.headers(uuid.uuid4(), Role.SERVICE)
    body = {"store_id": str(api.store), "lat": BONAMOUSSADI[0], "lng": BONAMOUSSADI[1]}
    quoted = await api.http.post("/v1/delivery/quote", json=body, headers=service)
    assert quoted.status_code == 200, quoted.text
    assert set(quoted.json()) == {"serviceable", "fee_xaf", "distance_m", "eta_minutes",
                                  "eta_at", "lat", "lng", "reason"}
    assert quoted.json()["serviceable"] is True and isinstance(quoted.json()["fee_xaf"], int)
    text = await api.http.post("/v1/delivery/quote", headers=service, json={
        "store_id": str(api.store), "city": "Douala", "quartier": "Mars", "landmark": "??"})
    assert (text.status_code, text.json()["reason"]) == (200, "address_not_found")
    extra = await api.http.post("/v1/delivery/quote", headers=service,
                                json={**body, "price": 0})
    assert extra.status_code == 422
    anonymous = await api.http.post("/v1/delivery/quote", json=body)
    assert anonymous.status_code == 401


async def test_journey_offer_claim_lifecycle_and_tracking(api: Api) -> None:
    rider, order_id = await publish_world(api)
    me = api.rider(rider)
    # pings before the shift are refused; online with a position; a batch with a duplicate
    early = await api.http.post("/v1/rider/locations", headers=me, json={"pings": [
        {"at": NOON.isoformat(), "lat": 4.051, "lng": 9.70}]})
    assert (early.status_code, early.json()["code"]) == (409, "rider_off_shift")
    await api.publish(CashCollected(
        entity_id=rider, version=1, order_id=uuid.uuid4(), amount_xaf=12_000,
        state=CashLedgerState(rider_id=rider, cash_in_hand_xaf=12_000, float_limit_xaf=60_000,
                              updated_at=NOON)))
    online = await api.http.post("/v1/rider/shift", headers=me,
                                 json={"status": "online", "lat": 4.051, "lng": 9.70})
    assert (online.status_code, online.json()["shift"]) == (200, "online")
    assert online.json()["cash_in_hand_xaf"] == 12_000  # payments' ledger, via the bus
    api.clock.advance(seconds=30)
    at = (api.clock.now() - dt.timedelta(seconds=10)).isoformat()
    batch = {"pings": [{"at": at, "lat": 4.052, "lng": 9.70},
                       {"at": at, "lat": 4.052, "lng": 9.70}]}
    pinged = await api.http.post("/v1/rider/locations", headers=me, json=batch)
    assert pinged.status_code == 200, pinged.text
    assert (pinged.json()["accepted"], pinged.json()["duplicates"]) == (1, 1)
    future = (api.clock.now() + dt.timedelta(hours=3)).isoformat()
    refused = await api.http.post("/v1/rider/locations", headers=me, json={"pings": [
        {"at": future, "lat": 4.052, "lng": 9.70}]})
    assert (refused.status_code, refused.json()["code"]) == (422, "pings_rejected")
    assert refused.headers["content-type"] == "application/problem+json"
    too_many = await api.http.post("/v1/rider/locations", headers=me, json={
        "pings": [{"at": at, "lat": 4.05, "lng": 9.70}] * 201})
    assert too_many.status_code == 422

    # dispatch (the worker's scan, run by the test on its frozen clock)
    assert await api.services.dispatch.run_once() == 1
    offers = (await api.http.get("/v1/rider/offers", headers=me)).json()["data"]
    assert len(offers) == 1 and offers[0]["order_id"] == str(order_id)
    intruder = uuid.uuid4()
    stolen = await api.http.post(f"/v1/rider/offers/{offers[0]['id']}/accept",
                                 headers=api.rider(intruder))
    assert (stolen.status_code, stolen.json()["code"]) == (404, "offer_not_found")
    accepted = await api.http.post(f"/v1/rider/offers/{offers[0]['id']}/accept", headers=me)
    assert accepted.status_code == 200, accepted.text
    delivery_id = accepted.json()["id"]
    assert "pin" not in accepted.json()
    mine = await api.http.get(f"/v1/rider/deliveries/{delivery_id}", headers=me)
    assert (mine.status_code, mine.json()["status"]) == (200, "ASSIGNED")
    assert mine.json()["customer_phone_masked"] == "+2376****3456"
    theirs = await api.http.get(f"/v1/rider/deliveries/{delivery_id}",
                                headers=api.rider(intruder))
    assert theirs.status_code == 404

    # tracking: the owner sees the PIN and the rider; ETag makes polling cheap
    owner = api.headers(api.customer, Role.CUSTOMER)
    url = f"/v1/delivery/orders/{order_id}/tracking"
    tracked = await api.http.get(url, headers=owner)
    assert tracked.status_code == 200, tracked.text
    pin = tracked.json()["pin"]
    assert len(pin) == 4 and tracked.json()["rider"]["rider_id"] == str(rider)
    pin_url = f"/internal/v1/delivery/orders/{order_id}/pin"
    for_service = await api.http.get(pin_url, headers=api.headers(uuid.uuid4(), Role.SERVICE))
    assert (for_service.status_code, for_service.json()["pin"]) == (200, pin)
    assert (await api.http.get(pin_url, headers=owner)).status_code == 403
    etag = tracked.headers["etag"]
    same = await api.http.get(url, headers={**owner, "if-none-match": etag})
    assert (same.status_code, same.content) == (304, b"")
    other_customer = await api.http.get(url, headers=api.headers(uuid.uuid4(), Role.CUSTOMER))
    assert (other_customer.status_code, other_customer.json()["code"]) == (
        404, "delivery_not_found")
    assert (await api.http.get(url, headers=me)).status_code == 404  # riders use their job
    staff = await api.http.get(url, headers=api.headers(
        uuid.uuid4(), Role.MERCHANT_STAFF, stores=(api.store,)))
    assert staff.status_code == 200 and staff.json()["pin"] is None
    elsewhere = await api.http.get(url, headers=api.headers(
        uuid.uuid4(), Role.MERCHANT_STAFF, stores=(uuid.uuid4(),)))
    assert elsewhere.status_code == 404

    # lifecycle through the API; the rider's move changes the tracking ETag
    status_url = f"/v1/rider/deliveries/{delivery_id}/status"
    now = api.clock.now().isoformat()
    foreign = await api.http.post(status_url, headers=api.rider(intruder),
                                  json={"status": "AT_STORE", "at": now})
    assert foreign.status_code == 404
    customer_try = await api.http.post(status_url, headers=owner,
                                       json={"status": "AT_STORE", "at": now})
    assert (customer_try.status_code, customer_try.json()["code"]) == (403, "role_required")
    for status in ("AT_STORE", "PICKED_UP", "ARRIVING"):
        moved = await api.http.post(status_url, headers=me, json={"status": status, "at": now})
        assert (moved.status_code, moved.json()["status"]) == (200, status), moved.text
    changed = await api.http.get(url, headers={**owner, "if-none-match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    wrong = "0000" if pin != "0000" else "1111"
    refused = await api.http.post(status_url, headers=me,
                                  json={"status": "DELIVERED", "at": now, "pin": wrong})
    assert (refused.status_code, refused.json()["code"]) == (422, "wrong_pin")
    assert "4" in refused.json()["detail"]  # attempts left
    malformed = await api.http.post(status_url, headers=me,
                                    json={"status": "DELIVERED", "at": now, "pin": "12a4"})
    assert malformed.status_code == 422
    done = await api.http.post(status_url, headers=me,
                               json={"status": "DELIVERED", "at": now, "pin": pin})
    assert (done.status_code, done.json()["status"], done.json()["proof"]) == (
        200, "DELIVERED", "pin")
    final = await api.http.get(url, headers=owner)
    assert final.json()["status"] == "DELIVERED" and final.json()["pin"] is None

    # the stream of a finished delivery sends its state once and ends
    streamed = await api.http.get(url, headers={**owner, "accept": "text/event-stream"})
    assert streamed.status_code == 200
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert streamed.text.count("event: tracking") == 1
    assert 'event: end\ndata: {"reason": "terminal"}' in streamed.text


async def test_the_tracking_stream_sends_changes_and_is_bounded(api: Api) -> None:
    _rider, order_id = await publish_world(api)
    owner = api.headers(api.customer, Role.CUSTOMER, accept="text/event-stream")
    # nobody assigned yet: the stream sends the state once, then ends after max_seconds
    streamed = await api.http.get(f"/v1/delivery/orders/{order_id}/tracking",
                                  params={"max_seconds": 0.3}, headers=owner)
    assert streamed.status_code == 200
    events = [block for block in streamed.text.split("\n\n") if block]
    assert events[0].startswith("id: 1\nevent: tracking\ndata: {")
    assert '"status":"SEARCHING"' in events[0]
    assert events[-1] == 'event: end\ndata: {"reason": "timeout"}'
    assert len(events) == 2  # nothing changed meanwhile: no repeated state
    stranger = await api.http.get(f"/v1/delivery/orders/{order_id}/tracking",
                                  headers=api.headers(uuid.uuid4(), Role.CUSTOMER,
                                                      accept="text/event-stream"))
    assert stranger.status_code == 404


async def test_operations_assign_by_hand_and_others_may_not(api: Api) -> None:
    rider, order_id = await publish_world(api)
    job = await api.services.deliveries.tracking(order_id)
    url = f"/v1/admin/delivery/deliveries/{job.delivery.id}/assign"
    body = {"rider_id": str(rider), "reason": "regular rider of this customer"}
    forbidden = await api.http.post(url, json=body,
                                    headers=api.headers(api.customer, Role.CUSTOMER))
    assert forbidden.status_code == 403
    ops = api.headers(uuid.uuid4(), Role.OPERATIONS)
    assigned = await api.http.post(url, json=body, headers=ops)
    assert assigned.status_code == 200, assigned.text
    assert (assigned.json()["status"], assigned.json()["rider_id"]) == ("ASSIGNED", str(rider))
    unknown = await api.http.post(url, headers=ops,
                                  json={"rider_id": str(uuid.uuid4()), "reason": "x"})
    assert (unknown.status_code, unknown.json()["code"]) == (422, "rider_not_found")
    missing = await api.http.post(f"/v1/admin/delivery/deliveries/{uuid.uuid4()}/assign",
                                  json=body, headers=ops)
    assert missing.status_code == 404


async def test_the_stream_pushes_each_change_while_it_is_open(api: Api) -> None:
    rider, order_id = await publish_world(api)
    job = await api.services.deliveries.tracking(order_id)
    ops = api.headers(uuid.uuid4(), Role.OPERATIONS)
    owner = api.headers(api.customer, Role.CUSTOMER, accept="text/event-stream")

    async def watch() -> httpx.Response:
        return await api.http.get(f"/v1/delivery/orders/{order_id}/tracking",
                                  params={"max_seconds": 2.0}, headers=owner)

    # Know when the stream has read (and so sent) the first state: the route reads once to
    # check access, the stream's first poll is the second read.
    deliveries = api.services.deliveries
    original, reads = deliveries.tracking, asyncio.Queue()

    async def counted(order: uuid.UUID) -> Any:
        found = await original(order)
        reads.put_nowait(order)
        return found

    deliveries.tracking = counted
    watching = asyncio.create_task(watch())
    for _ in range(2):
        await asyncio.wait_for(reads.get(), timeout=10)
    deliveries.tracking = original
    assigned = await api.http.post(
        f"/v1/admin/delivery/deliveries/{job.delivery.id}/assign", headers=ops,
        json={"rider_id": str(rider), "reason": "ops"})
    assert assigned.status_code == 200, assigned.text
    streamed = await watching
    states = [block for block in streamed.text.split("\n\n") if "event: tracking" in block]
    assert len(states) == 2
    assert '"status":"SEARCHING"' in states[0] and '"status":"ASSIGNED"' in states[1]
    assert states[1].startswith("id: 2\n")
