"""Payments HTTP API: method selection (fr/en), object-level access, rider cash, S14."""

from __future__ import annotations

import uuid

import httpx
from structlog.testing import capture_logs

from okada.contracts.delivery.v1 import DeliveryCompleted, DeliveryState
from okada.kernel.authz import Role
from okada.services.payments.domain.attempts import Provider
from tests.services.payments.conftest import Harness, wait_until


async def test_method_follows_the_operator_with_clear_errors_in_both_languages(
        pay: Harness) -> None:
    customer = uuid.uuid4()
    await pay.user(customer, ("+237671110001", True), ("+237691110002", True),
                   ("+237661110003", True), ("+237671110004", False))
    url = "/v1/payments/methods/resolve"

    default = await pay.http.post(url, json={"method": "mtn_momo"},
                                  headers=pay.headers(Role.CUSTOMER, user_id=customer))
    assert default.json() == {"method": "mtn_momo", "provider": "mtn_momo",
                              "payer_phone_masked": "+2376****0001"}
    other = await pay.http.post(url, json={"method": "orange_money", "phone": "691110002"},
                                headers=pay.headers(Role.CUSTOMER, user_id=customer))
    assert (other.status_code, other.json()["provider"]) == (200, "orange_money")

    for lang, words in (("en", "Pay cash"), ("fr", "Payez en espèces")):
        nexttel = await pay.http.post(
            url, json={"method": "mtn_momo", "phone": "+237661110003"},
            headers=pay.headers(Role.CUSTOMER, user_id=customer, lang=lang))
        assert nexttel.status_code == 422
        assert nexttel.headers["content-type"] == "application/problem+json"
        assert nexttel.json()["code"] == "operator_not_supported"
        assert words in nexttel.json()["detail"]
        assert "+2376****0003" in nexttel.json()["detail"]
    unverified = await pay.http.post(
        url, json={"method": "mtn_momo", "phone": "+237671110004"},
        headers=pay.headers(Role.CUSTOMER, user_id=customer, lang="fr"))
    assert (unverified.status_code, unverified.json()["code"]) == (422, "payer_phone_not_verified")
    assert "vérifiés" in unverified.json()["detail"]
    garbage = await pay.http.post(url, json={"method": "mtn_momo", "phone": "12"},
                                  headers=pay.headers(Role.CUSTOMER, user_id=customer))
    assert (garbage.status_code, garbage.json()["code"]) == (422, "payer_phone_invalid")
    extra = await pay.http.post(url, json={"method": "cash", "status": "captured"},
                                headers=pay.headers(Role.CUSTOMER, user_id=customer))
    assert extra.status_code == 422
    service = await pay.http.post(url, json={"method": "orange_money",
                                             "customer_id": str(customer)},
                                  headers=pay.headers(Role.SERVICE))
    # no number given: the primary (MTN) number pays, and the provider follows its operator
    assert (service.status_code, service.json()["provider"]) == (200, "mtn_momo")


async def test_order_placed_with_an_unsupported_operator_fails_the_payment(pay: Harness) -> None:
    customer = uuid.uuid4()
    await pay.user(customer, ("+237661110003", True), ("+237671110005", True))
    nexttel = pay.order(customer_id=customer, phone="+237661110003")
    stranger = pay.order(customer_id=customer, phone="+237671119999")  # not the customer's

    await pay.publish(nexttel)
    await pay.publish(stranger)

    for order, reason in ((nexttel, "OPERATOR_NOT_SUPPORTED"),
                          (stranger, "PAYER_PHONE_NOT_VERIFIED")):
        failed = await pay.events_of(order.entity_id, "payments.v1.PaymentFailed")
        assert [e["state"]["failure_reason"] for e in failed] == [reason]
        assert pay.momo_requests(order.entity_id) == []


