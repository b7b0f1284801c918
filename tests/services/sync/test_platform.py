"""Sync through the embedded gateway with the real identity service (places round trip),
the raw-body transport rules, REST edits with ETag/If-Match, and tus uploads."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from okada.contracts.base import IntegrationEvent
from okada.infra.bus.policy import FAST_TEST_POLICY
from okada.infra.security.internal import PRINCIPAL_HEADER
from okada.infra.settings import Mode, PlatformSettings
from okada.kernel.authz import Principal, Role
from okada.kernel.messages import Envelope
from okada.runtime.embedded import create_embedded_app
from tests.support.journeys import bearer, sign_in

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40
TUS = {"tus-resumable": "1.0.0"}


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """Gateway + identity + sync in embedded mode."""
    settings = PlatformSettings(mode=Mode.EMBEDDED, data_dir=tmp_path, log_json=True,
                                seed_demo_data=False)
    app = create_embedded_app(settings, services=["identity", "sync"],
                              policy=FAST_TEST_POLICY, configure_logs=False)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=("203.0.113.9", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://okada.test") as c:
            c.platform = app  # type: ignore[attr-defined]
            yield c


def platform(http: httpx.AsyncClient) -> FastAPI:
    app: FastAPI = http.platform  # type: ignore[attr-defined]
    return app


async def publish(http: httpx.AsyncClient, *events: IntegrationEvent) -> None:
    """Put contract events on the bus, as their producers would."""
    await platform(http).state.host.ctx.bus.publish(
        [Envelope(schema=e.schema_name, payload=e.to_payload(), producer="test")
         for e in events])


def direct(http: httpx.AsyncClient) -> httpx.AsyncClient:
    """The sync service app itself (the gateway never forwards a caller's principal header)."""
    client: httpx.AsyncClient = platform(http).state.host.ctx.directory.client("sync")
    return client


def signed(http: httpx.AsyncClient, user: uuid.UUID, *roles: Role) -> dict[str, str]:
    codec = platform(http).state.host.ctx.codec
    return {PRINCIPAL_HEADER: codec.encode(Principal(user_id=user, roles=frozenset(roles)))}


async def pull(http: httpx.AsyncClient, headers: dict[str, str],
               cursor: int | None = None) -> dict[str, Any]:
    response = await http.get("/v1/sync", params={
        "last_pulled_at": "null" if cursor is None else cursor, "schema_version": 1,
        "migration": "null"}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


async def test_places_push_goes_to_identity_and_back(http: httpx.AsyncClient) -> None:
    tokens = await sign_in(http, "699500001", "+237699500001")
    headers = {**bearer(tokens), "x-client-id": "deviceA1"}
    first = await pull(http, headers)
    assert first["timestamp"] > 0
    place = {"id": "pl4ceAAAAAAAAAAA", "label": "Maison", "city": "douala",
             "quartier": "bonamoussadi", "landmark": "derrière la pharmacie", "directions": "",
             "lat": 4.09, "lng": 9.745, "plus_code": None, "contact_phone": "6 77 12 34 56",
             "is_default": True, "_status": "created", "_changed": ""}
    body = json.dumps({"places": {"created": [place], "updated": [], "deleted": []}})
    # the docs' glue: no Content-Type header, so fetch sends text/plain
    pushed = await http.post(f"/v1/sync?last_pulled_at={first['timestamp']}&schema_version=1",
                             content=body.encode(),
                             headers={**headers, "content-type": "text/plain;charset=UTF-8"})
    assert pushed.status_code == 200, pushed.text
    assert pushed.json() == {}
    listed = (await http.get("/v1/users/me/places", headers=bearer(tokens))).json()["data"]
    assert [(p["label"], p["city"], p["contact_phone"]) for p in listed] == [
        ("Maison", "Douala", "+237677123456")]
    place_id = listed[0]["id"]
    echo = await pull(http, headers, first["timestamp"])
    (row,) = echo["changes"]["places"]["updated"]  # our own push: an echo, never "created"
    assert row["id"] == "pl4ceAAAAAAAAAAA" and row["city"] == "Douala"
    assert echo["changes"]["places"]["created"] == []
    # a REST edit at identity reaches the device through identity's event
    current = await http.get(f"/v1/users/me/places/{place_id}", headers=bearer(tokens))
    patched = await http.patch(f"/v1/users/me/places/{place_id}", json={"label": "Chez moi"},
                               headers={**bearer(tokens), "if-match": current.headers["etag"],
                                        "content-type": "application/merge-patch+json"})
    assert patched.status_code == 200, patched.text
    for _ in range(100):
        later = await pull(http, headers, echo["timestamp"])
        if later["changes"]["places"]["updated"]:
            break
        await asyncio.sleep(0.05)
    (row,) = later["changes"]["places"]["updated"]
    assert row["id"] == "pl4ceAAAAAAAAAAA" and row["label"] == "Chez moi"
    # another device of the same user gets the place as created, once
    other = await pull(http, {**bearer(tokens), "x-client-id": "deviceB1"})
    assert [r["id"] for r in other["changes"]["places"]["created"]] == ["pl4ceAAAAAAAAAAA"]
    # deleting on the device deletes at identity (gzip body this time)
    deletion = gzip.compress(json.dumps(
        {"places": {"created": [], "updated": [], "deleted": ["pl4ceAAAAAAAAAAA"]}}).encode())
    gone = await http.post(f"/v1/sync?last_pulled_at={later['timestamp']}&schema_version=1",
                           content=deletion, headers={**headers, "content-encoding": "gzip"})
    assert gone.status_code == 200, gone.text
    assert (await http.get(f"/v1/users/me/places/{place_id}",
                           headers=bearer(tokens))).status_code == 404
    final = await pull(http, {**bearer(tokens), "x-client-id": "deviceB1"}, other["timestamp"])
    assert final["changes"]["places"]["deleted"] == ["pl4ceAAAAAAAAAAA"]


async def test_transport_errors_are_problems(http: httpx.AsyncClient) -> None:
    user = uuid.uuid4()
    headers = {**signed(http, user, Role.CUSTOMER), "accept-language": "fr"}
    staff = {**signed(http, user, Role.MERCHANT_STAFF), "x-client-id": "dev1"}
    assert (await http.get("/v1/sync")).status_code == 401
    http = direct(http)
    missing = await http.get("/v1/sync", headers=headers)
    assert missing.status_code == 400
    assert missing.json()["code"] == "sync_client_id_required"
    assert missing.headers["content-language"] == "fr"
    headers["x-client-id"] = "dev1"
    state = await pull(http, headers)
    bad = await http.post(f"/v1/sync?last_pulled_at={state['timestamp']}", content=b"{nope",
                          headers=headers)
    assert bad.status_code == 400 and bad.json()["code"] == "sync_malformed"
    assert (await http.get("/v1/sync", headers=staff)).status_code == 403
    # conflict: 409 with the ids, nothing applied
    row = {"id": "cart1", "store_id": "s", "product_id": "p", "quantity": 1}
    ok = await http.post(f"/v1/sync?last_pulled_at={state['timestamp']}", headers=headers,
                         json={"cart_items": {"created": [row], "updated": [], "deleted": []}})
    assert ok.status_code == 200, ok.text
    stale = await http.post(
        f"/v1/sync?last_pulled_at={state['timestamp']}", headers=headers,
        json={"cart_items": {"created": [{**row, "id": "cart2"}],
                             "updated": [{**row, "quantity": 3}], "deleted": []}})
    assert stale.status_code == 409, stale.text
    assert stale.json()["conflicts"] == {"cart_items": ["cart1"]}
    after = await pull(http, headers)
    assert [r["id"] for r in after["changes"]["cart_items"]["created"]] == ["cart1"]


async def test_cart_rest_edit_with_etag_reaches_devices(http: httpx.AsyncClient) -> None:
    user = uuid.uuid4()
    headers = {**signed(http, user, Role.CUSTOMER), "x-client-id": "dev1"}
    other = signed(http, uuid.uuid4(), Role.CUSTOMER)
    http = direct(http)
    state = await pull(http, headers)
    row = {"id": "cartX", "store_id": "s", "product_id": "p", "quantity": 1, "added_at": 7}
    assert (await http.post(f"/v1/sync?last_pulled_at={state['timestamp']}", headers=headers,
                            json={"cart_items": {"created": [row]}})).status_code == 200
    mid = await pull(http, headers, state["timestamp"])
    read = await http.get("/v1/sync/cart-items/cartX", headers=headers)
    assert read.status_code == 200 and read.json()["quantity"] == 1
    etag = read.headers["etag"]
    assert (await http.get("/v1/sync/cart-items/cartX",
                           headers={**headers, "if-none-match": etag})).status_code == 304
    merge = {**headers, "content-type": "application/merge-patch+json"}
    assert (await http.patch("/v1/sync/cart-items/cartX", json={"quantity": 4},
                             headers=merge)).status_code == 428
    assert (await http.patch("/v1/sync/cart-items/cartX", json={"quantity": 4},
                             headers={**merge, "if-match": '"stale"'})).status_code == 412
    done = await http.patch("/v1/sync/cart-items/cartX", json={"quantity": 4, "added_at": None},
                            headers={**merge, "if-match": etag})
    assert done.status_code == 200, done.text
    assert done.json()["quantity"] == 4 and done.json()["added_at"] is None
    assert done.headers["etag"] != etag
    later = await pull(http, headers, mid["timestamp"])
    assert [(r["id"], r["quantity"]) for r in later["changes"]["cart_items"]["updated"]] == [
        ("cartX", 4)]
    assert (await http.get("/v1/sync/cart-items/cartX", headers=other)).status_code == 404


def metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


async def test_tus_upload_resume_limits_and_owner_only(http: httpx.AsyncClient) -> None:
    rider = uuid.uuid4()
    headers = {**signed(http, rider, Role.RIDER), **TUS}
    stranger = {**signed(http, uuid.uuid4(), Role.RIDER), **TUS}
    gateway, http = http, direct(http)
    options = await http.options("/v1/uploads")
    assert options.status_code == 204
    assert options.headers["tus-version"] == "1.0.0"
    assert "checksum" in options.headers["tus-extension"]
    assert int(options.headers["tus-max-size"]) == 10 * 1024 * 1024
    delivery = str(uuid.uuid4())
    meta = metadata(filetype="image/jpeg", purpose="proof_of_delivery", record_id=delivery,
                    filename="pod.jpg")
    created = await http.post("/v1/uploads", headers={
        **headers, "upload-length": str(len(JPEG)), "upload-metadata": meta})
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert location.startswith("/v1/uploads/")
    # a create retried after a lost answer, with the same Idempotency-Key, makes no second one
    keyed = {**headers, "upload-length": str(len(JPEG)), "upload-metadata": meta,
             "idempotency-key": '"2c1f8f0e-0d6a-4a43-9f0a-8c9b2b7e4a11"'}
    once = await http.post("/v1/uploads", headers=keyed)
    twice = await http.post("/v1/uploads", headers=keyed)
    assert once.status_code == twice.status_code == 201
    assert once.headers["location"] == twice.headers["location"] != location
    octet = {**headers, "content-type": "application/offset+octet-stream"}
    # three interrupted chunks, each resumed from HEAD
    sent = 0
    for size in (1000, 3000, 2000):
        head = await http.head(location, headers=headers)
        assert head.status_code == 200 and head.headers["cache-control"] == "no-store"
        assert int(head.headers["upload-offset"]) == sent
        part = await http.patch(location, content=JPEG[sent:sent + size],
                                headers={**octet, "upload-offset": str(sent)})
        assert part.status_code == 204, part.text
        sent += size
        assert int(part.headers["upload-offset"]) == sent
    mismatch = await http.patch(location, content=b"xx", headers={**octet,
                                                                   "upload-offset": "5"})
    assert mismatch.status_code == 409
    bad_sum = await http.patch(location, content=JPEG[sent:sent + 100], headers={
        **octet, "upload-offset": str(sent),
        "upload-checksum": "sha1 " + base64.b64encode(b"0" * 20).decode()})
    assert bad_sum.status_code == 460
    assert int((await http.head(location, headers=headers)).headers["upload-offset"]) == sent
    assert (await http.head(location, headers=stranger)).status_code == 404
    assert (await http.patch(location, content=JPEG[sent:], headers={
        **stranger, "content-type": "application/offset+octet-stream",
        "upload-offset": str(sent)})).status_code == 404
    rest = JPEG[sent:]
    last = await http.patch(location, content=rest, headers={
        **octet, "upload-offset": str(sent),
        "upload-checksum": "sha1 " + base64.b64encode(hashlib.sha1(rest).digest()).decode()})
    assert last.status_code == 204, last.text
    assert int(last.headers["upload-offset"]) == len(JPEG)
    content = await http.get(f"{location}/content", headers=headers)
    assert content.status_code == 200 and content.content == JPEG
    assert content.headers["content-type"] == "image/jpeg"
    # the completion event went to the outbox with the link to the delivery
    runtime = platform(gateway).state.host.runtimes["sync"]
    from sqlalchemy import select

    from okada.services.sync.adapters.orm import metadata as sync_metadata
    outbox = sync_metadata.tables["outbox"]
    engine = platform(gateway).state.host.ctx.engine("sync")
    async with engine.connect() as conn:
        rows = (await conn.execute(select(outbox.c.envelope).where(
            outbox.c.schema == "sync.v1.UploadCompleted"))).all()
    assert runtime is not None
    (envelope,) = [r.envelope for r in rows]
    state = envelope["payload"]["state"]
    assert state["record_id"] == delivery and state["purpose"] == "proof_of_delivery"
    assert state["sha256"] == hashlib.sha256(JPEG).hexdigest()
    assert state["size"] == len(JPEG) and state["owner_id"] == str(rider)


async def test_tus_refusals(http: httpx.AsyncClient) -> None:
    rider = uuid.uuid4()
    headers = {**signed(http, rider, Role.RIDER), **TUS}
    customer = {**signed(http, uuid.uuid4(), Role.CUSTOMER), **TUS}
    bare = signed(http, rider, Role.RIDER)
    http = direct(http)
    meta = metadata(filetype="image/jpeg", purpose="proof_of_delivery", record_id="d1")
    too_big = await http.post("/v1/uploads", headers={
        **headers, "upload-length": str(11 * 1024 * 1024), "upload-metadata": meta})
    assert too_big.status_code == 413
    gif = await http.post("/v1/uploads", headers={
        **headers, "upload-length": "10",
        "upload-metadata": metadata(filetype="image/gif", purpose="proof_of_delivery",
                                    record_id="d1")})
    assert gif.status_code == 415
    no_version = await http.post("/v1/uploads", headers={
        **bare, "upload-length": "10", "upload-metadata": meta})
    assert no_version.status_code == 412
    assert (await http.post("/v1/uploads", headers={
        **customer, "upload-length": "10", "upload-metadata": meta})).status_code == 403
    # declared JPEG, content is not: refused as soon as the magic bytes arrive
    created = await http.post("/v1/uploads", headers={
        **headers, "upload-length": "100", "upload-metadata": meta})
    location = created.headers["location"]
    octet = {**headers, "content-type": "application/offset+octet-stream",
             "upload-offset": "0"}
    wrong_type = await http.patch(location, content=b"GIF89a" + b"\0" * 20,
                                  headers={**headers, "upload-offset": "0",
                                           "content-type": "application/json"})
    assert wrong_type.status_code == 415
    fake = await http.patch(location, content=b"GIF89a" + b"\0" * 20, headers=octet)
    assert fake.status_code == 415
    assert (await http.head(location, headers=headers)).status_code == 404
    # creation-with-upload and termination
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 40
    created = await http.post("/v1/uploads", content=png[:20], headers={
        **headers, "upload-length": str(len(png)), "content-type":
        "application/offset+octet-stream",
        "upload-metadata": metadata(filetype="image/png", purpose="proof_of_delivery",
                                    record_id="d2")})
    assert created.status_code == 201 and created.headers["upload-offset"] == "20"
    location = created.headers["location"]
    assert (await http.delete(location, headers=headers)).status_code == 204
    assert (await http.head(location, headers=headers)).status_code == 404
