"""Cash on delivery: remittance discrepancies and switching to mobile money at the door."""

from __future__ import annotations

import uuid

from okada.contracts.delivery.v1 import DeliveryCompleted, DeliveryState
from okada.kernel.authz import Role
from tests.services.payments.conftest import Harness


def delivered(pay: Harness, placed: object, rider: uuid.UUID, cash: int) -> DeliveryCompleted:
    now = pay.clock.now()
    state = placed.state  # type: ignore[attr-defined]
    return DeliveryCompleted(
        entity_id=uuid.uuid4(), version=7, at=now,
        state=DeliveryState(order_id=placed.entity_id,  # type: ignore[attr-defined]
                            store_id=pay.store_id, customer_id=state.customer_id,
                            rider_id=rider, status="DELIVERED", store_lat=4.05,
                            store_lng=9.7, drop_lat=4.06, drop_lng=9.71,
                            cash_to_collect_xaf=cash, proof="pin", updated_at=now))


async def rider_with_cash(pay: Harness, amount: int) -> uuid.UUID:
    rider = uuid.uuid4()
    placed = pay.order(method="cash", phone=None, status="CONFIRMED", amount=amount)
    await pay.publish(placed)
    await pay.publish(delivered(pay, placed, rider, amount), producer="delivery")
    return rider


async def test_remittance_discrepancies_are_recorded_booked_and_listed(pay: Harness) -> None:
    rider = await rider_with_cash(pay, 10000)
    url = f"/v1/admin/payments/riders/{rider}/remittances"
    ops = pay.headers(Role.OPERATIONS, lang="fr")

    def key() -> dict[str, str]:
        return {"idempotency-key": "remit-" + uuid.uuid4().hex}

    no_reason = await pay.http.post(url, json={"amount_xaf": 6000, "counted_xaf": 5500},
                                    headers={**ops, **key()})
    assert (no_reason.status_code, no_reason.json()["code"]) == (
        422, "discrepancy_reason_required")
    assert "5500" in no_reason.json()["detail"] and "motif" in no_reason.json()["detail"]

    short = await pay.http.post(url, headers={**ops, **key()}, json={
        "amount_xaf": 6000, "counted_xaf": 5500, "discrepancy_reason": "billet manquant"})
    assert (short.status_code, short.json()["cash_in_hand_xaf"]) == (201, 4000)
    written_off = await pay.http.post(url, headers={**ops, **key()}, json={
        "amount_xaf": 3000, "counted_xaf": 2900, "discrepancy_reason": "faux billet",
        "booking": "write_off"})
    over = await pay.http.post(url, headers={**ops, **key()}, json={
        "amount_xaf": 1000, "counted_xaf": 1200, "discrepancy_reason": "monnaie d'un client"})
    assert (written_off.status_code, over.status_code) == (201, 201)
    assert over.json()["cash_in_hand_xaf"] == 0

    balances = await pay.service.balances()
    assert balances[f"rider_cash:{rider}"] == 0
    assert balances["cash_office"] == 5500 + 2900 + 1200
    assert balances[f"rider_receivable:{rider}"] == 500
    assert balances["cash_write_offs"] == 100
    assert balances["cash_overages"] == -200
    assert all(total == 0 for _, _, total in await pay.entries())

    listed = await pay.http.get("/v1/admin/payments/cash-discrepancies",
                                params={"rider_id": str(rider)}, headers=ops)
    assert listed.status_code == 200
    items = sorted((i["expected_xaf"], i["counted_xaf"], i["discrepancy_xaf"], i["booking"],
                    i["reason"]) for i in listed.json()["items"])
    assert items == [(1000, 1200, 200, "overage", "monnaie d'un client"),
                     (3000, 2900, -100, "write_off", "faux billet"),
                     (6000, 5500, -500, "rider_receivable", "billet manquant")]
    other = await pay.http.get("/v1/admin/payments/cash-discrepancies",
                               params={"rider_id": str(uuid.uuid4())}, headers=ops)
    assert other.json()["items"] == []
    rider_looks = await pay.http.get("/v1/admin/payments/cash-discrepancies",
                                     headers=pay.headers(Role.RIDER, user_id=rider))
    assert rider_looks.status_code == 403