async def test_order_payment_is_visible_to_owner_store_and_operations_only(pay: Harness) -> None:
    customer = uuid.uuid4()
    placed = pay.order(customer_id=customer)
    await pay.publish(placed)
    url = f"/v1/payments/orders/{placed.entity_id}"

    owner = await pay.http.get(url, headers=pay.headers(Role.CUSTOMER, user_id=customer))
    assert owner.status_code == 200
    assert owner.json()["attempts"][0]["payer_phone_masked"] == "+2376****4567"
    assert "237671234567" not in owner.text
    staff = await pay.http.get(url, headers=pay.headers(Role.MERCHANT_STAFF,
                                                        stores=(pay.store_id,)))
    assert staff.status_code == 200
    for headers in (pay.headers(Role.CUSTOMER),
                    pay.headers(Role.MERCHANT_STAFF, stores=(uuid.uuid4(),)),
                    pay.headers(Role.RIDER)):
        other = await pay.http.get(url, headers=headers)
        assert (other.status_code, other.json()["code"]) == (404, "payment_not_found")
    anonymous = await pay.http.get(url)
    assert anonymous.status_code == 401


async def test_rider_cash_is_collected_once_and_remitted_by_operations(pay: Harness) -> None:
    rider = uuid.uuid4()
    placed = pay.order(method="cash", phone=None, status="CONFIRMED", amount=7000)
    await pay.publish(placed)
    assert (await pay.payment(placed.entity_id))["status"] == "cash_due"
    now = pay.clock.now()
    delivered = DeliveryCompleted(
        entity_id=uuid.uuid4(), version=7, at=now,
        state=DeliveryState(order_id=placed.entity_id, store_id=pay.store_id,
                            customer_id=placed.state.customer_id, rider_id=rider,
                            status="DELIVERED", store_lat=4.05, store_lng=9.7, drop_lat=4.06,
                            drop_lng=9.71, cash_to_collect_xaf=7000, proof="pin",
                            updated_at=now))

    await pay.publish(delivered, producer="delivery")
    await pay.publish(delivered, producer="delivery")  # redelivered

    collected = await pay.outbox("payments.v1.CashCollected")
    assert [(e["amount_xaf"], e["state"]["cash_in_hand_xaf"]) for e in collected] == [
        (7000, 7000)]
    assert (await pay.payment(placed.entity_id))["status"] == "cash_collected"
    mine = await pay.http.get("/v1/payments/riders/me/cash",
                              headers=pay.headers(Role.RIDER, user_id=rider))
    assert (mine.json()["cash_in_hand_xaf"], mine.json()["float_limit_xaf"]) == (7000, 50000)
    url = f"/v1/admin/payments/riders/{rider}/remittances"
    ops = pay.headers(Role.OPERATIONS)

    too_much = await pay.http.post(url, json={"amount_xaf": 9000},
                                   headers={**ops, "idempotency-key": "remit-" + "x" * 20})
    assert (too_much.status_code, too_much.json()["code"]) == (409, "remittance_exceeds_cash")
    key = {"idempotency-key": "remit-" + uuid.uuid4().hex}
    first = await pay.http.post(url, json={"amount_xaf": 5000}, headers={**ops, **key})
    again = await pay.http.post(url, json={"amount_xaf": 5000}, headers={**ops, **key})
    assert (first.status_code, first.json()["cash_in_hand_xaf"]) == (201, 2000)
    assert again.json() == first.json()
    remitted = await pay.outbox("payments.v1.CashRemitted")
    assert [(e["amount_xaf"], e["state"]["cash_in_hand_xaf"]) for e in remitted] == [(5000, 2000)]
    rider_tries = await pay.http.post(url, json={"amount_xaf": 1},
                                      headers={**pay.headers(Role.RIDER, user_id=rider),
                                               "idempotency-key": "r" * 24})
    assert rider_tries.status_code == 403
    balances = await pay.service.balances()
    assert (balances[f"rider_cash:{rider}"], balances["cash_office"]) == (2000, 5000)


