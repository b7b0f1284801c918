"""Crash a service in the middle of a journey, start it again: the journey completes.

The distributed topology runs as individual processes (``tests/support/topology.py``) on
PostgreSQL, RabbitMQ and Redis. At a chosen point of a demo journey (``okada.cli.demo``) one
process is killed with SIGKILL (no shutdown hook, an in-flight event unacknowledged) and
started again; the journey then has to finish on its own. Each test prints its figures
(restart time, journey time) and checks that the order ended terminal, that payments, the
provider and the stock reservation agree with it, and that no order of the run is left in a
non-terminal state.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from okada.cli.demo import (
    TERMINAL,
    DemoContext,
    StepFailed,
    journey_cash,
    journey_momo,
)
from tests.support.services import require_postgres, require_rabbitmq, require_redis
from tests.support.topology import Topology

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(420)]

PORT_OFFSET = 1400


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    """Every process of the platform started one by one, with the demo data."""
    require_postgres()
    require_rabbitmq()
    require_redis()
    topo = Topology(PORT_OFFSET, proxied=("orders",))
    try:
        topo.start(seed=True)
        yield topo
    finally:
        topo.stop()


@pytest.fixture(scope="module")
def shared() -> dict[str, Any]:
    """Sign-ins survive from test to test (OTP sends to one number are rate limited)."""
    return {"tokens": {}, "user_ids": {}}


@pytest.fixture
async def ctx(topology: Topology, shared: dict[str, Any]) -> AsyncIterator[DemoContext]:
    async with httpx.AsyncClient(base_url=topology.gateway, timeout=15.0) as client:
        context = DemoContext(client=client, lang="en", out=print, deadline_seconds=45,
                              tokens=shared["tokens"], user_ids=shared["user_ids"])
        yield context


def crash_and_restart(topology: Topology, ctx: DemoContext, name: str,
                      figures: dict[str, float]) -> Callable[[], Awaitable[None]]:
    """A hook that SIGKILLs ``name``, starts it again and waits until the gateway sees it."""

    async def hook() -> None:
        killed_at = time.monotonic()
        topology.kill(name)
        figures["restart_s"] = await asyncio.to_thread(topology.restart, name)

        async def routed() -> bool | None:
            ready = await ctx.client.get("/readyz")
            return True if ready.status_code == 200 else None

        await ctx.wait_for("the gateway to see the restarted service", routed)
        figures["down_s"] = time.monotonic() - killed_at
        print(f"{name} killed and back in {figures['down_s']:.1f}s "
              f"(process ready after {figures['restart_s']:.1f}s)")

    return hook


def cut_database(topology: Topology, ctx: DemoContext, service: str,
                 figures: dict[str, float]) -> Callable[[], Awaitable[None]]:
    """A hook that drops every PostgreSQL connection of ``service`` and refuses new ones
    for a while: requests must fail cleanly (problem+json, no hang) and events wait."""

    async def hook() -> None:
        proxy = topology.proxies[service]
        cut_at = time.monotonic()
        proxy.down()
        row = ctx.orders[-1]
        try:
            answer = await ctx.client.get(
                f"/v1/orders/{row['order_id']}",
                headers={"authorization": f"Bearer {ctx.tokens[row['customer']]}"})
            figures["status_while_cut"] = answer.status_code
            assert answer.status_code >= 500, answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")
            # Long enough for the captured payment event to be tried and retried.
            await asyncio.sleep(3)  # the fault's duration, not a business wait
        finally:
            proxy.up()
        figures["down_s"] = time.monotonic() - cut_at
        print(f"{service} cut from PostgreSQL for {figures['down_s']:.1f}s "
              f"(a read answered {figures['status_while_cut']:.0f})")

    return hook


async def assert_reconciled(ctx: DemoContext, row: dict[str, Any]) -> dict[str, Any]:
    """The order is terminal and payments, the provider and inventory agree with it."""
    ops = await ctx.sign_in_operations()
    order = await ctx.call("GET", f"/v1/orders/{row['order_id']}", token=row["customer"])
    payment = await ctx.call("GET", f"/v1/payments/orders/{row['order_id']}", token=ops)

    async def confirmed() -> dict[str, Any] | None:
        # Orders confirms the reservation after pickup, asynchronously (its saga worker).
        found = await ctx.call("GET", f"/v1/inventory/reservations/{row['order_id']}",
                               token=ops)
        return dict(found) if found["status"] != "held" else None

    reservation = await ctx.wait_for("the reservation to be settled", confirmed)
    assert order["status"] == "DELIVERED", order["status"]
    assert reservation["status"] == "confirmed", reservation
    assert {(str(x["product_id"]), x["quantity"]) for x in reservation["lines"]} == {
        (str(x["product_id"]), x["quantity"]) for x in order["lines"]}
    assert payment["captured_xaf"] == order["payable_xaf"], payment
    assert payment["refunded_xaf"] == 0
    if order["payment"]["method"] == "mtn_momo":
        assert payment["status"] == "captured"
        prompts = await ctx.call("GET", "/_sim/mtn-momo/_control/requests",
                                 params={"payer": row["customer"].lstrip("+")})
        mine = [p for p in prompts if p.get("externalId") == row["order_id"]]
        assert len(mine) == 1, mine  # exactly one provider request per order
        assert mine[0]["status"] == "SUCCESSFUL"
    else:
        assert payment["status"] == "cash_collected"
    return {"order": order["status"], "payment": payment["status"],
            "reservation": reservation["status"]}


async def run_with_crash(topology: Topology, ctx: DemoContext, service: str, point: str,
                         journey: Callable[[DemoContext], Awaitable[dict[str, Any]]],
                         fault: Callable[..., Callable[[], Awaitable[None]]] | None = None
                         ) -> None:
    figures: dict[str, float] = {}
    ctx.hooks[point] = (fault or crash_and_restart)(topology, ctx, service, figures)
    started = time.monotonic()
    try:
        row = await journey(ctx)
    except StepFailed as exc:
        for name in (service, "gateway"):
            print(f"--- {name} log ---\n{topology.tail(name)}")
        raise AssertionError(f"journey failed after the fault on {service}: {exc}") from exc
    figures["journey_s"] = time.monotonic() - started
    states = await assert_reconciled(ctx, row)
    print(f"FIGURES {service} fault at {point}: " + ", ".join(
        f"{k}={v:.1f}" for k, v in figures.items()) + f", final={states}")
    assert "down_s" in figures  # the fault did happen
    # Every order of the run so far is terminal (none stuck by the crash).
    ops = await ctx.sign_in_operations()
    page = await ctx.call("GET", "/v1/admin/orders", token=ops, params={"limit": 100})
    statuses = {o["id"]: o["status"] for o in page["data"]}
    assert row["order_id"] in statuses
    assert all(s in TERMINAL for s in statuses.values()), statuses


async def test_orders_killed_while_the_payment_is_captured(
    topology: Topology, ctx: DemoContext
) -> None:
    # PaymentCaptured is on its way to orders when orders dies.
    await run_with_crash(topology, ctx, "orders", "A:approved", journey_momo)


async def test_payments_killed_while_the_order_is_placed(
    topology: Topology, ctx: DemoContext
) -> None:
    # OrderPlaced is on its way to payments (the MoMo request) when payments dies.
    await run_with_crash(topology, ctx, "payments", "A:placed", journey_momo)


async def test_delivery_killed_while_the_order_is_ready(
    topology: Topology, ctx: DemoContext
) -> None:
    # OrderReady is on its way to delivery (dispatch) when delivery dies; cash journey.
    await run_with_crash(topology, ctx, "delivery", "B:ready", journey_cash)


async def test_orders_cut_from_postgresql_while_the_payment_is_captured(
    topology: Topology, ctx: DemoContext
) -> None:
    # Every connection of orders to PostgreSQL drops (and new ones are refused for 3 s)
    # while PaymentCaptured is on its way: reads fail cleanly, the event is retried.
    await run_with_crash(topology, ctx, "orders", "A:approved", journey_momo,
                         fault=cut_database)
