"""Inbox, devices, the operations view and the internal SMS endpoint, with authorisation."""

from __future__ import annotations

import uuid

import httpx
import pytest
import sqlalchemy as sa

from okada.contracts.identity.v1 import UserState, UserUpdated
from okada.contracts.orders.v1 import OrderAccepted, OrderConfirmed
from okada.kernel.authz import Role
from okada.services.notifications.adapters.orm import metadata
from tests.services.notifications.conftest import Notif, new_phone, order_state


async def test_inbox_is_mine_paginated_and_read_once(notif: Notif) -> None:
    alice, bob = await notif.user(language="en"), await notif.user()
    for _ in range(3):
        await notif.publish(OrderAccepted(entity_id=uuid.uuid4(), version=3,
                                          state=order_state(alice, status="ACCEPTED")))
        notif.clock.advance(seconds=1)
    await notif.publish(OrderAccepted(entity_id=uuid.uuid4(), version=3,
                                      state=order_state(bob, status="ACCEPTED")))
    first = await notif.inbox(alice, limit=2)
    assert [i["title"] for i in first["data"]] == ["Order accepted"] * 2
    second = await notif.inbox(alice, limit=2, cursor=first["next_cursor"])
    assert len(second["data"]) == 1 and second["next_cursor"] is None
    items = first["data"] + second["data"]
    assert [i["sent_at"] for i in items] == sorted((i["sent_at"] for i in items), reverse=True)
    assert len({i["id"] for i in items}) == 3

    target = items[1]["id"]
    read = await notif.http.post(f"/v1/notifications/{target}/read",
                                 headers=notif.headers(alice))
    assert (read.status_code, read.json()["read"]) == (200, True)
    again = await notif.http.post(f"/v1/notifications/{target}/read",
                                  headers=notif.headers(alice))
    assert (again.status_code, again.json()["read"]) == (200, True)
    unread = await notif.inbox(alice, unread="true")
    assert target not in {i["id"] for i in unread["data"]} and len(unread["data"]) == 2

    # someone else's item, or an unknown id: 404 in the caller's language, never 403
    theirs = await notif.http.post(f"/v1/notifications/{target}/read",
                                   headers=notif.headers(bob, language="fr"))
    assert theirs.status_code == 404
    assert theirs.headers["content-type"] == "application/problem+json"
    assert theirs.json()["title"] == "Notification introuvable"
    assert (await notif.inbox(bob))["data"][0]["title"] == "Commande acceptée"
    for bad in ("/v1/notifications/not-a-uuid/read",):
        assert (await notif.http.post(bad, headers=notif.headers(alice))).status_code == 422
    assert (await notif.http.get("/v1/notifications", params={"cursor": "%%%"},
                                 headers=notif.headers(alice))).status_code == 400
    assert (await notif.http.get("/v1/notifications")).status_code == 401


async def test_devices_register_idempotently_and_unregister(notif: Notif) -> None:
    alice, bob = await notif.user(), await notif.user()
    token = "fcm:" + "A" * 40
    body = {"token": token, "platform": "ios", "locale": "en"}
    for _ in range(2):
        response = await notif.http.post("/v1/notifications/devices", json=body,
                                         headers=notif.headers(alice))
        assert response.status_code == 200
        assert response.json()["active"] is True and response.json()["platform"] == "ios"
    for bad in ({"token": token, "platform": "symbian"}, {"token": "short", "platform": "web"},
                {"token": token + " x", "platform": "web"},
                {"token": token, "platform": "web", "extra": 1},
                {"token": token, "platform": "web", "locale": "français"}):
        response = await notif.http.post("/v1/notifications/devices", json=bad,
                                         headers=notif.headers(alice))
        assert response.status_code == 422, bad
    # bob cannot unregister alice's token
    assert (await notif.http.delete(f"/v1/notifications/devices/{token}",
                                    headers=notif.headers(bob))).status_code == 404
    await notif.publish(OrderConfirmed(entity_id=uuid.uuid4(), version=2,
                                       state=order_state(alice)))
    await notif.dispatch()
    assert len(await notif.pushes(token)) == 1
    assert (await notif.http.delete(f"/v1/notifications/devices/{token}",
                                    headers=notif.headers(alice))).status_code == 204
    await notif.publish(OrderConfirmed(entity_id=uuid.uuid4(), version=2,
                                       state=order_state(alice)))
    await notif.dispatch()
    assert len(await notif.pushes(token)) == 1  # no push to a signed-out device
    assert len(await notif.sms(await notif.phone_of(alice))) == 1
    # the same token signed in by bob now belongs to bob
    await notif.http.post("/v1/notifications/devices", json=body, headers=notif.headers(bob))
    assert (await notif.http.delete(f"/v1/notifications/devices/{token}",
                                    headers=notif.headers(alice))).status_code == 404


async def test_operations_view_requires_the_role_and_a_filter(notif: Notif) -> None:
    customer = await notif.user()
    assert (await notif.http.get("/v1/admin/notifications", params={"user_id": str(customer)},
                                 headers=notif.headers(customer))).status_code == 403
    assert (await notif.http.get("/v1/admin/notifications",
                                 headers=notif.ops)).status_code == 422
    assert (await notif.http.get("/v1/admin/notifications", params={"user_id": "x"},
                                 headers=notif.ops)).status_code == 422


