"""Customer, store and operations APIs over the event-sourced order (SQLite)."""

from __future__ import annotations

import uuid
from typing import Any

from okada.kernel.authz import Role
from tests.services.orders.conftest import MTN_PHONE, Harness


async def place(h: Harness, customer: uuid.UUID, **body: Any) -> dict[str, Any]:
    response = await h.checkout(customer, h.body(**body))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_customer_sees_only_own_orders_newest_first(h: Harness) -> None:
    me, other = uuid.uuid4(), uuid.uuid4()
    first = await place(h, me)
    h.clock.advance(minutes=1)
    second = await place(h, me)
    theirs = await place(h, other)
    page = await h.orders.get("/v1/orders", params={"limit": 1}, headers=h.customer(me))
    assert page.status_code == 200
    assert [x["id"] for x in page.json()["data"]] == [second["id"]]
    rest = await h.orders.get("/v1/orders", params={"cursor": page.json()["next_cursor"]},
                              headers=h.customer(me))
    assert [x["id"] for x in rest.json()["data"]] == [first["id"]]
    assert rest.json()["next_cursor"] is None
    mine = await h.orders.get(f"/v1/orders/{first['id']}", headers=h.customer(me))
    assert mine.status_code == 200 and mine.json() == first
    etag = mine.headers["etag"]
    cached = await h.orders.get(f"/v1/orders/{first['id']}",
                                headers={**h.customer(me), "if-none-match": etag})
    assert cached.status_code == 304
    hidden = await h.orders.get(f"/v1/orders/{theirs['id']}", headers=h.customer(me))
    assert hidden.status_code == 404 and hidden.json()["code"] == "order_not_found"
    cancel = await h.orders.post(f"/v1/orders/{theirs['id']}/cancel", headers=h.customer(me))
    assert cancel.status_code == 404


async def test_store_lifecycle_and_customer_cancel_window(h: Harness) -> None:
    customer = uuid.uuid4()
    order = await place(h, customer)
    oid = order["id"]
    store = h.merchant()
    queue = await h.orders.get("/v1/merchant/orders", params={"store_id": str(h.store_id)},
                               headers=store)
    assert [x["id"] for x in queue.json()["data"]] == [oid]
    assert queue.json()["data"][0]["address"]["contact_phone"] == "+2376****3456"
    foreign = await h.orders.post(f"/v1/merchant/orders/{oid}/accept",
                                  headers=h.merchant(uuid.uuid4()))
    assert foreign.status_code == 404
    accepted = await h.orders.post(f"/v1/merchant/orders/{oid}/accept", headers=store)
    assert accepted.status_code == 200 and accepted.json()["status"] == "ACCEPTED"
    again = await h.orders.post(f"/v1/merchant/orders/{oid}/accept", headers=store)
    assert again.status_code == 200 and again.json()["version"] == accepted.json()["version"]
    late_cancel = await h.orders.post(f"/v1/orders/{oid}/cancel", headers=h.customer(customer))
    assert late_cancel.status_code == 409
    assert late_cancel.json()["code"] == "illegal_transition"
    assert late_cancel.headers["content-type"].startswith("application/problem+json")
    for step, status in (("preparing", "PREPARING"), ("ready", "READY_FOR_PICKUP")):
        moved = await h.orders.post(f"/v1/merchant/orders/{oid}/{step}", headers=store)
        assert moved.status_code == 200 and moved.json()["status"] == status
    backwards = await h.orders.post(f"/v1/merchant/orders/{oid}/preparing", headers=store)
    assert backwards.status_code == 409
    delivered = await h.orders.post(f"/v1/admin/orders/{oid}/transition",
                                    json={"status": "DELIVERED", "reason": ""},
                                    headers=h.operations())
    assert delivered.status_code == 422  # an audit reason is required
    # The customer may cancel before the store accepts; a repeat is a no-op.
    second = await place(h, customer)
    cancelled = await h.orders.post(f"/v1/orders/{second['id']}/cancel",
                                    headers=h.customer(customer))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
    assert cancelled.json()["cancelled_by"] == "customer"
    repeat = await h.orders.post(f"/v1/orders/{second['id']}/cancel",
                                 headers=h.customer(customer))
    assert repeat.json()["version"] == cancelled.json()["version"]
    assert await h.run_saga() >= 1
    assert await h.levels(h.products[0]) == (100, 2)  # the cancelled basket went back