async def test_s14_unsafe_provider_replies_leave_the_payment_pending(pay: Harness) -> None:
    placed = pay.order()
    await pay.publish(placed)
    await pay.approve_momo(placed.entity_id, callback="never")
    token = await pay.token_of(placed.entity_id)
    pay.service.gateways[Provider.MTN_MOMO]._http._timeout = 0.3  # type: ignore[attr-defined]
    pay.momo.stall_seconds = 1.0

    with capture_logs() as logs:
        for mode in ("malformed", "huge", "redirect", "stall"):
            pay.momo.status_mode = mode
            reply = await pay.http.put(f"/v1/payments/callbacks/mtn-momo/{token}",
                                       json={"status": "SUCCESSFUL"})
            assert reply.status_code == 200, (mode, reply.text)
            pay.clock.advance(seconds=120)  # the longest back-off step
            assert await pay.service.sweep_once() == 1, mode  # the poller survives it too

    payment = await pay.payment(placed.entity_id)
    assert (payment["status"], payment["attempts"][0]["status"]) == ("pending", "pending")
    assert await pay.outbox("payments.v1.PaymentCaptured") == []
    errors = [e["error"] for e in logs if e["event"] == "payments.provider_error"]
    assert {"malformed", "too_large", "redirect", "timeout"} <= set(errors)
    assert not any("237671234567" in str(e) or "sim-momo-api-key" in str(e) for e in logs)

    pay.momo.status_mode = "ok"
    pay.clock.advance(seconds=120)
    await pay.service.sweep_once()
    assert (await pay.payment(placed.entity_id))["status"] == "captured"


async def _status_is(pay: Harness, order_id: uuid.UUID, status: str) -> bool:
    return bool((await pay.payment(order_id))["status"] == status)


async def test_callback_answers_even_when_the_simulator_process_is_unreachable(
        pay: Harness) -> None:
    placed = pay.order()
    await pay.publish(placed)
    # The RequestToPay leaves in the background after the attempt commits: let it land before
    # the provider becomes unreachable, so only the callback's status query meets the outage.
    await wait_until(lambda: pay.momo_requests(placed.entity_id))
    await pay.service.drain()
    await wait_until(lambda: _status_is(pay, placed.entity_id, "pending"))
    token = await pay.token_of(placed.entity_id)
    broken = httpx.AsyncClient(transport=httpx.MockTransport(
        lambda request: (_ for _ in ()).throw(httpx.ConnectError("refused"))))
    gateway = pay.service.gateways[Provider.MTN_MOMO]
    saved = gateway._http._client  # type: ignore[attr-defined]
    gateway._http._client = broken  # type: ignore[attr-defined]
    try:
        reply = await pay.http.post(f"/v1/payments/callbacks/mtn-momo/{token}", json={})
    finally:
        gateway._http._client = saved  # type: ignore[attr-defined]
        await broken.aclose()
    assert reply.status_code == 200
    assert (await pay.payment(placed.entity_id))["status"] == "pending"


async def test_callbacks_pass_the_gateway_anonymously(pay: Harness) -> None:
    placed = pay.order()
    await pay.publish(placed)
    await pay.approve_momo(placed.entity_id, callback="never")
    token = await pay.token_of(placed.entity_id)
    transport = httpx.ASGITransport(app=pay.app, client=("203.0.113.9", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://okada.test") as gateway:
        unknown = await gateway.put(f"/v1/payments/callbacks/mtn-momo/{uuid.uuid4().hex}",
                                    json={"status": "SUCCESSFUL"})
        known = await gateway.post(f"/v1/payments/callbacks/mtn-momo/{token}",
                                   json={"status": "SUCCESSFUL"})
        view = await gateway.get(f"/v1/payments/orders/{placed.entity_id}")

    assert (unknown.status_code, known.status_code) == (200, 200)
    assert view.status_code == 401  # only the callbacks are anonymous
    assert (await pay.payment(placed.entity_id))["status"] == "captured"