async def test_switching_to_mobile_money_at_the_door(pay: Harness) -> None:
    customer, rider = uuid.uuid4(), uuid.uuid4()
    placed = pay.order(method="cash", phone=None, status="CONFIRMED", amount=6000,
                       customer_id=customer)
    await pay.publish(placed)
    url = f"/v1/payments/orders/{placed.entity_id}/switch"
    body = {"method": "mtn_momo", "phone": "+237671234567"}

    def key() -> dict[str, str]:
        return {"idempotency-key": "switch-" + uuid.uuid4().hex}

    stranger = await pay.http.post(url, json=body, headers={
        **pay.headers(Role.RIDER), **key()})
    assert (stranger.status_code, stranger.json()["code"]) == (404, "payment_not_found")
    no_key = await pay.http.post(url, json=body,
                                 headers=pay.headers(Role.CUSTOMER, user_id=customer))
    assert no_key.status_code == 400
    orange_for_mtn = await pay.http.post(url, json={"method": "orange_money",
                                                    "phone": "+237661110003"},
                                         headers={**pay.headers(Role.CUSTOMER,
                                                                user_id=customer), **key()})
    assert orange_for_mtn.status_code == 422

    # the rider assigned to the order asks (delivery told payments who it is)
    assigned = delivered(pay, placed, rider, 6000)
    from okada.contracts.delivery.v1 import RiderAssigned
    await pay.publish(RiderAssigned(entity_id=assigned.entity_id, version=3,
                                    state=assigned.state.model_copy(
                                        update={"status": "ASSIGNED"})), producer="delivery")
    started = await pay.http.post(url, json=body,
                                  headers={**pay.headers(Role.RIDER, user_id=rider), **key()})
    assert started.status_code == 202, started.text
    assert started.json()["attempt"]["amount_xaf"] == 6000
    again = await pay.http.post(url, json=body, headers={
        **pay.headers(Role.CUSTOMER, user_id=customer), **key()})
    assert again.json()["attempt"]["id"] == started.json()["attempt"]["id"]
    (request,) = pay.momo_requests(placed.entity_id)
    assert request["amount"] == "6000"
    assert (await pay.payment(placed.entity_id))["status"] == "cash_due"  # until approved

    await pay.approve_momo(placed.entity_id)

    captured = await pay.events_of(placed.entity_id, "payments.v1.PaymentCaptured")
    assert [(e["state"]["method"], e["state"]["status"], e["state"]["captured_xaf"])
            for e in captured] == [("mtn_momo", "captured", 6000)]
    # delivery has not caught up and still reports cash: the rider collected nothing
    await pay.publish(delivered(pay, placed, rider, 6000), producer="delivery")
    assert await pay.outbox("payments.v1.CashCollected") == []
    assert (await pay.service.rider_cash(rider)).cash_in_hand_xaf == 0
    balances = await pay.service.balances()
    assert f"rider_cash:{rider}" not in balances
    assert balances[f"rider_earnings:{rider}"] == -400  # 80 % of the 500 delivery fee
    assert balances.get("rider_earnings_pool", 0) == 0
    late = await pay.http.post(url, json={"method": "mtn_momo", "phone": "+237671234567"},
                               headers={**pay.headers(Role.CUSTOMER, user_id=customer),
                                        **key()})
    assert (late.status_code, late.json()["code"]) == (409, "payment_not_switchable")


async def test_a_failed_switch_leaves_the_order_cash(pay: Harness) -> None:
    customer, rider = uuid.uuid4(), uuid.uuid4()
    placed = pay.order(method="cash", phone=None, status="CONFIRMED", amount=3000,
                       customer_id=customer)
    await pay.publish(placed)
    started = await pay.http.post(
        f"/v1/payments/orders/{placed.entity_id}/switch",
        json={"method": "mtn_momo", "phone": "+237671234567"},
        headers={**pay.headers(Role.CUSTOMER, user_id=customer),
                 "idempotency-key": "switch-" + uuid.uuid4().hex})
    assert started.status_code == 202, started.text

    await pay.decline_momo(placed.entity_id, "NOT_ENOUGH_FUNDS")

    payment = await pay.payment(placed.entity_id)
    assert (payment["status"], payment["method"]) == ("cash_due", "cash")
    assert payment["attempts"][0]["status"] == "failed"
    assert await pay.events_of(placed.entity_id, "payments.v1.PaymentFailed") == []
    await pay.publish(delivered(pay, placed, rider, 3000), producer="delivery")
    assert (await pay.service.rider_cash(rider)).cash_in_hand_xaf == 3000
    assert (await pay.payment(placed.entity_id))["status"] == "cash_collected"
