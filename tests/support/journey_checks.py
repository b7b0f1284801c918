"""Assertions on the final states the demo journeys leave behind (embedded and distributed).

They read every service again through the public API (as operations or as the customer),
so a journey that "returned" but left an order, a payment, the stock or a cash ledger in the
wrong state fails the test.
"""

from __future__ import annotations

from collections import Counter
from functools import partial
from typing import Any

from okada.cli.demo import TERMINAL, DemoContext, StepFailed


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


# -- run-wide reconciliation (fault tests) ----------------------------------------------------

StockLevels = dict[tuple[str, str], dict[str, int]]
"""(store id, product id) → ``{"on_hand": …, "reserved": …}``."""

INCOME_PREFIXES = ("merchant_payable:", "rider_earnings:")
INCOME_ACCOUNTS = frozenset({"platform_commission", "platform_delivery_revenue",
                             "rider_earnings_pool"})
"""Ledger accounts credited with the split of collected money (see
``okada.services.payments.domain.ledger``): their balances, negated, are what was collected
minus what was refunded, as long as no payout batch ran."""


async def stock_levels(ctx: DemoContext, store_ids: list[str]) -> StockLevels:
    """Every stock item of ``store_ids`` as operations see it (all pages)."""
    ops = await ctx.sign_in_operations()
    levels: StockLevels = {}
    for store_id in store_ids:
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            page = await ctx.call("GET", f"/v1/inventory/stores/{store_id}/stock", token=ops,
                                  params=params)
            for item in page["data"]:
                levels[(store_id, str(item["product_id"]))] = {
                    "on_hand": int(item["on_hand"]), "reserved": int(item["reserved"])}
            cursor = page.get("next_cursor")
            if not cursor:
                break
    return levels


async def all_orders(ctx: DemoContext) -> list[dict[str, Any]]:
    """Every order of the platform (operations' list, all pages, newest first)."""
    ops = await ctx.sign_in_operations()
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = await ctx.call("GET", "/v1/admin/orders", token=ops, params=params)
        found.extend(page["data"])
        cursor = page.get("next_cursor")
        if not cursor:
            return found


async def assert_run_reconciled(ctx: DemoContext, stock_before: StockLevels,
                                *, seconds: float = 60.0) -> dict[str, Any]:
    """Every order of the platform is terminal, and stock, payments and ledger agree with it.

    Business rules checked (for a platform that only ran these journeys since
    ``stock_before`` was taken, with no payout batch):

    - every order ends DELIVERED, CANCELLED or EXPIRED (a DELIVERY_FAILED order would need
      its returned goods counted: none of these journeys leads there, so it fails here);
    - its event stream has no gap or repeat (versions 1..n, n the order's version): a crash
      never leaves half an order written;
    - a delivered order's reservation is confirmed with the order's lines, its goods left the
      shelf, and what payments kept (captured - refunded) is its payable; a cancelled or
      expired order's reservation is released or expired and payments kept nothing;
    - per product, on hand = before - units of delivered orders, reserved = before (every
      hold either consumed or given back);
    - the ledger balances (sum of every account is 0) and its income accounts hold exactly
      captured - refunded over every order, which is the value of the paid, not-cancelled
      orders.

    Settling is asynchronous (reservation confirmed by orders' saga, cash booked on the
    delivery event, refunds): each check polls for up to ``seconds`` before failing with the
    last state seen. Returns the run's figures.
    """
    ops = await ctx.sign_in_operations()
    last: dict[str, Any] = {}

    async def settled(order_id: str) -> dict[str, Any] | None:
        order = await ctx.call("GET", "/v1/admin/orders", token=ops,
                               params={"id": order_id, "limit": 1})
        state = order["data"][0]
        payment = await ctx.call("GET", f"/v1/payments/orders/{order_id}", token=ops)
        reservation = await ctx.call("GET", f"/v1/inventory/reservations/{order_id}",
                                     token=ops)
        events = await ctx.call("GET", f"/v1/admin/orders/{order_id}/events", token=ops)
        last[order_id] = {"status": state["status"], "payment": payment["status"],
                          "captured": payment["captured_xaf"],
                          "refunded": payment["refunded_xaf"],
                          "reservation": reservation["status"]}
        kept = payment["captured_xaf"] - payment["refunded_xaf"]
        if state["status"] == "DELIVERED":
            done = reservation["status"] == "confirmed" and kept == state["payable_xaf"]
        elif state["status"] in ("CANCELLED", "EXPIRED"):
            done = reservation["status"] in ("released", "expired") and kept == 0
        else:
            done = False
        if not done:
            return None
        return {"order": state, "payment": payment, "reservation": reservation,
                "events": events["data"]}

    orders = await all_orders(ctx)
    recorded = {row["order_id"] for row in ctx.orders}
    assert recorded <= {o["id"] for o in orders}, (recorded, [o["id"] for o in orders])
    results: list[dict[str, Any]] = []
    for listed in orders:
        order_id = listed["id"]
        try:
            results.append(await ctx.wait_for(f"order {order_id} settled",
                                              partial(settled, order_id),
                                              seconds=seconds, interval=0.5))
        except StepFailed as exc:
            raise AssertionError(f"order {order_id} did not settle: {last.get(order_id)} "
                                 f"({exc})") from None

    consumed: dict[tuple[str, str], int] = {}
    kept_total = 0
    paid_value = 0
    for result in results:
        order, reservation = result["order"], result["reservation"]
        versions = [e["version"] for e in result["events"]]
        assert versions == list(range(1, order["version"] + 1)), (order["id"], versions)
        kept_total += result["payment"]["captured_xaf"] - result["payment"]["refunded_xaf"]
        if order["status"] != "DELIVERED":
            continue
        paid_value += order["payable_xaf"]
        wanted = {(str(x["product_id"]), x["quantity"]) for x in order["lines"]
                  if not x.get("unavailable")}
        held = {(str(x["product_id"]), x["quantity"]) for x in reservation["lines"]}
        assert held == wanted, (order["id"], held, wanted)
        for product_id, quantity in held:
            key = (str(order["store_id"]), product_id)
            consumed[key] = consumed.get(key, 0) + quantity
    assert kept_total == paid_value, (kept_total, paid_value)

    stores = sorted({store for store, _ in stock_before})
    assert {str(o["store_id"]) for o in orders} <= set(stores), stores
    now = await stock_levels(ctx, stores)
    drift = {key: (before, now.get(key)) for key, before in stock_before.items()
             if now.get(key) != {"on_hand": before["on_hand"] - consumed.get(key, 0),
                                 "reserved": before["reserved"]}}
    assert not drift, drift
    assert set(consumed) <= set(stock_before), set(consumed) - set(stock_before)

    balances = (await ctx.call("GET", "/v1/admin/payments/ledger/balances",
                               token=ops))["balances"]
    assert sum(balances.values()) == 0, balances
    income = -sum(v for k, v in balances.items()
                  if k in INCOME_ACCOUNTS or k.startswith(INCOME_PREFIXES))
    assert income == kept_total, (income, kept_total, balances)
    statuses = Counter(r["order"]["status"] for r in results)
    return {"orders": dict(statuses), "kept_xaf": kept_total, "units_consumed":
            sum(consumed.values()), "ledger_income_xaf": income}
