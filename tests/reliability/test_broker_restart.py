"""RabbitMQ restarted for real (``rabbitmqctl stop_app`` / ``start_app``) under checkouts and at
each step of the MTN MoMo saga, on the distributed topology (one process per service).

Business rules proved here (issues #11 and #6):

* Queues are quorum and durable, messages persistent, relays mark an outbox row published only
  on a publisher confirm, and the services' connections reconnect on their own: a broker
  restart loses no event. Every order still gets each of its downstream effects: the payment
  request and its capture (MoMo), the confirmation, the store's acceptance seen by payments,
  the delivery job, the customer's inbox items, the stock hold.
* Consumers claim ``(consumer, message_id)`` before applying, so the redeliveries a restart
  causes apply nothing twice: one payment attempt and one capture journal entry per MoMo
  order, one event of each type per order stream, one inbox item and one message per
  (order, kind, recipient[, channel]), one delivery job per order, and each product's
  ``reserved`` equal to the sum of the held reservations' lines.
* Whatever step the broker fails at, every order ends terminal or in its expected live state,
  and the money reconciles: captured - refunded == the value of the orders that were paid
  (MoMo orders confirmed by a capture) and not cancelled.

Kill and provider-timeout faults at the saga steps are covered elsewhere (see the report in
``test_broker_restart_at_each_momo_saga_step``'s docstring).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest

from okada.cli.demo import (
    BASTOS_DOOR,
    BASTOS_STAFF,
    BASTOS_STORE,
    BONAMOUSSADI_DOOR,
    BONAMOUSSADI_STAFF,
    BONAMOUSSADI_STORE,
    DemoContext,
    StepFailed,
    mask,
    open_stores_after_hours,
    wait_order,
)
from okada.infra.settings import default_port
from okada.runtime.registry import SERVICES
from tests.support.rabbitmq_restart import (
    BrokerRestart,
    ensure_rabbitmq_running,
    restart_rabbitmq,
)
from tests.support.services import require_postgres, require_rabbitmq, require_redis
from tests.support.topology import Topology

pytestmark = pytest.mark.distributed

PORT_OFFSET = 1600
JOURNEYS = 50
RESTART_AFTER_PLACED = 15
"""The broker goes down once this many of the 50 checkouts were answered 201."""
EFFECT_DEADLINE = 180.0
"""Seconds an effect may take to appear after the broker is back (a loaded 2-core box)."""
POSTGRES = "postgresql://postgres@127.0.0.1:5432"
STORES: dict[str, dict[str, Any]] = {
    BONAMOUSSADI_STORE: {"city": "Douala", "quartier": "Bonamoussadi",
                         "door": BONAMOUSSADI_DOOR, "staff": BONAMOUSSADI_STAFF},
    BASTOS_STORE: {"city": "Yaoundé", "quartier": "Bastos", "door": BASTOS_DOOR,
                   "staff": BASTOS_STAFF},
}
RETRYABLE = (None, 429, 502, 503, 504)
"""Statuses a client retries with the same Idempotency-Key (None: no answer at all)."""


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    """One distributed topology for the module; the broker is always left running."""
    require_postgres()
    require_rabbitmq()
    require_redis()
    topo = Topology(PORT_OFFSET)
    try:
        topo.start()
        yield topo
    finally:
        try:
            ensure_rabbitmq_running()  # backstop: a killed test must not leave it stopped
        finally:
            topo.stop()


class Fatal(Exception):
    """An answer no retry can change (polling stops at once)."""


@dataclass
class Journey:
    """One customer's checkout: the order id and Idempotency-Key are fixed, so retries after
    a lost answer can never create a second order."""

    phone: str
    method: str
    store_id: str
    products: list[str]
    order_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    key: str = field(default_factory=lambda: str(uuid.uuid4()))
    order: dict[str, Any] = field(default_factory=dict)
    placed_at: float = 0.0
    done_at: float = 0.0


# -- API steps ------------------------------------------------------------------------------


async def retry(ctx: DemoContext, what: str, action: Callable[[], Awaitable[Any]],
                seconds: float = EFFECT_DEADLINE) -> Any:
    """Run ``action`` until it answers; retry only what a client retries (see RETRYABLE)."""

    async def probe() -> Any:
        try:
            return await action()
        except StepFailed as exc:
            if exc.status in RETRYABLE:
                raise
            raise Fatal(f"{what}: {exc}") from None

    return await ctx.wait_for(what, probe, interval=0.5, seconds=seconds)


async def place(ctx: DemoContext, journey: Journey) -> dict[str, Any]:
    """Checkout with the journey's fixed order id and key; one unit of each product."""
    store = STORES[journey.store_id]
    lat, lng = store["door"]
    payment: dict[str, Any] = {"method": journey.method}
    if journey.method != "cash":
        payment["phone"] = journey.phone
    body = {"id": journey.order_id, "store_id": journey.store_id, "payment": payment,
            "lines": [{"product_id": p, "quantity": 1} for p in journey.products],
            "address": {"city": store["city"], "quartier": store["quartier"], "lat": lat,
                        "lng": lng, "landmark": "Portail bleu", "contact_phone": journey.phone}}

    async def attempt() -> dict[str, Any]:
        try:
            return dict(await ctx.call("POST", "/v1/orders", token=journey.phone,
                                       expect=(201, 200), json=body,
                                       headers={"idempotency-key": journey.key}))
        except StepFailed as exc:
            # Right after start orders may not know the seeded catalog yet, nor delivery
            # the hours open_stores_after_hours set: worth waiting.
            if exc.status == 409 and any(c in str(exc) for c in ("unknown_store",
                                                                 "products_unavailable",
                                                                 "store_closed")):
                raise StepFailed(str(exc), status=503) from None
            raise

    order: dict[str, Any] = await retry(ctx, f"checkout {journey.order_id}", attempt)
    assert order["id"] == journey.order_id, order
    journey.order = order
    journey.placed_at = time.monotonic()
    return order


