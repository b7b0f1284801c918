"""Refunds (exactly once, keyed by order and cause), late captures, ledger invariants."""

from __future__ import annotations

import random
import uuid

from okada.contracts.orders.v1 import (
    OrderAmended,
    OrderCancelled,
    OrderConfirmed,
    OrderExpired,
    OrderPlaced,
)
from tests.services.payments.conftest import Harness, wait_until


async def captured_order(pay: Harness, amount: int, phone: str) -> OrderPlaced:
    placed: OrderPlaced = pay.order(amount=amount, phone=phone)
    await pay.publish(placed)
    await pay.approve_momo(placed.entity_id)
    assert (await pay.payment(placed.entity_id))["status"] == "captured"
    return placed


def momo_refunds(pay: Harness, order_id: uuid.UUID) -> list[dict[str, object]]:
    return [r for r in pay.momo.refunds.values() if r["externalId"] == f"refund-{order_id}"]


async def test_full_refund_on_cancel_exactly_once(pay: Harness) -> None:
    placed = await captured_order(pay, 5000, "+237677100001")
    cancelled = pay.follow(placed, OrderCancelled, status="CANCELLED", reason="customer")

    for _ in range(3):  # redelivered with new message ids
        await pay.publish(cancelled)
    await pay.deliver(cancelled)

    assert [r["amount"] for r in momo_refunds(pay, placed.entity_id)] == ["5000"]
    completed = await pay.events_of(placed.entity_id, "payments.v1.RefundCompleted")
    assert [(e["amount_xaf"], e["reason"], e["state"]["status"]) for e in completed] == [
        (5000, "order_closed", "refunded")]
    payment = await pay.payment(placed.entity_id)
    assert (payment["refunded_xaf"], payment["refunds"][0]["status"]) == (5000, "completed")
    balances = await pay.service.balances()
    # the split is reversed entirely; MoMo keeps its 1 % fee (50) out of our clearing
    assert {a: v for a, v in balances.items() if v} == {
        "provider_clearing:mtn_momo": -50, "provider_fees:mtn_momo": 50}


async def test_partial_refund_on_amendment_then_the_rest_on_cancel(pay: Harness) -> None:
    placed = await captured_order(pay, 5000, "+237677100002")
    amended = pay.follow(placed, OrderAmended, status="CONFIRMED", refund_xaf=1200)

    for _ in range(3):
        await pay.deliver(amended)
    payment = await pay.payment(placed.entity_id)
    assert (payment["status"], payment["refunded_xaf"]) == ("partially_refunded", 1200)
    assert [r["amount"] for r in momo_refunds(pay, placed.entity_id)] == ["1200"]

    cancelled = pay.follow(amended, OrderCancelled, status="CANCELLED")
    await pay.publish(cancelled)
    await pay.publish(cancelled)

    assert sorted(str(r["amount"]) for r in momo_refunds(pay, placed.entity_id)) == [
        "1200", "3800"]
    payment = await pay.payment(placed.entity_id)
    assert (payment["status"], payment["refunded_xaf"]) == ("refunded", 5000)
    assert sorted(r["cause"] for r in payment["refunds"]) == ["amend:2", "order_closed"]


async def test_late_capture_after_expiry_waits_for_the_orders_verdict(pay: Harness) -> None:
    kept = pay.order(phone="+237677100003")
    dropped = pay.order(phone="+237677100004")
    for order in (kept, dropped):
        await pay.publish(order)
    pay.clock.advance(seconds=601)
    await pay.service.sweep_once()  # final query at the window's end: still PENDING
    for order in (kept, dropped):
        failed = await pay.events_of(order.entity_id, "payments.v1.PaymentFailed")
        assert [e["state"]["failure_reason"] for e in failed] == ["EXPIRED"]
        await pay.publish(pay.follow(order, OrderExpired, status="EXPIRED", reason="EXPIRED"))

    # the customers approve late: the callbacks are still honoured (after a status query)
    for order in (kept, dropped):
        await pay.approve_momo(order.entity_id)
        captured = await pay.events_of(order.entity_id, "payments.v1.PaymentCaptured")
        assert len(captured) == 1
    assert await pay.outbox("payments.v1.RefundCompleted") == []  # EXPIRED: orders decides

    await pay.publish(OrderConfirmed(entity_id=kept.entity_id, version=3,
                                     state=kept.state.model_copy(update={"status": "CONFIRMED"}),
                                     reason="late_payment"))
    await pay.publish(OrderCancelled(
        entity_id=dropped.entity_id, version=3,
        state=dropped.state.model_copy(update={"status": "CANCELLED"}),
        reason="late_payment_out_of_stock"))

    assert (await pay.payment(kept.entity_id))["status"] == "captured"
    refunded = await pay.outbox("payments.v1.RefundCompleted")
    assert [e["state"]["order_id"] for e in refunded] == [str(dropped.entity_id)]


