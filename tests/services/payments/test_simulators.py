"""Simulator fidelity: the MoMo and Orange Money simulators answer like the real APIs."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from okada.simulators.app import create_simulators_app

MOMO = "/_sim/mtn-momo"
OM = "/_sim/orange-money"


@pytest.fixture
async def sim() -> AsyncIterator[httpx.AsyncClient]:
    app = create_simulators_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://sim.test") as client:
        client.app = app  # type: ignore[attr-defined]
        yield client


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def momo_headers(sim: httpx.AsyncClient, product: str = "collection") -> dict[str, str]:
    state = sim.app.state.mtn_momo  # type: ignore[attr-defined]
    key = state.subscription_keys[product]
    token = await sim.post(f"{MOMO}/{product}/token/", headers={
        "authorization": basic(state.api_user, state.api_key),
        "ocp-apim-subscription-key": key})
    assert token.status_code == 200
    return {"authorization": f"Bearer {token.json()['access_token']}",
            "ocp-apim-subscription-key": key, "x-target-environment": "sandbox"}


def rtp(party: str = "237671234567", **overrides: Any) -> dict[str, Any]:
    return {"amount": "1500", "currency": "EUR", "externalId": "order-1",
            "payer": {"partyIdType": "MSISDN", "partyId": party},
            "payerMessage": "Okada order 1", "payeeNote": "order 1", **overrides}


async def test_momo_token_rules(sim: httpx.AsyncClient) -> None:
    state = sim.app.state.mtn_momo  # type: ignore[attr-defined]
    key = {"ocp-apim-subscription-key": state.subscription_keys["collection"]}
    wrong = await sim.post(f"{MOMO}/collection/token/",
                           headers={**key, "authorization": basic(state.api_user, "nope")})
    assert (wrong.status_code, wrong.json()) == (401, {"error": "login_failed"})
    with_body = await sim.post(f"{MOMO}/collection/token/", content=b"{}", headers={
        **key, "authorization": basic(state.api_user, state.api_key)})
    assert with_body.status_code == 400
    good = await sim.post(f"{MOMO}/collection/token/", headers={
        **key, "authorization": basic(state.api_user, state.api_key)})
    assert good.status_code == 200
    assert set(good.json()) == {"access_token", "token_type", "expires_in"}
    assert good.json()["expires_in"] == 3600
    # a collection token is refused on disbursement
    refused = await sim.get(f"{MOMO}/disbursement/v1_0/refund/{uuid.uuid4()}", headers={
        "authorization": f"Bearer {good.json()['access_token']}",
        "ocp-apim-subscription-key": state.subscription_keys["disbursement"],
        "x-target-environment": "sandbox"})
    assert refused.status_code == 401


async def test_momo_request_to_pay_status_codes(sim: httpx.AsyncClient) -> None:
    headers = await momo_headers(sim)
    ref = str(uuid.uuid4())
    created = await sim.post(f"{MOMO}/collection/v1_0/requesttopay", json=rtp(),
                             headers={**headers, "x-reference-id": ref})
    assert (created.status_code, created.content) == (202, b"")
    reused = await sim.post(f"{MOMO}/collection/v1_0/requesttopay", json=rtp(),
                            headers={**headers, "x-reference-id": ref})
    assert (reused.status_code, reused.json()["code"]) == (409, "RESOURCE_ALREADY_EXIST")
    cases = [
        ({"x-reference-id": "not-a-uuid"}, rtp(), 400),
        ({"x-reference-id": str(uuid.uuid1())}, rtp(), 400),  # not version 4
        ({"x-reference-id": str(uuid.uuid4())}, rtp(payerMessage="Commande d'Okada"), 400),
        ({"x-reference-id": str(uuid.uuid4())}, rtp(payeeNote="x" * 161), 400),
        ({"x-reference-id": str(uuid.uuid4())}, rtp(amount="15,00"), 400),
        ({"x-reference-id": str(uuid.uuid4())}, rtp(currency="XAF"), 500),  # EUR-only sandbox
        ({"x-reference-id": str(uuid.uuid4()), "x-target-environment": "mtncameroon"}, rtp(),
         500),
        ({"x-reference-id": str(uuid.uuid4()), "x-callback-url": ""}, rtp(), 400),
    ]
    for extra, body, status in cases:
        reply = await sim.post(f"{MOMO}/collection/v1_0/requesttopay", json=body,
                               headers={**headers, **extra})
        assert reply.status_code == status, (extra, body, reply.text)
    codes = {(await sim.post(f"{MOMO}/collection/v1_0/requesttopay", json=rtp(currency="XAF"),
                             headers={**headers, "x-reference-id": str(uuid.uuid4())})
              ).json()["code"]}
    assert codes == {"INVALID_CURRENCY"}

    pending = await sim.get(f"{MOMO}/collection/v1_0/requesttopay/{ref}", headers=headers)
    assert (pending.json()["status"], pending.json()["externalId"]) == ("PENDING", "order-1")
    missing = await sim.get(f"{MOMO}/collection/v1_0/requesttopay/{uuid.uuid4()}",
                            headers=headers)
    assert (missing.status_code, missing.json()["code"]) == (404, "RESOURCE_NOT_FOUND")
    expired = await sim.get(f"{MOMO}/collection/v1_0/requesttopay/{ref}",
                            headers={**headers, "authorization": "Bearer stale"})
    assert expired.status_code == 401


async def test_momo_magic_numbers_and_control(sim: httpx.AsyncClient) -> None:
    headers = await momo_headers(sim)
    outcomes = {}
    for party in ("237670000001", "237670000002", "237677777777"):
        ref = str(uuid.uuid4())
        await sim.post(f"{MOMO}/collection/v1_0/requesttopay", json=rtp(party),
                       headers={**headers, "x-reference-id": ref})
        status = (await sim.get(f"{MOMO}/collection/v1_0/requesttopay/{ref}",
                                headers=headers)).json()
        outcomes[party] = (status["status"], status.get("reason"), ref)
    assert outcomes["237670000001"][:2] == ("SUCCESSFUL", None)
    assert outcomes["237670000002"][:2] == ("FAILED", "NOT_ENOUGH_FUNDS")
    assert outcomes["237677777777"][:2] == ("PENDING", None)
    active = await sim.get(f"{MOMO}/collection/v1_0/accountholder/msisdn/237670000003/active",
                           headers=headers)
    assert active.json() == {"result": False}

    listed = await sim.get(f"{MOMO}/_control/requests", params={"payer": "+237677777777"})
    assert [r["reference"] for r in listed.json()] == [outcomes["237677777777"][2]]
    declined = await sim.post(f"{MOMO}/_control/requests/{outcomes['237677777777'][2]}/decline",
                              json={"reason": "PAYER_NOT_FOUND"})
    assert (declined.json()["status"], declined.json()["reason"]) == ("FAILED", "PAYER_NOT_FOUND")
    sim.app.state.mtn_momo.status_errors = 1  # type: ignore[attr-defined]
    flaky = await sim.get(f"{MOMO}/collection/v1_0/requesttopay/{outcomes['237670000001'][2]}",
                          headers=headers)
    assert flaky.status_code == 503


async def test_momo_refund_needs_a_successful_payment(sim: httpx.AsyncClient) -> None:
    collection = await momo_headers(sim)
    paid = str(uuid.uuid4())
    await sim.post(f"{MOMO}/collection/v1_0/requesttopay", json=rtp("237670000001"),
                   headers={**collection, "x-reference-id": paid})
    headers = await momo_headers(sim, "disbursement")
    body = {"amount": "1000", "currency": "EUR", "externalId": "refund-1",
            "payerMessage": "refund", "payeeNote": "refund", "referenceIdToRefund": paid}
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    assert (await sim.post(f"{MOMO}/disbursement/v1_0/refund", json=body,
                           headers={**headers, "x-reference-id": first})).status_code == 202
    assert (await sim.post(f"{MOMO}/disbursement/v1_0/refund", json=body,
                           headers={**headers, "x-reference-id": second})).status_code == 202
    statuses = [(await sim.get(f"{MOMO}/disbursement/v1_0/refund/{r}", headers=headers)).json()
                for r in (first, second)]
    assert [(s["status"], s.get("reason")) for s in statuses] == [
        ("SUCCESSFUL", None), ("FAILED", "NOT_ENOUGH_FUNDS")]  # 2 x 1000 > 1500 paid


async def om_headers(sim: httpx.AsyncClient) -> dict[str, str]:
    state = sim.app.state.orange_money  # type: ignore[attr-defined]
    token = await sim.post(f"{OM}/token", data={"grant_type": "client_credentials"},
                           headers={"authorization": basic(state.username, state.password)})
    assert token.status_code == 200
    assert token.json()["token_type"] == "Bearer"
    return {"authorization": f"Bearer {token.json()['access_token']}",
            "x-auth-token": state.x_auth_token}


async def test_orange_money_mp_flow_and_successfull_spelling(sim: httpx.AsyncClient) -> None:
    state = sim.app.state.orange_money  # type: ignore[attr-defined]
    headers = await om_headers(sim)
    init = await sim.post(f"{OM}/omcoreapis/1.0.2/mp/init", headers=headers)
    pay_token = init.json()["data"]["payToken"]
    body = {"notifUrl": "http://okada.test/notify", "channelUserMsisdn": state.channel_msisdn,
            "amount": "1500", "subscriberMsisdn": "691234567", "pin": state.pin,
            "orderId": "attempt-1", "description": "Okada 1", "payToken": pay_token}
    paid = await sim.post(f"{OM}/omcoreapis/1.0.2/mp/pay", json=body, headers=headers)
    assert paid.status_code == 200
    assert paid.json()["message"] == "Merchant payment successfully initiated"
    assert (paid.json()["data"]["status"], paid.json()["data"]["amount"]) == ("PENDING", 1500)
    reused = await sim.post(f"{OM}/omcoreapis/1.0.2/mp/pay", json=body, headers=headers)
    assert reused.status_code == 409

    listed = await sim.get(f"{OM}/_control/payments", params={"payer": "+237691234567"})
    assert [p["payToken"] for p in listed.json()] == [pay_token]
    await sim.post(f"{OM}/_control/payments/{pay_token}/approve")
    status = await sim.get(f"{OM}/omcoreapis/1.0.2/mp/paymentstatus/{pay_token}",
                           headers=headers)
    assert status.json()["data"]["status"] == "SUCCESSFULL"
    assert status.json()["data"]["txnid"].startswith("MP")

    bad = await sim.post(f"{OM}/omcoreapis/1.0.2/mp/init",
                         headers={**headers, "authorization": "Bearer forged"})
    assert (bad.status_code, bad.json()["fault"]["code"]) == (401, "900901")
    wrong_pin = await sim.post(f"{OM}/omcoreapis/1.0.2/mp/pay", headers=headers,
                               json={**body, "pin": "0000", "orderId": "attempt-2"})
    assert wrong_pin.status_code == 401