async def momo_prompt(ctx: DemoContext, journey: Journey) -> dict[str, Any]:
    """Wait for the RequestToPay of this order at the MoMo simulator (payments asked)."""

    async def probe() -> dict[str, Any] | None:
        found = await ctx.call("GET", "/_sim/mtn-momo/_control/requests",
                               params={"payer": journey.phone.lstrip("+")})
        return next((r for r in found if r.get("externalId") == journey.order_id), None)

    prompt: dict[str, Any] = await ctx.wait_for(f"the MoMo prompt of {journey.order_id}", probe,
                                                interval=0.3, seconds=EFFECT_DEADLINE)
    return prompt


async def answer_prompt(ctx: DemoContext, journey: Journey, *, approve: bool) -> None:
    """The customer approves (or declines) the prompt on the phone."""
    prompt = await momo_prompt(ctx, journey)
    verb = "approve" if approve else "decline"
    body = {} if approve else {"reason": "NOT_ENOUGH_FUNDS"}
    await ctx.call("POST", f"/_sim/mtn-momo/_control/requests/{prompt['reference']}/{verb}",
                   json=body)


async def accept(ctx: DemoContext, journey: Journey) -> None:
    """The store's staff accept the order (a repeated accept is a no-op)."""
    staff = STORES[journey.store_id]["staff"]
    await retry(ctx, f"accept {journey.order_id}", lambda: ctx.call(
        "POST", f"/v1/merchant/orders/{journey.order_id}/accept", token=staff, json={}))


async def full_journey(ctx: DemoContext, journey: Journey, start_delay: float,
                       placed: list[Journey], enough_placed: asyncio.Event) -> None:
    """Checkout, pay (MoMo approved on the phone, or cash), confirmation, store acceptance."""
    await asyncio.sleep(start_delay)  # staggered arrivals, so the restart hits mid-stream
    await place(ctx, journey)
    placed.append(journey)
    if len(placed) >= RESTART_AFTER_PLACED:
        enough_placed.set()
    if journey.method == "mtn_momo":
        await answer_prompt(ctx, journey, approve=True)
    await wait_order(ctx, journey.phone, journey.order_id, {"CONFIRMED"})
    await accept(ctx, journey)
    await wait_order(ctx, journey.phone, journey.order_id, {"ACCEPTED"})
    journey.done_at = time.monotonic()


# -- setup ----------------------------------------------------------------------------------


def new_context(client: httpx.AsyncClient) -> DemoContext:
    """A DemoContext whose narration (codes, numbers) stays out of the logs."""
    return DemoContext(client=client, lang="en", out=lambda _line: None,
                       deadline_seconds=EFFECT_DEADLINE, poll_seconds=0.3)


def customer_phones(count: int) -> list[str]:
    """Distinct MTN numbers (OTP sends are capped per number), never a simulator magic one."""
    base = uuid.uuid4().int % 90_000
    return [f"+2376779{(base + n) % 100_000:05d}" for n in range(count)]


