"""The saga: payment and delivery verdicts (published as their contract events), the worker's
steps against the real inventory, the expiry backstop and a crash between reserve and append."""

from __future__ import annotations

import uuid
from typing import Any

from okada.contracts.delivery.v1 import (
    DeliveryCompleted,
    DeliveryFailed,
    DeliveryPickedUp,
    DeliveryState,
    RiderAssigned,
)
from okada.contracts.payments.v1 import PaymentCaptured, PaymentFailed, PaymentState
from okada.kernel.authz import Role
from tests.services.orders.conftest import MTN_PHONE, START, Harness

TERMINAL = {"DELIVERED", "CANCELLED", "EXPIRED", "DELIVERY_FAILED"}


def payment(order: dict[str, Any], status: str, reason: str | None = None) -> PaymentState:
    return PaymentState(
        order_id=uuid.UUID(order["id"]), customer_id=uuid.UUID(order["customer_id"]),
        method="mtn_momo", provider="mtn_momo", status=status, amount_xaf=order["total_xaf"],
        captured_xaf=order["total_xaf"] if status == "captured" else 0, refunded_xaf=0,
        payer_phone_masked="+2376****3456", failure_reason=reason, updated_at=START)


def delivery(order: dict[str, Any], rider: uuid.UUID, status: str,
             reason: str | None = None) -> DeliveryState:
    return DeliveryState(
        order_id=uuid.UUID(order["id"]), store_id=uuid.UUID(order["store_id"]),
        customer_id=uuid.UUID(order["customer_id"]), rider_id=rider, status=status,
        store_lat=4.05, store_lng=9.76, drop_lat=4.053, drop_lng=9.77,
        failure_reason=reason, updated_at=START)


