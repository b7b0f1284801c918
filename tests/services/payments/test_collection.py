"""Collection: one provider request per order, capture once, declines, forged callbacks, poller."""

from __future__ import annotations

import asyncio
import uuid

from okada.contracts.orders.v1 import OrderPlaced
from tests.services.payments.conftest import Harness, wait_until


async def test_fifty_duplicate_order_placed_make_one_provider_request(pay_any: Harness) -> None:
    pay = pay_any
    placed = pay.order()

    # 25 redeliveries through the bus, 25 racing straight into the consumer (new message ids)
    await asyncio.gather(*(pay.publish(placed) for _ in range(25)),
                         *(pay.deliver(placed) for _ in range(25)))

    assert len(pay.momo_requests(placed.entity_id)) == 1
    posts = [c for c in pay.momo.calls if c == ("POST", "/collection/v1_0/requesttopay")]
    assert len(posts) == 1
    requested = await pay.events_of(placed.entity_id, "payments.v1.PaymentRequested")
    assert len(requested) == 1
    assert requested[0]["state"]["status"] == "pending"
    assert requested[0]["state"]["payer_phone_masked"] == "+2376****4567"
    (request,) = pay.momo_requests(placed.entity_id)
    assert (request["amount"], request["currency"]) == ("2500", "EUR")  # sandbox values
    assert request["payer"] == {"partyIdType": "MSISDN", "partyId": "237671234567"}
    payment = await pay.payment(placed.entity_id)
    assert payment["status"] == "pending"
    assert [a["id"] for a in payment["attempts"]] == [request["referenceId"]]


async def test_approval_callback_captures_once_and_books_the_ledger(pay: Harness) -> None:
    placed = pay.order(amount=4200)
    await pay.publish(placed)

    await pay.approve_momo(placed.entity_id)  # the simulator calls back (PUT) in process

    assert [c.get("status") for c in pay.momo.callbacks_sent] == [200]
    captured = await pay.events_of(placed.entity_id, "payments.v1.PaymentCaptured")
    assert len(captured) == 1
    assert (captured[0]["state"]["captured_xaf"], captured[0]["state"]["status"]) == (
        4200, "captured")
    entries = await pay.entries()
    assert [(kind, total) for _, kind, total in entries] == [("capture", 0)]
    balances = await pay.service.balances()
    # 4200 = 3700 goods + 500 delivery; 10 % commission, 80 % of the fee to the rider pool,
    # MoMo keeps 1 % (42)
    assert balances == {"provider_clearing:mtn_momo": 4158, "provider_fees:mtn_momo": 42,
                        f"merchant_payable:{pay.store_id}": -3330,
                        "platform_commission": -370, "rider_earnings_pool": -400,
                        "platform_delivery_revenue": -100}


async def test_declined_payment_fails_with_the_provider_reason(pay: Harness) -> None:
    placed = pay.order(phone="+237670000002")  # magic number: NOT_ENOUGH_FUNDS

    await pay.publish(placed)
    await pay.momo.drain()
    # The provider's answer may still be on its way on a loaded box: wait for it (bounded).
    async def failed_recorded() -> bool:
        await pay.momo.drain()
        return bool(await pay.events_of(placed.entity_id, "payments.v1.PaymentFailed"))

    await wait_until(failed_recorded, timeout=15.0)

    failed = await pay.events_of(placed.entity_id, "payments.v1.PaymentFailed")
    assert [e["state"]["failure_reason"] for e in failed] == ["NOT_ENOUGH_FUNDS"]
    assert await pay.events_of(placed.entity_id, "payments.v1.PaymentCaptured") == []
    declined = pay.order(phone=MTN_DECLINE_LATER)
    await pay.publish(declined)
    await pay.decline_momo(declined.entity_id, "PAYER_LIMIT_REACHED")
    failed = await pay.events_of(declined.entity_id, "payments.v1.PaymentFailed")
    assert [e["state"]["failure_reason"] for e in failed] == ["PAYER_LIMIT_REACHED"]


MTN_DECLINE_LATER = "+237677000111"


async def test_unknown_payer_is_refused_before_any_request(pay: Harness) -> None:
    placed = pay.order(phone="+237670000003")  # account holder inactive

    await pay.publish(placed)

    assert pay.momo_requests(placed.entity_id) == []
    failed = await pay.events_of(placed.entity_id, "payments.v1.PaymentFailed")
    assert [e["state"]["failure_reason"] for e in failed] == ["PAYER_NOT_FOUND"]


