"""Push first, SMS when push cannot reach the person: the policy for critical messages."""

from __future__ import annotations

import uuid

import pytest

from okada.contracts.base import IntegrationEvent
from okada.contracts.delivery.v1 import DeliveryFailed, DeliveryOffered, RiderArriving
from okada.contracts.orders.v1 import OrderAccepted, OrderConfirmed, OrderDeliveryFailed
from okada.contracts.payments.v1 import PaymentFailed
from tests.services.notifications.conftest import (
    MORNING,
    Notif,
    delivery_state,
    order_state,
    payment_state,
)


def critical_events(customer: uuid.UUID, rider: uuid.UUID) -> dict[str, IntegrationEvent]:
    order_id = uuid.uuid4()
    return {
        "order_confirmed": OrderConfirmed(entity_id=order_id, version=2,
                                          state=order_state(customer)),
        "rider_arriving": RiderArriving(entity_id=uuid.uuid4(), version=5,
                                        state=delivery_state(order_id, customer, cash=1500)),
        "delivery_failed": OrderDeliveryFailed(entity_id=order_id, version=7,
                                               state=order_state(customer,
                                                                 status="DELIVERY_FAILED")),
        "payment_failed": PaymentFailed(entity_id=uuid.uuid4(), version=2,
                                        state=payment_state(order_id, customer)),
        "job_offer": DeliveryOffered(entity_id=uuid.uuid4(), version=2,
                                     state=delivery_state(order_id, customer, status="SEARCHING"),
                                     offer_id=uuid.uuid4(), offered_rider_id=rider,
                                     expires_at=MORNING.replace(minute=2)),
    }


@pytest.mark.parametrize("kind", ["order_confirmed", "rider_arriving", "delivery_failed",
                                  "payment_failed", "job_offer"])
async def test_each_critical_event_goes_by_push_and_an_acknowledged_push_needs_no_sms(
        notif: Notif, kind: str) -> None:
    customer = await notif.user(language="en")
    rider = await notif.user(language="fr", roles=("rider",))
    recipient = rider if kind == "job_offer" else customer
    token = await notif.device(recipient)
    await notif.publish(critical_events(customer, rider)[kind])
    await notif.dispatch()

    (push,) = await notif.pushes(token)
    assert push["data"]["kind"] == kind
    assert push["android"]["priority"] == "high"
    await notif.ack(recipient, token)
    notif.clock.advance(seconds=120)
    await notif.dispatch()
    assert await notif.sms(await notif.phone_of(recipient)) == []
    (message,) = await notif.admin(user_id=str(recipient))
    assert (message["channel"], message["status"], message["critical"]) == (
        "push", "delivered", True)
    assert [e["outcome"] for e in message["events"]] == ["accepted", "delivered"]


async def test_no_device_token_sends_the_sms_at_once(notif: Notif) -> None:
    customer = await notif.user(language="fr")
    order_id = uuid.uuid4()
    await notif.publish(OrderConfirmed(entity_id=order_id, version=2,
                                       state=order_state(customer, total=1500)))
    await notif.dispatch()
    (sms,) = await notif.sms(await notif.phone_of(customer))
    assert sms["text"].startswith("Okada: votre commande #")
    assert "1 500 FCFA" in sms["text"] and sms["sender"] == "OKADA"
    (row,) = await notif.admin(order_id=str(order_id))
    assert (row["channel"], row["status"], row["provider"], row["segments"]) == (
        "sms", "sent", "sim-sms", 1)
    assert row["to"].startswith("+2376") and "****" in row["to"]


async def test_unknown_customer_is_reached_through_the_order_contact_phone(notif: Notif) -> None:
    stranger, phone = uuid.uuid4(), "+237677000001"
    await notif.publish(OrderConfirmed(entity_id=uuid.uuid4(), version=2,
                                       state=order_state(stranger, language="en",
                                                         contact_phone=phone)))
    await notif.dispatch()
    (sms,) = await notif.sms(phone)
    assert sms["text"].startswith("Okada: your order #")


async def test_nobody_to_reach_is_recorded_as_failed_not_dropped(notif: Notif) -> None:
    stranger = uuid.uuid4()
    await notif.publish(OrderConfirmed(entity_id=uuid.uuid4(), version=2,
                                       state=order_state(stranger)))
    (row,) = await notif.admin(user_id=str(stranger))
    assert (row["status"], row["last_error"]) == ("failed", "no_device_and_no_phone")
    # the consumer is still alive
    other = await notif.user()
    await notif.publish(OrderConfirmed(entity_id=uuid.uuid4(), version=2,
                                       state=order_state(other)))
    await notif.dispatch()
    assert len(await notif.sms(await notif.phone_of(other))) == 1


