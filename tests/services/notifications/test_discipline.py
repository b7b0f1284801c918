"""Deduplication, caps, quiet hours, retries with failover, delivery receipts."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import sqlalchemy as sa

from okada.contracts.delivery.v1 import DeliveryCompleted
from okada.contracts.notifications.v1 import InboxItemChanged
from okada.contracts.orders.v1 import (
    OrderAccepted,
    OrderConfirmed,
    OrderDelivered,
)
from okada.kernel.messages import Envelope
from okada.services.notifications.adapters.orm import metadata
from tests.services.notifications.conftest import (
    Notif,
    delivery_state,
    order_state,
)


async def test_redelivered_and_repeated_events_give_one_message(notif: Notif) -> None:
    customer = await notif.user()
    token = await notif.device(customer)
    order_id = uuid.uuid4()
    event = OrderConfirmed(entity_id=order_id, version=2, state=order_state(customer))
    first = await notif.publish(event)
    # the broker redelivers the same envelope, and the producer re-emits the same event
    await notif.publish(event, envelope=Envelope(schema=first.schema, payload=first.payload,
                                                 producer="orders",
                                                 message_id=first.message_id))
    await notif.publish(event)
    # orders and delivery both report the delivery: the customer hears it once
    await notif.publish(OrderDelivered(entity_id=order_id, version=6,
                                       state=order_state(customer, status="DELIVERED")))
    await notif.publish(DeliveryCompleted(entity_id=uuid.uuid4(), version=9,
                                          state=delivery_state(order_id, customer,
                                                               status="DELIVERED")))
    await notif.dispatch()
    await notif.dispatch()
    pushes = await notif.pushes(token)
    assert sorted(p["data"]["kind"] for p in pushes) == ["order_confirmed", "order_delivered"]
    inbox = (await notif.inbox(customer))["data"]
    assert sorted(i["kind"] for i in inbox) == ["order_confirmed", "order_delivered"]
    assert len(await notif.admin(order_id=str(order_id))) == 2


async def test_quiet_hours_defer_non_critical_pushes_to_the_morning(notif: Notif) -> None:
    notif.clock._now = dt.datetime(2026, 3, 2, 21, 30, tzinfo=dt.UTC)  # 22:30 in Douala
    customer = await notif.user()
    token = await notif.device(customer)
    await notif.publish(OrderAccepted(entity_id=uuid.uuid4(), version=3,
                                      state=order_state(customer, status="ACCEPTED")))
    await notif.publish(OrderConfirmed(entity_id=uuid.uuid4(), version=2,
                                       state=order_state(customer)))
    await notif.dispatch()
    assert [p["data"]["kind"] for p in await notif.pushes(token)] == ["order_confirmed"]
    accepted = next(m for m in await notif.admin(user_id=str(customer))
                    if m["kind"] == "order_accepted")
    assert accepted["due_at"].startswith("2026-03-03T06:00:00")  # 07:00 in Douala

    notif.clock._now = dt.datetime(2026, 3, 3, 5, 59, tzinfo=dt.UTC)
    await notif.dispatch()
    assert len(await notif.pushes(token)) == 1
    notif.clock._now = dt.datetime(2026, 3, 3, 6, 0, tzinfo=dt.UTC)
    await notif.dispatch()
    assert [p["data"]["kind"] for p in await notif.pushes(token)] == [
        "order_accepted", "order_confirmed"]


async def test_sms_provider_outage_retries_with_backoff_then_fails_over(notif: Notif) -> None:
    customer = await notif.user()
    phone = await notif.phone_of(customer)
    await notif.sims.post("/_sim/sms/_control/mode", json={"mode": "down"})
    await notif.publish(OrderConfirmed(entity_id=uuid.uuid4(), version=2,
                                       state=order_state(customer)))
    await notif.dispatch()  # attempt 1 on the primary: 503
    await notif.dispatch()  # not due yet: backoff
    (row,) = await notif.admin(user_id=str(customer))
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 1, "HTTP_503")
    notif.clock.advance(seconds=5)
    await notif.dispatch()  # attempt 2 on the primary fails; attempt 3 fails over at once
    await notif.dispatch()
    assert await notif.sms(phone) == []
    (backup,) = await notif.sms(phone, backup=True)
    assert backup["text"].startswith("Okada: votre commande")
    (row,) = await notif.admin(user_id=str(customer))
    assert (row["status"], row["provider"], row["attempts"]) == ("sent", "sim-sms-backup", 3)
    assert [(e["provider"], e["outcome"]) for e in row["events"]] == [
        ("sim-sms", "transient"), ("sim-sms", "transient"), ("sim-sms-backup", "accepted")]


async def test_both_providers_down_keeps_the_message_waiting(notif: Notif) -> None:
    customer = await notif.user()
    phone = await notif.phone_of(customer)
    for prefix in ("/_sim/sms", "/_sim/sms-backup"):
        await notif.sims.post(f"{prefix}/_control/mode", json={"mode": "down"})
    await notif.publish(OrderConfirmed(entity_id=uuid.uuid4(), version=2,
                                       state=order_state(customer)))
    for _ in range(5):
        await notif.dispatch()
        notif.clock.advance(seconds=60)
    (row,) = await notif.admin(user_id=str(customer))
    assert row["status"] == "pending" and row["attempts"] >= 4
    await notif.sims.post("/_sim/sms/_control/mode", json={"mode": "ok"})
    await notif.sims.post("/_sim/sms-backup/_control/mode", json={"mode": "ok"})
    notif.clock.advance(seconds=300)
    await notif.dispatch()
    assert len(await notif.sms(phone)) + len(await notif.sms(phone, backup=True)) == 1


async def test_delivery_receipts_are_stored_and_a_malformed_one_does_not_crash(
        notif: Notif) -> None:
    delivered, garbled, lost = [await notif.user() for _ in range(3)]
    phones = {u: await notif.phone_of(u) for u in (delivered, garbled, lost)}
    await notif.sims.post("/_sim/sms/_control/numbers",
                          json={"to": phones[garbled], "outcome": "malformed"})
    await notif.sims.post("/_sim/sms/_control/numbers",
                          json={"to": phones[lost], "outcome": "undelivered"})
    for user in (delivered, garbled, lost):
        await notif.publish(OrderConfirmed(entity_id=uuid.uuid4(), version=2,
                                           state=order_state(user)))
    await notif.dispatch()
    notif.clock.advance(seconds=11)
    await notif.dispatch()  # receipts asked
    status = {u: (await notif.admin(user_id=str(u)))[0] for u in (delivered, garbled, lost)}
    assert status[delivered]["status"] == "delivered"
    assert status[delivered]["delivered_at"] is not None
    assert status[lost]["status"] == "undelivered"
    assert status[garbled]["status"] == "sent"
    assert status[garbled]["events"][-1]["outcome"] == "unknown"
    assert status[garbled]["events"][-1]["detail"] == "malformed_receipt"
    # the dispatcher goes on working, and asks the unreadable report again later
    notif.clock.advance(seconds=30)
    await notif.dispatch()
    outcomes = [e["outcome"] for e in (await notif.admin(user_id=str(garbled)))[0]["events"]]
    assert outcomes == ["accepted", "unknown", "unknown"]


async def test_malformed_push_receipts_from_apps_are_refused_cleanly(notif: Notif) -> None:
    customer = await notif.user()
    for body in ({}, {"message_id": "not-a-uuid"}, {"message_id": str(uuid.uuid4()), "x": 1},
                 [1, 2]):
        response = await notif.http.post("/v1/notifications/receipts", json=body,
                                         headers=notif.headers(customer))
        assert response.status_code == 422, body
    unknown = await notif.http.post("/v1/notifications/receipts",
                                    json={"message_id": str(uuid.uuid4())},
                                    headers=notif.headers(customer))
    assert (unknown.status_code, unknown.json()["code"]) == (404, "notification_not_found")


async def test_inbox_items_are_announced_to_sync(notif: Notif) -> None:
    customer = await notif.user()
    await notif.publish(OrderAccepted(entity_id=uuid.uuid4(), version=3,
                                      state=order_state(customer, status="ACCEPTED")))
    (item,) = (await notif.inbox(customer))["data"]
    read = await notif.http.post(f"/v1/notifications/{item['id']}/read",
                                 headers=notif.headers(customer))
    assert read.status_code == 200
    outbox = metadata.tables["outbox"]
    async with notif.engine.connect() as conn:
        rows = (await conn.execute(sa.select(outbox.c.envelope).where(
            outbox.c.schema == InboxItemChanged.schema_name).order_by(outbox.c.seq))).all()
    events = [InboxItemChanged.parse_payload(r.envelope["payload"]) for r in rows]
    assert [(e.entity_id, e.version, e.state.read) for e in events] == [
        (uuid.UUID(item["id"]), 1, False), (uuid.UUID(item["id"]), 2, True)]
    assert events[0].state.user_id == customer
    assert events[0].state.title == "Commande acceptée"


async def test_a_malformed_event_is_parked_and_the_consumer_goes_on(notif: Notif) -> None:
    customer = await notif.user()
    bad = Envelope(schema=OrderConfirmed.schema_name, payload={"entity_id": "nope"},
                   producer="orders")
    await notif.ctx.bus.publish([bad])
    await notif.publish(OrderConfirmed(entity_id=uuid.uuid4(), version=2,
                                       state=order_state(customer)))
    await notif.dispatch()
    assert len(await notif.sms(await notif.phone_of(customer))) == 1
    dead_letters = metadata.tables["dead_letters"]
    for _ in range(200):
        async with notif.engine.connect() as conn:
            parked = (await conn.execute(sa.select(dead_letters.c.message_id))).scalars().all()
        if parked:
            break
        await asyncio.sleep(0.01)
    assert parked == [bad.message_id]