async def test_identity_updates_change_language_and_phone(notif: Notif) -> None:
    customer = await notif.user(language="fr")
    new = new_phone()
    await notif.publish(UserUpdated(entity_id=customer, version=3, state=UserState(
        name="T", language="en", roles=["customer"], store_ids=[], phones=[
            {"e164": new, "operator": "mtn", "verified": True, "primary": True}],
        disabled=False, created_at=notif.clock.now())))
    # an older version arriving late changes nothing
    await notif.publish(UserUpdated(entity_id=customer, version=2, state=UserState(
        name="T", language="fr", roles=["customer"], store_ids=[], phones=[],
        disabled=False, created_at=notif.clock.now())))
    await notif.publish(OrderConfirmed(entity_id=uuid.uuid4(), version=2,
                                       state=order_state(customer, language="fr")))
    await notif.dispatch()
    (sms,) = await notif.sms(new)
    assert sms["text"].startswith("Okada: your order")


async def test_internal_sms_for_login_codes(notif: Notif,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    phone = new_phone()
    body = {"to": phone, "text": "Votre code Okada : 482913. Ne le partagez pas.",
            "sender": "OKADA"}
    customer = notif.headers(uuid.uuid4(), Role.CUSTOMER)
    assert (await notif.http.post("/internal/v1/notifications/sms", json=body,
                                  headers=customer)).status_code == 403
    assert (await notif.http.post("/internal/v1/notifications/sms", json=body)
            ).status_code == 401
    for bad in ({**body, "to": "677123456"}, {**body, "text": ""}, {**body, "x": 1}):
        assert (await notif.http.post("/internal/v1/notifications/sms", json=bad,
                                      headers=notif.service)).status_code == 422

    sent = await notif.http.post("/internal/v1/notifications/sms", json=body,
                                 headers=notif.service)
    assert sent.status_code == 202, sent.text
    assert (sent.json()["status"], sent.json()["provider"], sent.json()["segments"]) == (
        "sent", "sim-sms", 1)
    (sms,) = await notif.sms(phone)
    assert sms["text"] == "Votre code Okada : 482913. Ne le partagez pas."

    # the primary is down: the backup carries the code at once
    await notif.sims.post("/_sim/sms/_control/mode", json={"mode": "down"})
    failover = await notif.http.post("/internal/v1/notifications/sms", json=body,
                                     headers=notif.service)
    assert (failover.status_code, failover.json()["provider"]) == (202, "sim-sms-backup")
    assert len(await notif.sms(phone, backup=True)) == 1
    # both down: 503, and the message is recorded as failed rather than left waiting
    await notif.sims.post("/_sim/sms-backup/_control/mode", json={"mode": "down"})
    down = await notif.http.post("/internal/v1/notifications/sms", json=body,
                                 headers=notif.service)
    assert (down.status_code, down.json()["code"]) == (503, "sms_not_sent")
    dispatched = await notif.dispatch()
    assert dispatched == 0

    # neither the code nor the full number ever reaches the logs or the stored rows
    logs = capsys.readouterr().out
    assert "notifications.otp_not_sent" in logs and "notifications.sms_sent" in logs
    assert "482913" not in logs and phone not in logs
    messages = metadata.tables["messages"]
    async with notif.engine.connect() as conn:
        rows = (await conn.execute(sa.select(messages.c.status, messages.c.body).where(
            messages.c.kind == "otp").order_by(messages.c.created_at))).all()
    assert sorted(r.status for r in rows) == ["failed", "sent", "sent"]
    assert {r.body for r in rows} == {"Votre code Okada : ******. Ne le partagez pas."}


async def test_identity_sms_sender_speaks_the_internal_endpoint(notif: Notif) -> None:
    """Identity's own sender, pointed at notifications with a service principal, works as is."""
    from okada.services.identity.adapters.sms import HttpSmsSender

    phone = new_phone()
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=notif.runtime.app), base_url="http://n.test",
        headers=notif.ctx.service_principal_header("identity"))
    async with client:
        sender = HttpSmsSender(client, path="/internal/v1/notifications/sms", sender_id="OKADA")
        await sender.send(to=phone, text="Code Okada: 123456")
        long_text = "Okada: code 654321 pour ajouter ce numéro. " * 5
        await sender.send(to=phone, text=long_text)
    latest, first = await notif.sms(phone)
    assert (first["text"], first["sender"]) == ("Code Okada: 123456", "OKADA")
    # a long text from another service is transliterated, never cut: two segments recorded
    assert latest["text"] == long_text.replace("é", "e")
    messages = metadata.tables["messages"]
    async with notif.engine.connect() as conn:
        segments = (await conn.execute(sa.select(messages.c.segments).where(
            messages.c.kind == "otp").order_by(messages.c.created_at))).scalars().all()
    assert sorted(segments) == [1, 2]