async def sign_in_all(ctx: DemoContext, topology: Topology, phones: list[str]) -> None:
    """OTP sign-in straight at identity, a few at a time.

    The gateway caps OTP requests per client address at 20 an hour (not configurable, and
    every customer here shares 127.0.0.1); identity's own per-address cap is lifted by the
    topology's environment, and its tokens are the ones the gateway verifies.
    """
    gate = asyncio.Semaphore(8)
    async with httpx.AsyncClient(base_url=topology.url("identity"), timeout=15.0) as identity, \
            httpx.AsyncClient(base_url=topology.url("simulators"), timeout=15.0) as sims:

        async def code_for(phone: str, seen: set[Any]) -> str | None:
            listed = await sims.get("/_sim/sms/messages", params={"to": phone})
            assert listed.status_code == 200, listed.text
            for message in listed.json():  # newest first
                if message.get("id") not in seen:
                    found = re.search(r"\b(\d{6})\b", message["text"])
                    if found:
                        return found.group(1)
            return None

        async def one(phone: str) -> None:
            async with gate:
                before = await sims.get("/_sim/sms/messages", params={"to": phone})
                seen = {m.get("id") for m in before.json()}
                asked = await identity.post("/v1/auth/otp/request", json={"phone": phone})
                assert asked.status_code == 202, f"{mask(phone)}: {asked.text}"
                deadline = time.monotonic() + EFFECT_DEADLINE
                while (code := await code_for(phone, seen)) is None:
                    assert time.monotonic() < deadline, f"no SMS code for {mask(phone)}"
                    await asyncio.sleep(0.3)  # polling interval
                verified = await identity.post("/v1/auth/otp/verify", json={
                    "phone": phone, "code": code, "device_id": f"d-{uuid.uuid4().hex[:8]}"})
                assert verified.status_code == 200, f"{mask(phone)}: {verified.text}"
                token = verified.json()["access_token"]
                me = await identity.get("/v1/users/me",
                                        headers={"authorization": f"Bearer {token}"})
                assert me.status_code == 200, me.text
                ctx.tokens[phone] = token
                ctx.user_ids[phone] = me.json()["id"]

        await asyncio.gather(*(one(p) for p in phones))


async def db(prefix: str, service: str) -> Any:
    return await asyncpg.connect(f"{POSTGRES}/{prefix}{service}", timeout=10)


async def wait_replicated(prefix: str, user_ids: list[str]) -> None:
    """Wait until orders, payments and notifications know every customer (UserRegistered
    crossed the broker), so the restart is the only fault the journeys meet."""
    wanted = {uuid.UUID(u) for u in user_ids}
    tables = {"orders": "local_users", "payments": "users", "notifications": "recipients"}
    deadline = time.monotonic() + EFFECT_DEADLINE
    for service, table in tables.items():
        conn = await db(prefix, service)
        try:
            while True:
                rows = await conn.fetch(f"SELECT user_id FROM {table} "
                                        "WHERE user_id = ANY($1::uuid[])", list(wanted))
                if {r["user_id"] for r in rows} == wanted:
                    break
                assert time.monotonic() < deadline, f"{service} misses customers"
                await asyncio.sleep(0.5)  # polling interval
        finally:
            await conn.close()


async def pick_products(ctx: DemoContext, prefix: str, customer: str, store_id: str,
                        count: int) -> list[str]:
    """Products the customer sees in stock that have plenty on the shelf (no test-made
    shortage: every checkout must succeed)."""
    page = await ctx.call("GET", f"/v1/catalog/stores/{store_id}/products", token=customer,
                          params={"limit": 60})
    shown = [p["id"] for p in page["data"] if p.get("in_stock") and not p.get("sold_by_weight")]
    conn = await db(prefix, "inventory")
    try:
        rows = await conn.fetch(
            "SELECT product_id FROM stock_items WHERE store_id = $1 AND listed AND NOT removed "
            "AND on_hand - reserved >= 40 AND product_id = ANY($2::uuid[]) ORDER BY product_id",
            uuid.UUID(store_id), [uuid.UUID(p) for p in shown])
    finally:
        await conn.close()
    chosen = [str(r["product_id"]) for r in rows][:count]
    assert len(chosen) == count, f"only {len(chosen)} well-stocked products at {store_id}"
    return chosen


async def wait_services_ready(topology: Topology) -> dict[str, float]:
    """When (``time.monotonic()``) each service's /readyz, which checks its broker
    connection, first answered 200 from now on."""
    started = time.monotonic()
    ready: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=3.0) as client:
        while len(ready) < len(SERVICES):
            for name in SERVICES:
                if name in ready:
                    continue
                url = f"http://127.0.0.1:{default_port(name) + topology.port_offset}/readyz"
                try:
                    if (await client.get(url)).status_code == 200:
                        ready[name] = time.monotonic()
                except httpx.HTTPError:
                    pass
            pending = set(SERVICES) - set(ready)
            assert time.monotonic() - started < EFFECT_DEADLINE, f"not reconnected: {pending}"
            if pending:
                await asyncio.sleep(0.3)  # polling interval
    return ready


# -- effects, read straight from the services' databases ----------------------------------