async def test_store_reject_needs_a_reason_and_releases_stock(h: Harness) -> None:
    order = await place(h, uuid.uuid4())
    oid = order["id"]
    no_reason = await h.orders.post(f"/v1/merchant/orders/{oid}/reject", json={},
                                    headers=h.merchant())
    assert no_reason.status_code == 422
    rejected = await h.orders.post(f"/v1/merchant/orders/{oid}/reject",
                                   json={"reason": "rupture de gaz"}, headers=h.merchant())
    assert rejected.status_code == 200
    assert (rejected.json()["cancelled_by"], rejected.json()["cancel_reason"]) == (
        "store", "rupture de gaz")
    await h.run_saga()
    assert (await h.reservation(oid) or {})["status"] == "released"
    assert await h.levels(h.products[0]) == (100, 0)
    assert len(await h.outbox("orders.v1.OrderCancelled")) == 1


async def test_line_unavailable_amends_the_order(h: Harness) -> None:
    order = await place(h, uuid.uuid4())
    oid, gone = order["id"], h.products[1]
    amended = await h.orders.post(f"/v1/merchant/orders/{oid}/lines/{gone}/unavailable",
                                  headers=h.merchant())
    assert amended.status_code == 200, amended.text
    state = amended.json()
    assert state["payable_xaf"] == state["total_xaf"] - 1000
    assert [x["unavailable"] for x in state["lines"] if x["product_id"] == str(gone)] == [True]
    events = await h.outbox("orders.v1.OrderAmended")
    assert [(e["payload"]["refund_xaf"], e["payload"]["unavailable_product_ids"])
            for e in events] == [(0, [str(gone)])]  # cash: nothing to refund
    last = await h.orders.post(
        f"/v1/merchant/orders/{oid}/lines/{h.products[0]}/unavailable", headers=h.merchant())
    assert last.status_code == 409 and last.json()["code"] == "last_line_unavailable"


async def test_operations_find_force_and_read_history(h: Harness) -> None:
    customer = uuid.uuid4()
    await h.set_user(customer, phone="+237650000001")
    order = await place(h, customer, method="mtn_momo", phone=MTN_PHONE)
    await place(h, uuid.uuid4(), address={"city": "Douala", "quartier": "Akwa",
                                          "contact_phone": "+237699000000"})
    ops = h.operations()
    for params in ({"phone": "650000001"}, {"phone": MTN_PHONE}, {"id": order["id"]},
                   {"status": "PENDING_PAYMENT"}):
        found = await h.orders.get("/v1/admin/orders", params=params, headers=ops)
        assert found.status_code == 200, found.text
        assert [x["id"] for x in found.json()["data"]] == [order["id"]], params
    everything = await h.orders.get("/v1/admin/orders", params={"store_id": str(h.store_id)},
                                    headers=ops)
    assert len(everything.json()["data"]) == 2
    forbidden = await h.orders.get("/v1/admin/orders", headers=h.customer(customer))
    assert forbidden.status_code == 403
    bad = await h.orders.get("/v1/admin/orders", params={"status": "LOST"}, headers=ops)
    assert bad.status_code == 422
    forced = await h.orders.post(f"/v1/admin/orders/{order['id']}/transition",
                                 json={"status": "CONFIRMED", "reason": "paid at the counter"},
                                 headers=ops)
    assert forced.status_code == 200 and forced.json()["status"] == "CONFIRMED"
    history = await h.orders.get(f"/v1/admin/orders/{order['id']}/events", headers=ops)
    assert [(e["type"], e["actor_role"], e["reason"]) for e in history.json()["data"]] == [
        ("OrderPlaced", "customer", None),
        ("OrderConfirmed", "operations", "paid at the counter"),
    ]
    store_cannot_deliver = await h.orders.post(
        f"/v1/admin/orders/{order['id']}/transition",
        json={"status": "DELIVERED", "reason": "x"},
        headers=h.auth(uuid.uuid4(), Role.MERCHANT_STAFF, stores=frozenset({h.store_id})))
    assert store_cannot_deliver.status_code == 403
