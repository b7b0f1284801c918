"""Assertions on the final states the demo journeys leave behind (embedded and distributed).

They read every service again through the public API (as operations or as the customer),
so a journey that "returned" but left an order, a payment, the stock or a cash ledger in the
wrong state fails the test.
"""

from __future__ import annotations

from typing import Any

from okada.cli.demo import TERMINAL, DemoContext


async def assert_demo_outcome(ctx: DemoContext) -> dict[str, Any]:
    """Check the three journeys' final states; return the figures for the report."""
    rows = {row["journey"]: row for row in ctx.orders}
    assert set(rows) == {"A", "B", "C"}, rows
    ops = await ctx.sign_in_operations()
    figures: dict[str, Any] = {}
    for journey, row in rows.items():
        order = await ctx.call("GET", f"/v1/orders/{row['order_id']}", token=row["customer"])
        payment = await ctx.call("GET", f"/v1/payments/orders/{row['order_id']}", token=ops)
        messages = await ctx.call("GET", "/v1/admin/notifications", token=ops,
                                  params={"order_id": row["order_id"], "limit": 100})
        assert order["status"] in TERMINAL, order
        figures[journey] = {"status": order["status"], "payment": payment["status"],
                            "messages": sorted({m["kind"] for m in messages["data"]})}
        if journey == "A":
            assert order["status"] == "DELIVERED"
            assert payment["status"] == "captured"
            assert payment["captured_xaf"] == order["payable_xaf"] > 0
            assert payment["refunded_xaf"] == 0
            assert len(order["lines"]) == 3
            assert {"order_confirmed", "order_accepted", "rider_arriving",
                    "order_delivered"} <= set(row["kinds"]), row["kinds"]
            assert row["pushes"] >= 1
            assert row["delivery"]["proof"] == "pin"
        elif journey == "B":
            assert order["status"] == "DELIVERED"
            assert order["payment"]["method"] == "cash"
            assert payment["status"] == "cash_collected"
            assert payment["captured_xaf"] == order["payable_xaf"] > 0
            assert row["cash_collected"] == row["cash_before"] + order["payable_xaf"]
            cash = await ctx.call("GET", f"/v1/admin/payments/riders/{row['rider_id']}/cash",
                                  token=ops)
            assert cash["cash_in_hand_xaf"] == 0
        else:
            assert order["status"] == "CANCELLED"
            assert order["cancelled_by"] == "system"
            assert payment["status"] in ("failed", "cancelled")
            assert payment["captured_xaf"] == 0
            assert row["stock_after"] == row["stock_before"]
            assert row["stock_reserved"] != row["stock_before"]
            assert "payment_failed" in row["kinds"]
    customers = {row["customer"] for row in rows.values()}
    sms = await ctx.call("GET", "/_sim/sms/messages", params={"limit": 500})
    assert customers <= {m["to"] for m in sms}  # every customer got at least its OTP
    return figures