async def test_push_provider_failure_falls_back_to_sms(notif: Notif) -> None:
    customer = await notif.user(language="en")
    token = await notif.device(customer)
    assert (await notif.sims.post("/_sim/push/_control/mode", json={"mode": "down"})
            ).status_code == 200
    await notif.publish(RiderArriving(entity_id=uuid.uuid4(), version=3,
                                      state=delivery_state(uuid.uuid4(), customer, cash=2500)))
    await notif.dispatch()  # push fails, SMS queued
    await notif.dispatch()  # SMS sent
    assert await notif.pushes(token) == []
    (sms,) = await notif.sms(await notif.phone_of(customer))
    assert "Amount to pay: 2,500 FCFA" in sms["text"]
    push, = [m for m in await notif.admin(user_id=str(customer)) if m["channel"] == "push"]
    assert (push["status"], push["last_error"]) == ("failed", "UNAVAILABLE")
    assert push["fallback_at"] is not None


async def test_no_receipt_within_the_window_gives_exactly_one_sms(notif: Notif) -> None:
    customer = await notif.user()
    token = await notif.device(customer)
    await notif.publish(OrderDeliveryFailed(entity_id=uuid.uuid4(), version=4,
                                            state=order_state(customer,
                                                              status="DELIVERY_FAILED")))
    await notif.dispatch()
    assert len(await notif.pushes(token)) == 1
    phone = await notif.phone_of(customer)

    notif.clock.advance(seconds=59)
    await notif.dispatch()
    assert await notif.sms(phone) == []

    notif.clock.advance(seconds=2)
    await notif.dispatch()  # window over: the SMS is queued
    await notif.dispatch()
    notif.clock.advance(seconds=300)
    await notif.dispatch()
    (sms,) = await notif.sms(phone)
    assert "livraison de la commande" in sms["text"]
    # a late acknowledgement still records the push as delivered, and sends nothing more
    await notif.ack(customer, token)
    await notif.dispatch()
    assert len(await notif.sms(phone)) == 1


async def test_unregistered_token_is_retired_and_sms_takes_over(notif: Notif) -> None:
    customer = await notif.user()
    dead = await notif.device(customer)
    await notif.sims.post("/_sim/push/_control/tokens",
                          json={"token": dead, "outcome": "unregistered"})
    await notif.publish(PaymentFailed(entity_id=uuid.uuid4(), version=2,
                                      state=payment_state(uuid.uuid4(), customer, amount=2500)))
    await notif.dispatch()
    await notif.dispatch()
    phone = await notif.phone_of(customer)
    (sms,) = await notif.sms(phone)
    assert "2 500 FCFA" in sms["text"] and "solde insuffisant" in sms["text"]
    # the retired token is not tried again: the next critical message goes straight to SMS
    await notif.publish(DeliveryFailed(entity_id=uuid.uuid4(), version=3,
                                       state=delivery_state(uuid.uuid4(), customer,
                                                            status="FAILED")))
    await notif.dispatch()
    assert len(await notif.sms(phone)) == 2
    rows = {(r["kind"], r["channel"]): r for r in await notif.admin(user_id=str(customer))}
    assert sorted(rows) == [("delivery_failed", "sms"), ("payment_failed", "push"),
                            ("payment_failed", "sms")]
    dead_push = rows[("payment_failed", "push")]
    assert (dead_push["status"], dead_push["last_error"]) == ("failed", "UNREGISTERED")
    assert "UNREGISTERED" in dead_push["events"][0]["detail"]
    # registering the token again (a new sign-in) brings it back
    again = await notif.http.post("/v1/notifications/devices",
                                  json={"token": dead, "platform": "android"},
                                  headers=notif.headers(customer))
    assert again.json()["active"] is True


async def test_non_critical_messages_never_fall_back_to_sms(notif: Notif) -> None:
    customer = await notif.user()
    token = await notif.device(customer)
    await notif.publish(OrderAccepted(entity_id=uuid.uuid4(), version=3,
                                      state=order_state(customer, status="ACCEPTED")))
    await notif.dispatch()
    assert len(await notif.pushes(token)) == 1
    notif.clock.advance(seconds=600)
    await notif.dispatch()
    assert await notif.sms(await notif.phone_of(customer)) == []
    # without any device: only the inbox
    lonely = await notif.user()
    await notif.publish(OrderAccepted(entity_id=uuid.uuid4(), version=3,
                                      state=order_state(lonely, status="ACCEPTED")))
    await notif.dispatch()
    assert await notif.sms(await notif.phone_of(lonely)) == []
    assert len((await notif.inbox(lonely))["data"]) == 1


async def test_store_staff_hear_of_a_new_confirmed_order(notif: Notif) -> None:
    store, other_store = uuid.uuid4(), uuid.uuid4()
    clerk = await notif.user(language="en", roles=("merchant_staff",), store_ids=(store,))
    manager = await notif.user(language="fr", roles=("merchant_staff",), store_ids=(store,))
    await notif.user(roles=("merchant_staff",), store_ids=(other_store,))
    clerk_token = await notif.device(clerk)
    customer = await notif.user()
    await notif.publish(OrderConfirmed(entity_id=uuid.uuid4(), version=2,
                                       state=order_state(customer, store_id=store, total=3000)))
    await notif.dispatch()
    (push,) = await notif.pushes(clerk_token)
    assert push["title"] == "New order" and "2 item(s), 3,000 FCFA" in push["body"]
    (sms,) = await notif.sms(await notif.phone_of(manager))  # no device: SMS
    assert "nouvelle commande" in sms["text"] and "3 000 FCFA" in sms["text"]
