"""Crash a service or cut its database in the middle of a journey: the journey completes.

The distributed topology runs as individual processes (``tests/support/topology.py``) on
PostgreSQL, RabbitMQ and Redis. At a chosen point of a demo journey (``okada.cli.demo``
checkpoints) a process is killed with SIGKILL (no shutdown hook runs, in-flight work is
lost) or its PostgreSQL connections are dropped; the journey then has to finish on its own.

Business rules proven here:

- orders, payments and delivery each survive a crash mid-journey: what was committed
  stays, events published while a consumer was dead wait in its queue, a provider
  callback lost while payments was dead is made good by the reconciliation poller;
- while a service is down or cut from its database, requests through the gateway answer
  503 problem+json (never a 500, never a hang);
- afterwards every order of the run is terminal and stock, payments and ledger reconcile
  (``assert_run_reconciled``), checked at the end of every test.

Every actor signs in once, before any fault (module-scoped tokens): OTP sends are rate
limited per number, and identity is never the process under fault here, so no fault can
make a sign-in read a wrong code or cascade into 429s. Each test prints its figures (down
time, process restart time, journey time, counts) under ``-s``.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest

from okada.cli.demo import (
    AKWA_STAFF,
    AKWA_STORE,
    BASTOS_STAFF,
    BASTOS_STORE,
    BONAMOUSSADI_STAFF,
    BONAMOUSSADI_STORE,
    DOUALA_RIDER,
    YAOUNDE_RIDER,
    DemoContext,
    StepFailed,
    journey_cash,
    journey_momo,
    journey_orange_declined,
    open_stores_after_hours,
)
from tests.support.journey_checks import StockLevels, assert_run_reconciled, stock_levels
from tests.support.services import require_postgres, require_rabbitmq, require_redis
from tests.support.topology import Topology

pytestmark = pytest.mark.distributed

PORT_OFFSET = 1400
STORES = [BONAMOUSSADI_STORE, AKWA_STORE, BASTOS_STORE]
STAFF = {BONAMOUSSADI_STAFF: "Magasin Bonamoussadi", AKWA_STAFF: "Magasin Akwa",
         BASTOS_STAFF: "Magasin Bastos"}
RIDERS = {DOUALA_RIDER: "Livreur Douala", YAOUNDE_RIDER: "Livreur Yaoundé"}
CUSTOMERS = {"mtn": 5, "orange": 1}
"""Customers signed in up front: one per journey of the module, by operator."""
DEADLINE_SECONDS = 90.0
"""How long one asynchronous effect may take after a fault: payments' first status query
to MTN comes 15 s after the request, and an attempt whose holder crashed is taken up again
only when its lease (60 s) ends; a restarted process needs a few seconds more."""
TEST_TIMEOUT = 180
"""Seconds one test may take (the module's start, about a minute, is bounded apart)."""
SETUP_SECONDS = 300
"""Bound on the sign-ins, the stock snapshot and the baseline journey after the start."""
DB_CUT_SECONDS = 4.0
"""How long a service stays cut from PostgreSQL (the fault's length, not a business wait):
long enough for the event on its way to be tried and fail at least once."""


@dataclass
class FaultContext(DemoContext):
    """A demo context whose customers were signed in before any fault."""

    signed_in: dict[str, list[str]] = field(default_factory=dict)
    """Operator → customer phones with a token already in ``tokens``."""

    def customer_phone(self, operator: str) -> str:
        """The next customer signed in up front (never a new OTP during a fault)."""
        phones = self.signed_in.get(operator)
        if not phones:
            raise StepFailed(f"no {operator} customer signed in up front: add one to CUSTOMERS")
        return phones.pop(0)


@dataclass
class Run:
    """What the module's tests share: the platform, the sign-ins, the starting stock."""

    topology: Topology
    tokens: dict[str, str]
    user_ids: dict[str, str]
    signed_in: dict[str, list[str]]
    stock_before: StockLevels
    orders: list[dict[str, Any]] = field(default_factory=list)
    riders: dict[str, str] = field(default_factory=dict)
    baseline_s: float = 0.0


def context(run: Run, client: httpx.AsyncClient) -> FaultContext:
    """A context on the run's shared sign-ins and order list; narration is timestamped."""
    started = time.monotonic()

    def out(line: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {line}")

    return FaultContext(client=client, lang="en", out=out,
                        deadline_seconds=DEADLINE_SECONDS, tokens=run.tokens,
                        user_ids=run.user_ids, orders=run.orders, riders=run.riders,
                        signed_in=run.signed_in)


async def prepare(run: Run) -> None:
    """Sign every actor in (concurrently, one OTP each), take the stock, run one journey.

    The fault-free cash journey is the baseline time and warms orders up (right after the
    seed it waits for the catalog's events), so no fault test pays that wait.
    """
    async with httpx.AsyncClient(base_url=run.topology.gateway, timeout=15.0) as client:
        ctx = context(run, client)
        phones: dict[str, list[str]] = {op: [] for op in CUSTOMERS}
        for operator, count in CUSTOMERS.items():
            while len(phones[operator]) < count:
                phone = DemoContext.customer_phone(ctx, operator)
                if phone not in phones[operator]:
                    phones[operator].append(phone)
        people = {**STAFF, **RIDERS, **{p: "Client" for ps in phones.values() for p in ps}}
        await ctx.sign_in_operations()
        await open_stores_after_hours(ctx)
        # One sign-in per phone, each reading the code sent after its own request (the
        # demo's sign_in_otp ignores every SMS that was there before the request).
        await asyncio.gather(*(ctx.sign_in_otp(phone, who) for phone, who in people.items()))
        assert set(people) <= set(run.tokens)
        run.signed_in.update(phones)
        run.stock_before.update(await stock_levels(ctx, STORES))
        assert run.stock_before, "the seed left no stock"
        assert all(v["reserved"] == 0 for v in run.stock_before.values())
        started = time.monotonic()
        await journey_cash(ctx)
        run.baseline_s = time.monotonic() - started
        print(f"FIGURES baseline cash journey without fault: {run.baseline_s:.1f}s "
              f"(includes orders' catalog warm-up)")


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    """Every process of the platform started one by one, with the demo data; orders
    reaches PostgreSQL through a proxy the database-cut test can switch off."""
    require_postgres()
    require_rabbitmq()
    require_redis()
    topo = Topology(PORT_OFFSET, proxied=("orders",))
    try:
        started = time.monotonic()
        topo.start(seed=True)
        print(f"\nFIGURES topology started and seeded in {time.monotonic() - started:.1f}s")
        yield topo
    finally:
        topo.stop()


@pytest.fixture(scope="module")
def run(topology: Topology) -> Run:
    """Sign-ins and starting stock, made once before any fault."""
    state = Run(topology=topology, tokens={}, user_ids={}, signed_in={}, stock_before={})
    asyncio.run(asyncio.wait_for(prepare(state), SETUP_SECONDS))
    return state


@pytest.fixture
async def ctx(run: Run) -> AsyncIterator[FaultContext]:
    async with httpx.AsyncClient(base_url=run.topology.gateway, timeout=15.0) as client:
        yield context(run, client)


# -- faults ---------------------------------------------------------------------------------


def probe_request(ctx: DemoContext, service: str) -> tuple[str, str]:
    """A read the gateway routes to ``service`` (path, and who asks) for the current order."""
    row = ctx.orders[-1]
    if service == "orders":
        return f"/v1/orders/{row['order_id']}", row["customer"]
    if service == "payments":
        return f"/v1/payments/orders/{row['order_id']}", row["customer"]
    if service == "delivery":
        return "/v1/rider/offers", DOUALA_RIDER if row["journey"] == "A" else YAOUNDE_RIDER
    raise AssertionError(service)


async def probe(ctx: DemoContext, service: str) -> httpx.Response:
    """Send the probe read of ``service`` through the gateway."""
    path, who = probe_request(ctx, service)
    return await ctx.client.get(path, headers={"authorization": f"Bearer {ctx.tokens[who]}"})


def assert_clean_failure(response: httpx.Response) -> None:
    """A request during a fault answers 503 problem+json: no 500, no stack, no hang."""
    assert response.status_code == 503, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/problem+json"), (
        response.headers)


@dataclass
class Fault:
    """Times and counts of one fault, printed as the test's figures."""

    service: str
    figures: dict[str, float] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    killed_at: float = 0.0

    def report(self) -> str:
        values = ", ".join(f"{k}={v:.1f}" for k, v in self.figures.items())
        return f"{values}, statuses during the fault={dict(self.statuses)}"


async def kill(ctx: DemoContext, topology: Topology, fault: Fault) -> None:
    """SIGKILL the service; a read routed to it now fails cleanly."""
    topology.kill(fault.service)
    fault.killed_at = time.monotonic()
    answer = await probe(ctx, fault.service)
    fault.statuses[answer.status_code] += 1
    assert_clean_failure(answer)


async def restart(ctx: DemoContext, topology: Topology, fault: Fault) -> None:
    """Start the service again and wait until the gateway routes to it again (its breaker,
    opened by the failed calls, lets requests through)."""
    fault.figures["restart_s"] = await asyncio.to_thread(topology.restart, fault.service)

    async def routed() -> bool | None:
        answer = await probe(ctx, fault.service)
        if answer.status_code == 200:
            return True
        fault.statuses[answer.status_code] += 1
        assert_clean_failure(answer)
        return None

    await ctx.wait_for(f"the gateway to route to {fault.service} again", routed,
                       interval=0.5)
    fault.figures["down_s"] = time.monotonic() - fault.killed_at
    print(f"{fault.service} killed and routed again after {fault.figures['down_s']:.1f}s "
          f"(process ready after {fault.figures['restart_s']:.1f}s)")


async def run_journey(run: Run, ctx: FaultContext, fault: Fault,
                      journey: Callable[[DemoContext], Awaitable[dict[str, Any]]]
                      ) -> dict[str, Any]:
    """Play the journey with the hooks set on ``ctx``; report and reconcile the run."""
    started = time.monotonic()
    try:
        row = await journey(ctx)
    except StepFailed as exc:
        for name in (fault.service, "gateway"):
            print(f"--- {name} log ---\n{run.topology.tail(name)}")
        raise AssertionError(f"journey failed after the fault on {fault.service}: {exc}"
                             ) from exc
    fault.figures["journey_s"] = time.monotonic() - started
    assert "down_s" in fault.figures, "the fault never happened"
    totals = await assert_run_reconciled(ctx, run.stock_before)
    print(f"FIGURES {fault.service}: {fault.report()}, baseline_s={run.baseline_s:.1f}, "
          f"order {row['status']}, run {totals}")
    return row


# -- tests ----------------------------------------------------------------------------------


@pytest.mark.timeout(TEST_TIMEOUT, func_only=True)
async def test_orders_killed_before_the_payment_confirms(run: Run, ctx: FaultContext) -> None:
    """Orders dies once the order is placed and the MoMo prompt is out; the customer
    approves while it is dead, so payments captures and publishes PaymentCaptured to a dead
    consumer; the restarted orders takes it from its queue and the order is confirmed, then
    delivered."""
    fault = Fault("orders")

    async def placed() -> None:
        await wait_for_request_to_pay(ctx)
        await kill(ctx, run.topology, fault)

    async def approved() -> None:
        row = ctx.orders[-1]

        async def captured() -> bool | None:
            payment = await ctx.call("GET", f"/v1/payments/orders/{row['order_id']}",
                                     token=row["customer"])
            return True if payment["status"] == "captured" else None

        await ctx.wait_for("the capture while orders is dead", captured)
        fault.figures["captured_while_dead_s"] = time.monotonic() - fault.killed_at
        await restart(ctx, run.topology, fault)

    ctx.hooks["A:placed"] = placed
    ctx.hooks["A:approved"] = approved
    row = await run_journey(run, ctx, fault, journey_momo)
    assert row["status"] == "DELIVERED"
    assert row["payment"] == "captured"


async def wait_for_request_to_pay(ctx: DemoContext) -> None:
    """Until MTN has the current order's RequestToPay (payments took OrderPlaced)."""
    row = ctx.orders[-1]

    async def requested() -> bool | None:
        found = await ctx.call("GET", "/_sim/mtn-momo/_control/requests",
                               params={"payer": row["customer"].lstrip("+")})
        return True if any(r.get("externalId") == row["order_id"] for r in found) else None

    await ctx.wait_for("the RequestToPay at MTN", requested)


@pytest.mark.timeout(TEST_TIMEOUT, func_only=True)
async def test_payments_killed_between_the_request_and_the_callback(
    run: Run, ctx: FaultContext
) -> None:
    """Payments dies once the RequestToPay reached MTN; the customer approves while it is
    dead, so MTN's only callback is lost; the restarted payments' reconciliation poller asks
    MTN, captures once, and the order is confirmed, then delivered, with one provider
    request for the order. If payments died while holding the attempt's lease (between
    sending the request and recording it), the poller takes it up when the lease (60 s)
    ends: the journey then takes about a minute longer."""
    fault = Fault("payments")

    async def placed() -> None:
        await wait_for_request_to_pay(ctx)
        await kill(ctx, run.topology, fault)

    async def approved() -> None:
        # The approval just made MTN send its one callback, to a dead payments.
        await restart(ctx, run.topology, fault)

    ctx.hooks["A:placed"] = placed
    ctx.hooks["A:approved"] = approved
    row = await run_journey(run, ctx, fault, journey_momo)
    assert row["status"] == "DELIVERED"
    assert row["payment"] == "captured"
    prompts = await ctx.call("GET", "/_sim/mtn-momo/_control/requests",
                             params={"payer": row["customer"].lstrip("+")})
    mine = [p for p in prompts if p.get("externalId") == row["order_id"]]
    assert [p["status"] for p in mine] == ["SUCCESSFUL"], mine  # one request, never twice


@pytest.mark.timeout(TEST_TIMEOUT, func_only=True)
async def test_delivery_killed_after_the_rider_took_the_order(
    run: Run, ctx: FaultContext
) -> None:
    """Delivery dies once the rider accepted the offer, before pickup; the restarted
    delivery still knows the assignment and the rider delivers (cash collected, ledger
    updated, remitted)."""
    fault = Fault("delivery")

    async def assigned() -> None:
        await kill(ctx, run.topology, fault)
        await restart(ctx, run.topology, fault)

    ctx.hooks["B:assigned"] = assigned
    row = await run_journey(run, ctx, fault, journey_cash)
    assert row["status"] == "DELIVERED"
    assert row["payment"] == "cash_collected"


@pytest.mark.timeout(TEST_TIMEOUT, func_only=True)
async def test_orders_cut_from_postgresql_while_the_payment_fails(
    run: Run, ctx: FaultContext
) -> None:
    """Every PostgreSQL connection of orders drops (new ones are refused) right after the
    customer declined the Orange Money prompt: reads answer 503 problem+json during the
    cut, PaymentFailed waits or is retried, and afterwards the order is cancelled once and
    its stock is back on the shelf."""
    fault = Fault("orders")

    async def declined() -> None:
        proxy = run.topology.proxies["orders"]
        proxy.down()
        fault.killed_at = time.monotonic()
        try:
            while time.monotonic() - fault.killed_at < DB_CUT_SECONDS:
                answer = await probe(ctx, "orders")
                fault.statuses[answer.status_code] += 1
                assert_clean_failure(answer)
                await asyncio.sleep(0.5)  # probing pace during the cut
        finally:
            proxy.up()
        fault.figures["down_s"] = time.monotonic() - fault.killed_at

    ctx.hooks["C:declined"] = declined
    row = await run_journey(run, ctx, fault, journey_orange_declined)
    assert row["status"] == "CANCELLED"
    assert row["stock_after"] == row["stock_before"]
    assert sum(fault.statuses.values()) >= 3, fault.statuses  # the cut was observed


async def terminate_backends(prefix: str) -> int:
    """``pg_terminate_backend`` every session on the run's databases; how many ended."""
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres", timeout=10)
    try:
        return int(await conn.fetchval(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname LIKE $1 AND pid <> pg_backend_pid()", prefix + "%"))
    finally:
        await conn.close()


@pytest.mark.timeout(TEST_TIMEOUT, func_only=True)
async def test_every_database_session_terminated_mid_journey(
    run: Run, ctx: FaultContext
) -> None:
    """Every PostgreSQL session of every service is terminated after the order is placed
    and again when it is ready: the next requests either succeed (the pools reconnect) or
    answer 503 problem+json, never 500, and the journey completes."""
    fault = Fault("all databases")
    prefix = run.topology.env["OKADA_DATABASE_PREFIX"]

    async def cut() -> None:
        fault.killed_at = fault.killed_at or time.monotonic()
        ended = await terminate_backends(prefix)
        fault.figures["sessions_ended"] = fault.figures.get("sessions_ended", 0) + ended
        assert ended > 0, "no session to terminate"
        for service in ("orders", "payments"):
            answer = await probe(ctx, service)
            fault.statuses[answer.status_code] += 1
            if answer.status_code >= 500:  # a 404 (payment not made yet) is an answer too
                assert_clean_failure(answer)
        fault.figures["down_s"] = time.monotonic() - fault.killed_at

    ctx.hooks["A:placed"] = cut
    ctx.hooks["A:ready"] = cut
    row = await run_journey(run, ctx, fault, journey_momo)
    assert row["status"] == "DELIVERED"
    assert fault.statuses.total() >= 4