@dataclass
class Effects:
    """Every service's record of the given orders."""

    status: dict[str, str]
    payable: dict[str, int]
    method: dict[str, str]
    events: dict[str, Counter[str]]
    payments: dict[str, dict[str, Any]]
    attempts: Counter[str]
    captures: Counter[str]
    reservations: dict[str, str]
    reserved_lines: dict[str, Counter[str]]
    inbox: Counter[tuple[str, str, str]]
    messages: Counter[tuple[str, str, str, str]]
    deliveries: Counter[str]
    stock_mismatch: list[dict[str, Any]]
    unpublished: dict[str, int]


async def read_effects(prefix: str, order_ids: list[str]) -> Effects:
    ids = [uuid.UUID(o) for o in order_ids]
    conns = {s: await db(prefix, s) for s in ("orders", "payments", "inventory",
                                              "notifications", "delivery")}
    try:
        o, p, i = conns["orders"], conns["payments"], conns["inventory"]
        n, d = conns["notifications"], conns["delivery"]
        view = await o.fetch("SELECT order_id, status, payment_method, "
                             "(state->>'payable_xaf')::bigint AS payable FROM orders_view "
                             "WHERE order_id = ANY($1::uuid[])", ids)
        events: dict[str, Counter[str]] = {}
        for r in await o.fetch("SELECT stream_id, type FROM order_events "
                               "WHERE stream_id = ANY($1::uuid[])", ids):
            events.setdefault(str(r["stream_id"]), Counter())[r["type"]] += 1
        payments = {str(r["order_id"]): dict(r) for r in await p.fetch(
            "SELECT order_id, method, status, amount_xaf, captured_xaf, refunded_xaf, "
            "order_status FROM payments WHERE order_id = ANY($1::uuid[])", ids)}
        attempts = Counter(str(r["order_id"]) for r in await p.fetch(
            "SELECT order_id FROM payment_attempts WHERE order_id = ANY($1::uuid[])", ids))
        captures = Counter(str(r["order_id"]) for r in await p.fetch(
            "SELECT order_id FROM journal_entries WHERE kind = 'capture' "
            "AND order_id = ANY($1::uuid[])", ids))
        reservations = {str(r["order_id"]): r["status"] for r in await i.fetch(
            "SELECT order_id, status FROM reservations WHERE order_id = ANY($1::uuid[])", ids)}
        lines: dict[str, Counter[str]] = {}
        for r in await i.fetch("SELECT order_id, product_id, quantity FROM reservation_lines "
                               "WHERE order_id = ANY($1::uuid[])", ids):
            lines.setdefault(str(r["order_id"]), Counter())[str(r["product_id"])] += r["quantity"]
        # Every stock item: reserved must equal what the held reservations hold, whoever
        # placed them (a hold confirmed or released twice would break the equality).
        mismatch = [dict(r) for r in await i.fetch(
            "SELECT s.store_id, s.product_id, s.reserved, COALESCE(h.held, 0) AS held "
            "FROM stock_items s LEFT JOIN (SELECT r.store_id, l.product_id, "
            "SUM(l.quantity) AS held FROM reservations r JOIN reservation_lines l "
            "ON l.order_id = r.order_id WHERE r.status = 'held' "
            "GROUP BY r.store_id, l.product_id) h "
            "ON h.store_id = s.store_id AND h.product_id = s.product_id "
            "WHERE s.reserved <> COALESCE(h.held, 0)")]
        inbox = Counter((str(r["order_id"]), r["kind"], str(r["user_id"])) for r in await n.fetch(
            "SELECT order_id, kind, user_id FROM inbox_items WHERE order_id = ANY($1::uuid[])",
            ids))
        messages = Counter((str(r["order_id"]), r["kind"], r["recipient_key"], r["channel"])
                           for r in await n.fetch(
            "SELECT order_id, kind, recipient_key, channel FROM messages "
            "WHERE order_id = ANY($1::uuid[])", ids))
        deliveries = Counter(str(r["order_id"]) for r in await d.fetch(
            "SELECT order_id FROM deliveries WHERE order_id = ANY($1::uuid[])", ids))
        unpublished = {}
        for service in SERVICES:
            conn = conns.get(service) or await db(prefix, service)
            try:
                unpublished[service] = int(await conn.fetchval(
                    "SELECT count(*) FROM outbox WHERE published_at IS NULL"))
            finally:
                if service not in conns:
                    await conn.close()
    finally:
        for conn in conns.values():
            await conn.close()
    return Effects(
        status={str(r["order_id"]): r["status"] for r in view},
        payable={str(r["order_id"]): int(r["payable"]) for r in view},
        method={str(r["order_id"]): r["payment_method"] for r in view},
        events=events, payments=payments, attempts=attempts, captures=captures,
        reservations=reservations, reserved_lines=lines, inbox=inbox, messages=messages,
        deliveries=deliveries, stock_mismatch=mismatch, unpublished=unpublished,
    )