async def place(h: Harness, *, method: str = "mtn_momo", lines: Any = None,
                order_id: uuid.UUID | None = None) -> dict[str, Any]:
    body = h.body(method=method, phone=MTN_PHONE if method != "cash" else None, lines=lines,
                  order_id=order_id)
    response = await h.checkout(uuid.uuid4(), body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def state(h: Harness, order: dict[str, Any]) -> dict[str, Any]:
    response = await h.orders.get(f"/v1/orders/{order['id']}", headers=h.operations())
    assert response.status_code == 200
    return dict(response.json())


async def drain(h: Harness) -> None:
    """Run the saga worker until no step is due now."""
    for _ in range(10):
        if await h.run_saga() == 0:
            return


async def test_payment_failed_cancels_and_releases(h: Harness) -> None:
    order = await place(h)
    await h.publish(PaymentFailed(entity_id=uuid.uuid4(), version=2,
                                  state=payment(order, "failed", "NOT_ENOUGH_FUNDS")))
    after = await state(h, order)
    assert (after["status"], after["cancelled_by"], after["cancel_reason"]) == (
        "CANCELLED", "system", "NOT_ENOUGH_FUNDS")
    assert await h.levels(h.products[0]) == (100, 2)  # not yet: the step runs in the worker
    await drain(h)
    assert (await h.reservation(order["id"]) or {})["status"] == "released"
    assert await h.levels(h.products[0]) == (100, 0)
    expired = await place(h)
    await h.publish(PaymentFailed(entity_id=uuid.uuid4(), version=2,
                                  state=payment(expired, "failed", "EXPIRED")))
    assert (await state(h, expired))["status"] == "EXPIRED"


async def test_capture_confirms_and_redelivery_changes_nothing(h: Harness) -> None:
    order = await place(h)
    captured = PaymentCaptured(entity_id=uuid.uuid4(), version=2,
                               state=payment(order, "captured"))
    await h.publish(captured)
    await h.publish(captured)
    after = await state(h, order)
    assert (after["status"], after["payment"]["status"], after["version"]) == (
        "CONFIRMED", "captured", 2)
    await drain(h)
    steps = {s["step"].split(":")[0]: s for s in await h.rows("saga_steps")}
    assert steps["extend"]["done_at"] is not None and steps["extend"]["note"] == "held"


async def test_expiry_backstop_then_late_capture_reholds_and_confirms(h: Harness) -> None:
    order = await place(h)
    h.clock.advance(minutes=11)  # past the window, inside the grace: nothing yet
    await drain(h)
    assert (await state(h, order))["status"] == "PENDING_PAYMENT"
    h.clock.advance(minutes=2)
    await drain(h)
    expired = await state(h, order)
    assert (expired["status"], expired["cancel_reason"]) == ("EXPIRED", None)
    assert await h.levels(h.products[0]) == (100, 0)
    await h.publish(PaymentCaptured(entity_id=uuid.uuid4(), version=2,
                                    state=payment(order, "captured")))
    await drain(h)
    confirmed = await state(h, order)
    assert (confirmed["status"], confirmed["payment"]["status"]) == ("CONFIRMED", "captured")
    assert await h.levels(h.products[0]) == (100, 2)
    events = await h.outbox("orders.v1.OrderConfirmed")
    assert [e["payload"]["reason"] for e in events] == ["late_payment"]


async def test_late_capture_with_the_stock_gone_cancels(h: Harness) -> None:
    order = await place(h)
    h.clock.advance(minutes=13)
    await drain(h)
    assert (await state(h, order))["status"] == "EXPIRED"
    for _ in range(2):  # somebody else buys every unit meanwhile
        await place(h, method="cash", lines=[(h.products[0], 50)])
    await h.publish(PaymentCaptured(entity_id=uuid.uuid4(), version=2,
                                    state=payment(order, "captured")))
    await drain(h)
    after = await state(h, order)
    assert (after["status"], after["cancel_reason"], after["cancelled_by"]) == (
        "CANCELLED", "late_payment_out_of_stock", "system")
    assert await h.levels(h.products[1]) == (100, 0)  # the partial hold was not kept
    assert len(await h.outbox("orders.v1.OrderCancelled")) == 1


async def test_delivery_failed_puts_the_goods_back(h: Harness) -> None:
    order = await place(h, method="cash")
    for step in ("accept", "preparing", "ready"):
        moved = await h.orders.post(f"/v1/merchant/orders/{order['id']}/{step}",
                                    headers=h.merchant())
        assert moved.status_code == 200
    rider = uuid.uuid4()
    await h.publish(RiderAssigned(entity_id=uuid.uuid4(), version=1,
                                  state=delivery(order, rider, "ASSIGNED")))
    as_rider = await h.orders.get(f"/v1/orders/{order['id']}",
                                  headers=h.auth(rider, Role.RIDER))
    assert as_rider.status_code == 200 and as_rider.json()["rider_id"] == str(rider)
    other_rider = await h.orders.get(f"/v1/orders/{order['id']}",
                                     headers=h.auth(uuid.uuid4(), Role.RIDER))
    assert other_rider.status_code == 404
    await h.publish(DeliveryPickedUp(entity_id=uuid.uuid4(), version=2,
                                     state=delivery(order, rider, "PICKED_UP")))
    assert (await state(h, order))["status"] == "PICKED_UP"
    await drain(h)
    assert await h.levels(h.products[0]) == (98, 0)  # the goods left with the rider
    await h.publish(DeliveryFailed(entity_id=uuid.uuid4(), version=3,
                                   state=delivery(order, rider, "FAILED", "unreachable")))
    after = await state(h, order)
    assert after["status"] == "DELIVERY_FAILED"
    await drain(h)
    await drain(h)
    assert await h.levels(h.products[0]) == (100, 0)
    assert await h.levels(h.products[1]) == (100, 0)
    # The service role may record returns only (inventory's addition for this saga step).
    receipt = await h.client("inventory").post(
        f"/v1/merchant/stores/{h.store_id}/stock/adjustments", headers=h.service(),
        json={"product_id": str(h.products[0]), "kind": "receipt", "quantity": 5})
    assert receipt.status_code == 403
    # A redelivered failure changes nothing and returns nothing twice.
    await h.publish(DeliveryFailed(entity_id=uuid.uuid4(), version=3,
                                   state=delivery(order, rider, "FAILED", "unreachable")))
    await drain(h)
    assert await h.levels(h.products[0]) == (100, 0)


async def test_delivery_completed_delivers(h: Harness) -> None:
    order = await place(h, method="cash")
    rider = uuid.uuid4()
    for step in ("accept", "ready"):
        await h.orders.post(f"/v1/merchant/orders/{order['id']}/{step}", headers=h.merchant())
    await h.publish(DeliveryPickedUp(entity_id=uuid.uuid4(), version=2,
                                     state=delivery(order, rider, "PICKED_UP")),
                    DeliveryCompleted(entity_id=uuid.uuid4(), version=3,
                                      state=delivery(order, rider, "DELIVERED")))
    after = await state(h, order)
    assert (after["status"], after["rider_id"]) == ("DELIVERED", str(rider))
    await drain(h)
    assert await h.levels(h.products[0]) == (98, 0)
    assert len(await h.outbox("orders.v1.OrderDelivered")) == 1


async def test_crash_between_reserve_and_append(h: Harness) -> None:
    """The process died after inventory held the basket and before the order was appended."""
    lines = [(h.products[0], 2), (h.products[1], 1)]
    inventory = h.client("inventory")

    async def reserve_only(order_id: uuid.UUID) -> None:
        response = await inventory.post("/v1/inventory/reservations", headers=h.service(), json={
            "order_id": str(order_id), "store_id": str(h.store_id), "ttl_seconds": 900,
            "lines": [{"product_id": str(p), "quantity": q} for p, q in lines]})
        assert response.status_code == 201, response.text

    # Retried in time: the same hold is reused, nothing is held twice.
    soon = uuid.uuid4()
    await reserve_only(soon)
    retried = await place(h, method="mtn_momo", lines=lines, order_id=soon)
    assert retried["status"] == "PENDING_PAYMENT"
    assert await h.levels(h.products[0]) == (100, 2)
    # Never retried in time: inventory's TTL gives the stock back, a later retry holds anew.
    late = uuid.uuid4()
    await reserve_only(late)
    assert await h.levels(h.products[0]) == (100, 4)
    h.clock.advance(minutes=16)
    assert await h.sweep_inventory() >= 1
    assert await h.levels(h.products[0]) == (100, 0)  # both holds ended (soon's TTL too)
    again = await place(h, method="cash", lines=lines, order_id=late)
    assert again["status"] == "CONFIRMED"
    assert await h.levels(h.products[0]) == (100, 2)
    # Every order ends terminal once the saga ran: soon expires unpaid, late is cancelled.
    await drain(h)
    cancel = await h.orders.post(f"/v1/admin/orders/{late}/transition",
                                 json={"status": "CANCELLED", "reason": "test cleanup"},
                                 headers=h.operations())
    assert cancel.status_code == 200
    await drain(h)
    assert {(await state(h, {"id": str(x)}))["status"] for x in (soon, late)} <= TERMINAL
    assert await h.levels(h.products[0]) == (100, 0)