async def test_orange_money_success_spelled_successfull_is_captured(pay: Harness) -> None:
    placed = pay.order(method="orange_money", phone="+237691234567", amount=1500)
    await pay.publish(placed)
    (record,) = [r for r in pay.om.payments.values() if r.get("subscriberMsisdn") == "691234567"]
    assert record["status"] == "PENDING"

    approved = await pay.sim.post(f"/_sim/orange-money/_control/payments/{record['payToken']}"
                                  "/approve")
    assert approved.json()["status"] == "SUCCESSFULL"
    await pay.om.drain()

    captured = await pay.events_of(placed.entity_id, "payments.v1.PaymentCaptured")
    assert [(e["state"]["provider"], e["state"]["captured_xaf"]) for e in captured] == [
        ("orange_money", 1500)]
    assert record["orderId"] == (await pay.payment(placed.entity_id))["attempts"][0]["id"]


async def test_r8_duplicate_and_late_callbacks_capture_exactly_once(pay_any: Harness) -> None:
    pay = pay_any
    placed = pay.order(amount=3000)
    await pay.publish(placed)
    await pay.approve_momo(placed.entity_id, callback="never")
    token = await pay.token_of(placed.entity_id)
    (request,) = pay.momo_requests(placed.entity_id)
    success = pay.momo.public(request)
    url = f"/v1/payments/callbacks/mtn-momo/{token}"

    concurrent = await asyncio.gather(*(
        (pay.http.put if i % 2 else pay.http.post)(url, json=success) for i in range(20)))
    sequential = [await pay.http.put(url, json=success) for _ in range(20)]
    late_failed = await pay.http.put(url, json={**success, "status": "FAILED",
                                                "reason": "NOT_ENOUGH_FUNDS"})

    assert {r.status_code for r in [*concurrent, *sequential, late_failed]} == {200}
    assert [kind for _, kind, _ in await pay.entries()] == ["capture"]
    assert len(await pay.events_of(placed.entity_id, "payments.v1.PaymentCaptured")) == 1
    assert await pay.events_of(placed.entity_id, "payments.v1.PaymentFailed") == []
    payment = await pay.payment(placed.entity_id)
    assert (payment["status"], payment["captured_xaf"]) == ("captured", 3000)
    assert payment["attempts"][0]["status"] == "succeeded"


async def test_r9_forged_success_callbacks_never_capture(pay: Harness) -> None:
    pending = pay.order()  # the provider says PENDING
    declined = pay.order(phone="+237670000002")  # the provider says FAILED
    flaky = pay.order(phone="+237677000222")  # the provider answers 503 (unknown)
    for order in (pending, declined, flaky):
        await pay.publish(order)
    forged = {"status": "SUCCESSFUL", "amount": "2500", "currency": "EUR",
              "financialTransactionId": "666", "payer": {"partyIdType": "MSISDN",
                                                         "partyId": "237671234567"}}
    await pay.momo.drain()

    responses = []
    for order in (pending, declined, flaky):
        token = await pay.token_of(order.entity_id)
        pay.momo.status_errors = 1000 if order is flaky else 0
        for method in ("put", "post"):
            responses += [await getattr(pay.http, method)(
                f"/v1/payments/callbacks/mtn-momo/{token}", json=forged) for _ in range(10)]
    for _ in range(30):  # unknown tokens
        responses.append(await pay.http.post(
            f"/v1/payments/callbacks/mtn-momo/{uuid.uuid4().hex}", json=forged))
    for _ in range(10):
        responses.append(await pay.http.post(
            f"/v1/payments/callbacks/orange-money/{uuid.uuid4().hex}",
            json={"status": "SUCCESSFULL"}))

    assert len(responses) == 100
    assert {r.status_code for r in responses} == {200}
    assert await pay.outbox("payments.v1.PaymentCaptured") == []
    assert [kind for _, kind, _ in await pay.entries()] == []
    assert (await pay.payment(pending.entity_id))["status"] == "pending"
    assert (await pay.payment(flaky.entity_id))["status"] == "pending"
    assert (await pay.payment(declined.entity_id))["failure_reason"] == "NOT_ENOUGH_FUNDS"
    bad = await pay.http.post(f"/v1/payments/callbacks/mtn-momo/{uuid.uuid4().hex}",
                              content=b"{not json")
    assert bad.status_code == 400


