"""Merchant settlements and rider payouts: MoMo transfers in idempotent batches."""

from __future__ import annotations

import uuid

from okada.kernel.authz import Role
from tests.services.payments.conftest import Harness


async def test_payout_batch_pays_each_payee_once_and_books_the_ledger(pay: Harness) -> None:
    store, rider, ghost = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    body = {"batch_id": "settlement-2026-03-01", "items": [
        {"payee_kind": "store", "payee_id": str(store), "phone": "677123450",
         "amount_xaf": 120000},
        {"payee_kind": "rider", "payee_id": str(rider), "phone": "+237 6 80 11 22 33",
         "amount_xaf": 8000},
        {"payee_kind": "rider", "payee_id": str(ghost), "phone": "+237670000003",
         "amount_xaf": 500},  # magic number: PAYEE_NOT_FOUND
    ]}
    ops = pay.headers(Role.OPERATIONS)
    url = "/v1/admin/payments/payout-batches"

    first = await pay.http.post(url, json=body, headers={**ops, "idempotency-key": "k" * 24})
    # the same batch resubmitted under another key (a retry after a lost answer)
    again = await pay.http.post(url, json=body, headers={**ops, "idempotency-key": "j" * 24})

    assert first.status_code == 201, first.text
    statuses = {(i["payee_kind"], i["amount_xaf"]): (i["status"], i["reason"])
                for i in again.json()["items"]}
    assert statuses == {("store", 120000): ("completed", None),
                        ("rider", 8000): ("completed", None),
                        ("rider", 500): ("failed", "PAYEE_NOT_FOUND")}
    transfers = list(pay.momo.transfers.values())
    assert sorted(t["amount"] for t in transfers) == ["120000", "500", "8000"]
    assert {t["payee"]["partyId"] for t in transfers} >= {"237677123450", "237680112233"}
    assert "677123450" not in first.text  # numbers are masked
    balances = await pay.service.balances()
    assert balances["provider_clearing:mtn_momo"] == -128000
    # nothing was owed yet: the payouts leave debit (advance) balances on the payables
    assert balances[f"merchant_payable:{store}"] == 120000
    assert balances[f"rider_earnings:{rider}"] == 8000
    assert balances[f"rider_earnings:{ghost}"] == 0  # the failed transfer is owed again
    assert balances["payouts_in_transit"] == 0
    assert all(total == 0 for _, _, total in await pay.entries())

    fetched = await pay.http.get(f"{url}/settlement-2026-03-01", headers=ops)
    assert fetched.json() == again.json()
    unknown = await pay.http.get(f"{url}/nope", headers=ops)
    assert unknown.status_code == 404
    orange = await pay.http.post(url, headers={**ops, "idempotency-key": "o" * 24}, json={
        "batch_id": "b2", "items": [{"payee_kind": "store", "payee_id": str(store),
                                     "phone": "691234567", "amount_xaf": 10}]})
    assert (orange.status_code, orange.json()["code"]) == (422, "operator_not_supported")
    customer = await pay.http.post(url, json=body, headers={**pay.headers(Role.CUSTOMER),
                                                            "idempotency-key": "c" * 24})
    assert customer.status_code == 403