def lost_effects(e: Effects, journeys: list[Journey], customer_ids: dict[str, str]) -> list[str]:
    """What the 50 accepted orders should have everywhere and do not (empty: nothing lost)."""
    missing: list[str] = []
    for j in journeys:
        oid, who = j.order_id, customer_ids[j.phone]
        pay = e.payments.get(oid)
        expected_lines = Counter(dict.fromkeys(j.products, 1))
        checks = {
            "order ACCEPTED": e.status.get(oid) == "ACCEPTED",
            "OrderAccepted event": e.events.get(oid, Counter())["OrderAccepted"] == 1,
            "payment row": pay is not None,
            "payments saw ACCEPTED": pay is not None and pay["order_status"] == "ACCEPTED",
            "stock held": e.reservations.get(oid) == "held"
            and e.reserved_lines.get(oid) == expected_lines,
            "inbox order_confirmed": e.inbox[(oid, "order_confirmed", who)] >= 1,
            "inbox order_accepted": e.inbox[(oid, "order_accepted", who)] >= 1,
            "delivery job": e.deliveries[oid] >= 1,
        }
        if j.method == "mtn_momo":
            checks["momo captured"] = (pay is not None and pay["status"] == "captured"
                                       and pay["captured_xaf"] == e.payable.get(oid, -1) > 0)
            checks["capture in ledger"] = e.captures[oid] >= 1
        missing += [f"{oid[-8:]} {j.method}: {name}" for name, ok in checks.items() if not ok]
    missing += [f"{s}: {n} outbox rows unpublished" for s, n in e.unpublished.items() if n]
    return missing


def doubled_effects(e: Effects) -> list[str]:
    """Effects applied more than once (empty: every redelivery was a no-op)."""
    doubled: list[str] = []
    doubled += [f"{oid[-8:]}: {t} x{n}" for oid, c in e.events.items() for t, n in c.items()
                if n > 1]
    doubled += [f"{oid[-8:]}: {n} payment attempts" for oid, n in e.attempts.items() if n > 1]
    doubled += [f"{oid[-8:]}: {n} capture entries" for oid, n in e.captures.items() if n > 1]
    doubled += [f"inbox {k[0][-8:]} {k[1]} x{n}" for k, n in e.inbox.items() if n > 1]
    doubled += [f"message {k[0][-8:]} {k[1]} {k[3]} x{n}" for k, n in e.messages.items()
                if n > 1]
    doubled += [f"{oid[-8:]}: {n} delivery jobs" for oid, n in e.deliveries.items() if n > 1]
    doubled += [f"stock {r['product_id']}: reserved {r['reserved']} != held {r['held']}"
                for r in e.stock_mismatch]
    return doubled


def queued_messages(queue_prefix: str) -> dict[str, int]:
    """Messages (ready + unacknowledged) in each of this run's queues that holds any."""
    listed = subprocess.run(["rabbitmqctl", "-q", "list_queues", "name", "messages"],
                            capture_output=True, text=True, timeout=60, check=True)
    found = {}
    for line in listed.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith(queue_prefix) and parts[1].isdigit():
            found[parts[0]] = int(parts[1])
    return {name: count for name, count in found.items() if count}


def dead_lettered(queue_prefix: str) -> dict[str, int]:
    """Messages sitting in this run's dead-letter queues (a message that gave up)."""
    return {name: n for name, n in queued_messages(queue_prefix).items() if name.endswith(".dlq")}


async def wait_queues_drained(queue_prefix: str, seconds: float = 60.0) -> None:
    """Until no work or retry queue of the run holds a message, ready or unacknowledged.

    With every outbox published and every queue empty, no redelivery the restart caused can
    still arrive: duplicates counted after this are all there will ever be.
    """
    deadline = time.monotonic() + seconds
    while True:
        busy = {name: n for name, n in (await asyncio.to_thread(queued_messages, queue_prefix)
                                        ).items() if not name.endswith(".dlq")}
        if not busy:
            return
        assert time.monotonic() < deadline, f"queues not drained: {busy}"
        await asyncio.sleep(0.5)  # polling interval


async def wait_effects(prefix: str, journeys: list[Journey], customer_ids: dict[str, str]
                       ) -> tuple[Effects, float]:
    """Poll the databases until no effect is missing; return them and the seconds waited."""
    started = time.monotonic()
    while True:
        effects = await read_effects(prefix, [j.order_id for j in journeys])
        missing = lost_effects(effects, journeys, customer_ids)
        if not missing:
            return effects, time.monotonic() - started
        assert time.monotonic() - started < EFFECT_DEADLINE, f"lost effects: {missing[:20]}"
        await asyncio.sleep(1.0)  # polling interval