async def test_r10_poller_settles_payments_whose_callbacks_never_arrive(pay: Harness) -> None:
    orders = [pay.order(amount=1000 + i, phone=f"+2376771{i:05d}") for i in range(50)]
    for order in orders:
        await pay.publish(order)
    for i, order in enumerate(orders):
        if i % 4 == 3:
            (request,) = pay.momo_requests(order.entity_id)
            await pay.sim.post(f"/_sim/mtn-momo/_control/requests/{request['referenceId']}"
                               "/decline", json={"reason": "NOT_ENOUGH_FUNDS",
                                                 "callback": "never"})
        else:
            await pay.approve_momo(order.entity_id, callback="never")
    assert pay.momo.callbacks_sent == []
    assert await pay.outbox("payments.v1.PaymentCaptured") == []

    # one poll interval later (the first status query is due that long after the request)
    assert await pay.service.sweep_once() == 0
    pay.clock.advance(seconds=pay.service.policy.check_schedule[0])
    assert await pay.service.sweep_once() == 50

    assert len(await pay.outbox("payments.v1.PaymentCaptured")) == 38
    failed = await pay.outbox("payments.v1.PaymentFailed")
    assert [e["state"]["failure_reason"] for e in failed] == ["NOT_ENOUGH_FUNDS"] * 12
    pay.clock.advance(seconds=15)
    assert await pay.service.sweep_once() == 0  # settled attempts are no longer due


async def test_payment_window_expires_after_a_final_status_query(pay: Harness) -> None:
    placed = pay.order()
    await pay.publish(placed)
    flaky = pay.order(phone="+237677000333")
    await pay.publish(flaky)
    pay.momo.status_errors = 0

    for _ in range(12):  # 10 minutes of polls while the customer does nothing
        pay.clock.advance(seconds=60)
        await pay.service.sweep_once()

    failed = await pay.events_of(placed.entity_id, "payments.v1.PaymentFailed")
    assert [e["state"]["failure_reason"] for e in failed] == ["EXPIRED"]
    assert (await pay.payment(placed.entity_id))["attempts"][0]["status"] == "expired"
    assert len(await pay.events_of(flaky.entity_id, "payments.v1.PaymentFailed")) == 1


async def test_timeouts_are_unknown_never_failures(pay: Harness) -> None:
    placed = pay.order()
    await pay.publish(placed)
    await pay.approve_momo(placed.entity_id, callback="never")
    pay.momo.status_errors = 3  # three 503s, then the truth

    for _ in range(3):
        pay.clock.advance(seconds=120)
        await pay.service.sweep_once()
    assert await pay.events_of(placed.entity_id, "payments.v1.PaymentFailed") == []
    assert (await pay.payment(placed.entity_id))["status"] == "pending"
    pay.clock.advance(seconds=120)
    await pay.service.sweep_once()

    assert len(await pay.events_of(placed.entity_id, "payments.v1.PaymentCaptured")) == 1


async def test_rate_limit_per_payer_phone(pay: Harness) -> None:
    orders = [pay.order(phone="+237677000444") for _ in range(6)]
    for order in orders:
        await pay.publish(order)

    requested = sum(len(pay.momo_requests(o.entity_id)) for o in orders)
    assert requested == 5
    failed = await pay.events_of(orders[-1].entity_id, "payments.v1.PaymentFailed")
    assert [e["state"]["failure_reason"] for e in failed] == ["PAYER_RATE_LIMITED"]
    assert isinstance(orders[0], OrderPlaced)


async def test_tokens_are_cached_per_product_and_refreshed_before_expiry(pay: Harness) -> None:
    for i in range(3):
        await pay.publish(pay.order(phone=f"+2376773{i:05d}"))
    token_calls = [c for c in pay.momo.calls if c[1] == "/collection/token/"]
    assert len(token_calls) == 1

    pay.clock.advance(minutes=49)  # 60-minute tokens are refreshed 10 minutes early
    await pay.publish(pay.order(phone="+237677400001"))
    assert len([c for c in pay.momo.calls if c[1] == "/collection/token/"]) == 1
    pay.clock.advance(minutes=2)
    await pay.publish(pay.order(phone="+237677400002"))
    assert len([c for c in pay.momo.calls if c[1] == "/collection/token/"]) == 2


async def test_unanswered_prompts_fail_when_the_provider_times_them_out(pay: Harness) -> None:
    momo = pay.order(phone="+237670000004")  # MoMo: no PIN within 5 minutes
    orange = pay.order(method="orange_money", phone="+237690000004")  # Orange: EXPIRED
    await pay.publish(momo)
    await pay.publish(orange)

    for _ in range(4):
        pay.clock.advance(seconds=90)
        await pay.service.sweep_once()

    for order, reason in ((momo, "COULD_NOT_PERFORM_TRANSACTION"), (orange, "EXPIRED")):
        failed = await pay.events_of(order.entity_id, "payments.v1.PaymentFailed")
        assert [e["state"]["failure_reason"] for e in failed] == [reason]
