"""The push and SMS simulators: FCM's shape, the SMS gateway's old and new endpoints."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from okada.contracts.orders.v1 import OrderAccepted
from okada.simulators.app import create_simulators_app
from tests.services.notifications.conftest import Notif, order_state


@pytest.fixture
async def sims() -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_simulators_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://s.test") as client:
        yield client


async def test_push_simulator_speaks_fcm_http_v1(sims: httpx.AsyncClient) -> None:
    url = "/_sim/push/v1/projects/okada-dev/messages:send"
    message = {"message": {"token": "tok-1", "notification": {"title": "T", "body": "B"},
                           "data": {"order_id": "1"}}}
    anonymous = await sims.post(url, json=message)
    assert (anonymous.status_code, anonymous.json()["error"]["status"]) == (
        401, "UNAUTHENTICATED")
    auth = {"authorization": "Bearer anything"}
    sent = await sims.post(url, json=message, headers=auth)
    assert sent.status_code == 200 and sent.json()["name"].startswith(
        "projects/okada-dev/messages/")
    bad = await sims.post(url, headers=auth, json={"message": {"token": "t", "data": {"n": 1}}})
    assert (bad.status_code, bad.json()["error"]["details"][0]["errorCode"]) == (
        400, "INVALID_ARGUMENT")
    big = await sims.post(url, headers=auth, json={"message": {"token": "t",
                                                               "data": {"x": "y" * 5000}}})
    assert big.status_code == 400
    await sims.post("/_sim/push/_control/tokens", json={"token": "tok-1",
                                                         "outcome": "unregistered"})
    gone = await sims.post(url, json=message, headers=auth)
    assert (gone.status_code, gone.json()["error"]["status"],
            gone.json()["error"]["details"][0]["errorCode"]) == (404, "NOT_FOUND", "UNREGISTERED")
    listed = (await sims.get("/_sim/push/messages", params={"token": "tok-1"})).json()
    assert [m["data"] for m in listed] == [{"order_id": "1"}]
    assert (await sims.delete("/_sim/push/messages")).status_code == 204
    assert (await sims.get("/_sim/push/messages")).json() == []


@pytest.mark.parametrize("prefix", ["/_sim/sms", "/_sim/sms-backup"])
async def test_sms_simulators_keep_the_old_api_and_add_reports(
        sims: httpx.AsyncClient, prefix: str) -> None:
    sent = await sims.post(f"{prefix}/send", json={"to": "+237677000010", "text": "hi",
                                                   "sender": "OKADA"})
    assert sent.status_code == 202 and sent.json()["status"] == "accepted"
    (listed,) = (await sims.get(f"{prefix}/messages", params={"to": "+237677000010"})).json()
    assert listed["text"] == "hi"
    report = await sims.get(f"{prefix}/messages/{sent.json()['id']}")
    assert report.json()["status"] == "delivered"
    assert (await sims.get(f"{prefix}/messages/nope")).status_code == 404

    script = {"to": "+237677000011", "outcome": "reject"}
    assert (await sims.post(f"{prefix}/_control/numbers", json=script)).status_code == 200
    assert (await sims.post(f"{prefix}/send", json={"to": "+237677000011", "text": "x"})
            ).status_code == 400
    await sims.post(f"{prefix}/_control/numbers", json={**script, "outcome": "error"})
    assert (await sims.post(f"{prefix}/send", json={"to": "+237677000011", "text": "x"})
            ).status_code == 503
    await sims.post(f"{prefix}/_control/numbers", json={**script, "outcome": "pending"})
    pending = await sims.post(f"{prefix}/send", json={"to": "+237677000011", "text": "x"})
    assert (await sims.get(f"{prefix}/messages/{pending.json()['id']}")).json()["status"] == \
        "pending"
    assert (await sims.delete(f"{prefix}/_control/numbers")).status_code == 204

    await sims.post(f"{prefix}/_control/mode", json={"mode": "down"})
    assert (await sims.post(f"{prefix}/send", json={"to": "+237677000010", "text": "x"})
            ).status_code == 503
    await sims.post(f"{prefix}/_control/mode", json={"mode": "ok"})
    assert (await sims.delete(f"{prefix}/messages")).status_code == 204
    assert (await sims.get(f"{prefix}/messages")).json() == []


async def test_non_critical_push_is_retried_with_backoff_on_provider_errors(
        notif: Notif) -> None:
    customer = await notif.user()
    token = await notif.device(customer)
    await notif.sims.post("/_sim/push/_control/tokens", json={"token": token,
                                                               "outcome": "unavailable"})
    await notif.publish(OrderAccepted(entity_id=uuid.uuid4(), version=3,
                                      state=order_state(customer, status="ACCEPTED")))
    await notif.dispatch()
    (row,) = await notif.admin(user_id=str(customer))
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 1, "UNAVAILABLE")
    await notif.sims.post("/_sim/push/_control/tokens", json={"token": token, "outcome": "ok"})
    notif.clock.advance(seconds=4)
    await notif.dispatch()
    assert await notif.pushes(token) == []  # backoff: not due yet
    notif.clock.advance(seconds=1)
    await notif.dispatch()
    assert len(await notif.pushes(token)) == 1
    (row,) = await notif.admin(user_id=str(customer))
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert await notif.sms(await notif.phone_of(customer)) == []