# -- test 1 ---------------------------------------------------------------------------------


@pytest.mark.timeout(900)
async def test_fifty_journeys_survive_a_broker_restart(topology: Topology) -> None:
    """50 concurrent checkouts (half cash, half MoMo approved on the phone) across two stores;
    RabbitMQ is stopped and started while they are in flight. Every order reaches ACCEPTED
    and has each downstream effect exactly once."""
    prefix = topology.env["OKADA_DATABASE_PREFIX"]
    async with httpx.AsyncClient(base_url=topology.gateway, timeout=15.0) as client:
        ctx = new_context(client)
        await open_stores_after_hours(ctx)
        phones = customer_phones(JOURNEYS)
        await sign_in_all(ctx, topology, [*phones, *(s["staff"] for s in STORES.values())])
        await wait_replicated(prefix, [ctx.user_ids[p] for p in phones])
        products = {sid: await pick_products(ctx, prefix, phones[0], sid, 8) for sid in STORES}
        store_ids = list(STORES)
        journeys = [
            Journey(phone=phone, method="mtn_momo" if n % 2 else "cash",
                    store_id=store_ids[n % len(store_ids)],
                    products=[products[store_ids[n % len(store_ids)]][(n + k) % 8]
                              for k in (0, 3)])
            for n, phone in enumerate(phones)
        ]
        placed: list[Journey] = []
        enough_placed = asyncio.Event()
        outage: dict[str, float] = {}

        async def restart_mid_stream() -> tuple[BrokerRestart, dict[str, float]]:
            await asyncio.wait_for(enough_placed.wait(), timeout=EFFECT_DEADLINE)
            outage["in_flight"] = sum(1 for j in journeys if not j.done_at)
            outage["stop"] = time.monotonic()
            restart = await restart_rabbitmq(down_seconds=3.0)
            outage["back"] = time.monotonic()
            # Watch readiness from the moment the broker is back, alongside the journeys.
            return restart, await wait_services_ready(topology)

        began = time.monotonic()
        restarter = asyncio.create_task(restart_mid_stream())
        results = await asyncio.gather(
            *(full_journey(ctx, j, n * 0.15, placed, enough_placed)
              for n, j in enumerate(journeys)), return_exceptions=True)
        restart, ready = await restarter
        failed = [f"{j.order_id[-8:]} {j.method}: {r!r}" for j, r in zip(journeys, results,
                                                                           strict=True)
                  if isinstance(r, BaseException)]
        assert not failed, failed
        last_ready = max(ready, key=ready.__getitem__)
        reconnect = ready[last_ready] - outage["back"]
        customer_ids = {p: ctx.user_ids[p] for p in phones}
        effects, settle = await wait_effects(prefix, journeys, customer_ids)
        last_done = max(j.done_at for j in journeys)
        await wait_queues_drained(topology.env["OKADA_AMQP_QUEUE_PREFIX"])
        effects = await read_effects(prefix, [j.order_id for j in journeys])
        doubled = doubled_effects(effects)
        dlq = dead_lettered(topology.env["OKADA_AMQP_QUEUE_PREFIX"])
        during = sum(1 for j in journeys if outage["stop"] <= j.placed_at <= outage["back"])
        kinds = Counter(k[1] for k in effects.inbox)
        print(f"\nbroker restart: stop_app after {restart.stopped_after:.1f}s, accepting again "
              f"after {restart.total:.1f}s; {int(outage['in_flight'])} journeys in flight at "
              f"stop, {during} orders placed while it was down; every service ready "
              f"{reconnect:.1f}s after it was back (last: {last_ready})")
        print(f"drain: last journey ACCEPTED {last_done - outage['back']:.1f}s after the broker "
              f"came back; effects complete {settle:.1f}s later; whole run "
              f"{last_done - began:.1f}s")
        print(f"counts: {len(journeys)} orders ({Counter(j.method for j in journeys)}), "
              f"statuses {Counter(effects.status.values())}, payments "
              f"{Counter(p['status'] for p in effects.payments.values())}, capture entries "
              f"{sum(effects.captures.values())}, attempts {sum(effects.attempts.values())}, "
              f"reservations {Counter(effects.reservations.values())}, inbox {dict(kinds)}, "
              f"messages {len(effects.messages)}, delivery jobs "
              f"{sum(effects.deliveries.values())}, dead-lettered {dlq}")
        assert restart.refused_while_down
        assert outage["in_flight"] >= JOURNEYS - RESTART_AFTER_PLACED
        assert during >= 1, "no checkout landed while the broker was down"
        assert not lost_effects(effects, journeys, customer_ids)
        assert not doubled, doubled
        assert not dlq, dlq
        assert sum(effects.captures.values()) == JOURNEYS // 2
        assert sum(effects.attempts.values()) == JOURNEYS // 2