async def test_capture_of_an_already_cancelled_order_is_refunded_at_once(pay: Harness) -> None:
    placed = pay.order(phone="+237677100005")
    await pay.publish(placed)
    await pay.publish(pay.follow(placed, OrderCancelled, status="CANCELLED", reason="customer"))
    assert await pay.outbox("payments.v1.RefundCompleted") == []  # nothing captured yet

    await pay.approve_momo(placed.entity_id)

    assert len(await pay.events_of(placed.entity_id, "payments.v1.PaymentCaptured")) == 1
    completed = await pay.events_of(placed.entity_id, "payments.v1.RefundCompleted")
    assert [e["amount_xaf"] for e in completed] == [2500]


async def test_orange_money_refund_falls_back_to_operations(pay: Harness) -> None:
    placed = pay.order(method="orange_money", phone="+237690000001", amount=1800)  # approves
    await pay.publish(placed)
    await pay.om.drain()

    async def captured() -> bool:
        await pay.om.drain()
        return (await pay.payment(placed.entity_id))["status"] == "captured"

    # The approval callback may still be on its way on a loaded box: wait for it (bounded).
    await wait_until(captured, timeout=15.0)

    await pay.publish(pay.follow(placed, OrderCancelled, status="CANCELLED"))

    failed = await pay.events_of(placed.entity_id, "payments.v1.RefundFailed")
    assert [(e["amount_xaf"], e["reason"]) for e in failed] == [(1800, "MANUAL_REFUND_REQUIRED")]
    assert (await pay.service.balances())["refunds_payable"] == 0


async def test_ledger_invariants_under_a_random_mix_of_orders(pay: Harness) -> None:
    rng = random.Random(7)
    expected_kept = 0
    for i in range(12):
        amount = rng.randrange(500, 20000, 5)
        placed = pay.order(amount=amount, phone=f"+2376772{i:05d}")
        await pay.publish(placed)
        fate = rng.choice(["kept", "amended", "cancelled", "declined", "amended_cancelled"])
        if fate == "declined":
            await pay.decline_momo(placed.entity_id, "NOT_ENOUGH_FUNDS")
            continue
        await pay.approve_momo(placed.entity_id)
        last = placed
        refund = 0
        if fate.startswith("amended"):
            refund = rng.randrange(5, amount, 5)
            last = pay.follow(placed, OrderAmended, status="CONFIRMED", refund_xaf=refund)
            await pay.publish(last)
        if fate.endswith("cancelled"):
            await pay.publish(pay.follow(last, OrderCancelled, status="CANCELLED"))
        else:
            expected_kept += amount - refund

    entries = await pay.entries()
    assert entries and all(total == 0 for _, _, total in entries)
    balances = await pay.service.balances()
    captured = sum(e["state"]["amount_xaf"]
                   for e in await pay.outbox("payments.v1.PaymentCaptured"))
    refunded = sum(e["amount_xaf"] for e in await pay.outbox("payments.v1.RefundCompleted"))
    assert captured - refunded == expected_kept
    income = sum(v for a, v in balances.items() if a.startswith((
        "merchant_payable:", "platform_", "rider_earnings")))
    assert -income == expected_kept
    assert balances.get("refunds_payable", 0) == 0
    fees = balances.get("provider_fees:mtn_momo", 0)
    assert fees > 0
    assert balances["provider_clearing:mtn_momo"] == expected_kept - fees