# -- test 2 ---------------------------------------------------------------------------------


async def wait_payment(prefix: str, order_id: str, statuses: set[str]) -> dict[str, Any]:
    """Poll payments' own row (the callback reached payments, whatever the broker does)."""
    conn = await db(prefix, "payments")
    deadline = time.monotonic() + EFFECT_DEADLINE
    try:
        while True:
            row = await conn.fetchrow("SELECT status, captured_xaf, refunded_xaf FROM payments "
                                      "WHERE order_id = $1", uuid.UUID(order_id))
            if row is not None and row["status"] in statuses:
                return dict(row)
            assert time.monotonic() < deadline, f"payment of {order_id}: {row}"
            await asyncio.sleep(0.3)  # polling interval
    finally:
        await conn.close()


@pytest.mark.timeout(900)
async def test_broker_restart_at_each_momo_saga_step(topology: Topology) -> None:
    """The broker is down across each step of the MoMo saga, with the step's own action (or
    its event) inside the outage:

    1. order placed / stock reserved: the checkout happens while the broker is down
       (``OrderPlaced`` waits in orders' outbox); payments requests the payment afterwards;
    2. payment requested: the prompt is pending at MTN when the broker goes down; the
       customer approves after it is back;
    3. payment callback received: the customer approves one prompt and declines another
       while the broker is down; payments records both from the callback (``PaymentCaptured``
       / ``PaymentFailed`` wait in its outbox); orders confirms one, cancels the other and
       releases its stock;
    4. confirmation: two orders are confirmed; while the broker is down one customer cancels
       (``OrderCancelled`` waits in the outbox); payments refunds it afterwards.

    Every order ends in its expected state and captured - refunded equals the value of the
    orders paid and not cancelled. Kill variants: process kills between saga steps are
    helper A's journey fault tests (``tests/reliability``); provider timeouts are
    ``tests/services/orders/test_faults.py`` (inventory timeout = unknown outcome, steps retry)
    and ``tests/services/payments/test_collection.py`` (RequestToPay timeout, status queries).
    """
    prefix = topology.env["OKADA_DATABASE_PREFIX"]
    async with httpx.AsyncClient(base_url=topology.gateway, timeout=15.0) as client:
        ctx = new_context(client)
        await open_stores_after_hours(ctx)
        phones = customer_phones(6)
        await sign_in_all(ctx, topology, phones)
        await wait_replicated(prefix, [ctx.user_ids[p] for p in phones])
        goods = await pick_products(ctx, prefix, phones[0], BONAMOUSSADI_STORE, 6)
        j = [Journey(phone=p, method="mtn_momo", store_id=BONAMOUSSADI_STORE,
                     products=[goods[n], goods[(n + 1) % 6]]) for n, p in enumerate(phones)]
        restarts: dict[str, BrokerRestart] = {}
        expected: dict[str, str] = {}

        # 1. order placed / stock reserved, inside the outage.
        async def checkout_while_down() -> None:
            await place(ctx, j[0])

        restarts["placed"] = await restart_rabbitmq(while_down=checkout_while_down)
        await answer_prompt(ctx, j[0], approve=True)
        await wait_order(ctx, j[0].phone, j[0].order_id, {"CONFIRMED"})
        expected[j[0].order_id] = "CONFIRMED"

        # 2. payment requested: the prompt is pending when the broker goes down.
        await place(ctx, j[1])
        await momo_prompt(ctx, j[1])
        restarts["payment_requested"] = await restart_rabbitmq()
        await answer_prompt(ctx, j[1], approve=True)
        await wait_order(ctx, j[1].phone, j[1].order_id, {"CONFIRMED"})
        expected[j[1].order_id] = "CONFIRMED"

        # 3. payment callbacks received while the broker is down.
        for journey in j[2:4]:
            await place(ctx, journey)
            await momo_prompt(ctx, journey)

        async def callbacks_while_down() -> None:
            await answer_prompt(ctx, j[2], approve=True)
            await answer_prompt(ctx, j[3], approve=False)
            await wait_payment(prefix, j[2].order_id, {"captured"})
            await wait_payment(prefix, j[3].order_id, {"failed"})

        restarts["callback_received"] = await restart_rabbitmq(while_down=callbacks_while_down)
        await wait_order(ctx, j[2].phone, j[2].order_id, {"CONFIRMED"})
        await wait_order(ctx, j[3].phone, j[3].order_id, {"CANCELLED"})
        expected[j[2].order_id], expected[j[3].order_id] = "CONFIRMED", "CANCELLED"

        # 4. confirmation: both confirmed, then one cancelled while the broker is down.
        for journey in j[4:6]:
            await place(ctx, journey)
            await answer_prompt(ctx, journey, approve=True)
            await wait_order(ctx, journey.phone, journey.order_id, {"CONFIRMED"})

        async def cancel_while_down() -> None:
            await retry(ctx, "cancel", lambda: ctx.call(
                "POST", f"/v1/orders/{j[5].order_id}/cancel", token=j[5].phone, json={}))

        restarts["confirmed"] = await restart_rabbitmq(while_down=cancel_while_down)
        await wait_order(ctx, j[5].phone, j[5].order_id, {"CANCELLED"})
        expected[j[4].order_id], expected[j[5].order_id] = "CONFIRMED", "CANCELLED"
        refunded = await wait_payment(prefix, j[5].order_id, {"refunded"})
        await wait_services_ready(topology)

        # Effects of the steps that crossed the outage.
        ids = [x.order_id for x in j]
        customer = {x.order_id: ctx.user_ids[x.phone] for x in j}
        deadline = time.monotonic() + EFFECT_DEADLINE
        while True:
            effects = await read_effects(prefix, ids)
            pending = [o for o in ids if effects.status.get(o) == "CONFIRMED"
                       and effects.inbox[(o, "order_confirmed", customer[o])] < 1]
            pending += [o for o in ids if effects.status.get(o) == "CANCELLED"
                        and effects.reservations.get(o) != "released"]
            pending += [f"{s} outbox" for s, n in effects.unpublished.items() if n]
            if not pending:
                break
            assert time.monotonic() < deadline, f"effects missing: {pending}"
            await asyncio.sleep(1.0)  # polling interval
        await wait_queues_drained(topology.env["OKADA_AMQP_QUEUE_PREFIX"])
        effects = await read_effects(prefix, ids)
        everything = await all_orders_money(prefix)
        print("\nrestarts (stop_app s / back s): " + ", ".join(
            f"{step} {r.stopped_after:.1f}/{r.total:.1f}" for step, r in restarts.items()))
        print(f"orders: {[(o[-8:], effects.status[o]) for o in ids]}; payments "
              f"{[(o[-8:], effects.payments[o]['status']) for o in ids]}")
        print(f"money over all {everything['orders']} orders of the topology: captured "
              f"{everything['captured']} - refunded {everything['refunded']} = "
              f"{everything['captured'] - everything['refunded']}; paid and not cancelled "
              f"{everything['paid_not_cancelled']}")
        assert all(r.refused_while_down for r in restarts.values())
        assert {o: effects.status[o] for o in ids} == expected
        assert refunded["refunded_xaf"] == refunded["captured_xaf"] == effects.payable[ids[5]]
        assert effects.payments[ids[3]]["captured_xaf"] == 0
        for o in ids:
            assert effects.attempts[o] == 1, o
            assert effects.captures[o] == (0 if o == ids[3] else 1), o
        assert not doubled_effects(effects), doubled_effects(effects)
        assert not dead_lettered(topology.env["OKADA_AMQP_QUEUE_PREFIX"])
        assert everything["captured"] - everything["refunded"] == everything["paid_not_cancelled"]


async def all_orders_money(prefix: str) -> dict[str, int]:
    """Captured, refunded and the value of the orders paid and not cancelled, over every order
    of the topology. Paid: a MoMo order confirmed (its stream has ``OrderConfirmed``, which
    only a capture brings). Cash orders are paid at the door; none is delivered here."""
    orders, payments = await db(prefix, "orders"), await db(prefix, "payments")
    try:
        paid = int(await orders.fetchval(
            "SELECT COALESCE(SUM((v.state->>'payable_xaf')::bigint), 0) FROM orders_view v "
            "WHERE v.payment_method <> 'cash' AND v.status NOT IN ('CANCELLED', 'EXPIRED') "
            "AND EXISTS (SELECT 1 FROM order_events e WHERE e.stream_id = v.order_id "
            "AND e.type = 'OrderConfirmed')"))
        count = int(await orders.fetchval("SELECT count(*) FROM orders_view"))
        row = await payments.fetchrow("SELECT COALESCE(SUM(captured_xaf), 0) AS captured, "
                                      "COALESCE(SUM(refunded_xaf), 0) AS refunded FROM payments")
    finally:
        await orders.close()
        await payments.close()
    return {"orders": count, "captured": int(row["captured"]), "refunded": int(row["refunded"]),
            "paid_not_cancelled": paid}
