"""Payments in the embedded platform with the MoMo and Orange Money simulators in process.

Orders, identity and delivery are not hosted: the tests publish their contract events on the
bus (or hand them to the consumer directly to race duplicates). The business clock is
frozen so the payment window and the poller's due times move only when a test says so.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from okada.contracts.base import IntegrationEvent
from okada.contracts.identity.v1 import PhoneState, UserState, UserUpdated
from okada.contracts.orders.v1 import (
    DeliveryAddressState,
    OrderPaymentState,
    OrderPlaced,
    OrderState,
)
from okada.infra.bus.policy import FAST_TEST_POLICY
from okada.infra.security.internal import PRINCIPAL_HEADER
from okada.infra.settings import Mode, PlatformSettings
from okada.kernel.authz import Principal, Role
from okada.kernel.clock import FrozenClock
from okada.kernel.messages import Envelope
from okada.runtime.embedded import create_embedded_app
from okada.services.payments.adapters.orm import journal_entries, journal_lines
from okada.services.payments.application.payments import PaymentService
from okada.simulators.mtn_momo import MtnMomoSimulator
from okada.simulators.orange_money import OrangeMoneySimulator
from tests.support.databases import POSTGRES_URL
from tests.support.services import require_postgres

MTN_PENDING = "+237671234567"  # an ordinary number: stays pending until the control answers


class Harness:
    """The platform, its payments parts and helpers to act as orders, identity, customer."""

    def __init__(self, app: FastAPI, clock: FrozenClock, http: httpx.AsyncClient) -> None:
        self.app = app
        self.clock = clock
        self.http = http  # to the payments service app
        self.host = app.state.host
        self.ctx = self.host.ctx
        runtime = self.host.runtimes["payments"]
        self.runtime = runtime
        self.service: PaymentService = runtime.app.state.payments
        self.momo: MtnMomoSimulator = app.state.simulators.state.mtn_momo
        self.om: OrangeMoneySimulator = app.state.simulators.state.orange_money
        self.momo.clock = clock.now  # the customers' side lives on the same frozen time
        self.om.clock = clock.now
        self.sim = httpx.AsyncClient(transport=httpx.ASGITransport(app=app.state.simulators),
                                     base_url="http://sim.test")
        # the simulators call back into the payments app in process
        self.callbacks = httpx.AsyncClient(transport=httpx.ASGITransport(app=runtime.app),
                                           base_url="http://127.0.0.1:8000")
        self.momo.callback_client = self.callbacks
        self.om.callback_client = self.callbacks
        self.store_id = uuid.uuid4()

    # -- principals --------------------------------------------------------------------

    def headers(self, *roles: Role, user_id: uuid.UUID | None = None,
                stores: tuple[uuid.UUID, ...] = (), lang: str = "en") -> dict[str, str]:
        principal = Principal(user_id=user_id or uuid.uuid4(), roles=frozenset(roles),
                              store_ids=frozenset(stores))
        return {PRINCIPAL_HEADER: self.ctx.codec.encode(principal), "accept-language": lang}

    # -- events ------------------------------------------------------------------------

    def order(self, cls: type[Any] = OrderPlaced, *, order_id: uuid.UUID | None = None,
              customer_id: uuid.UUID | None = None, status: str = "PENDING_PAYMENT",
              method: str = "mtn_momo", phone: str | None = MTN_PENDING, amount: int = 2500,
              version: int = 1, **extra: Any) -> Any:
        now = self.clock.now()
        state = OrderState(
            customer_id=customer_id or uuid.uuid4(), store_id=self.store_id, status=status,
            lines=[], subtotal_xaf=amount - 500, delivery_fee_xaf=500, total_xaf=amount,
            payable_xaf=amount,
            payment=OrderPaymentState(method=method, payer_phone=phone,
                                      status="pending" if method != "cash" else "cash_due"),
            address=DeliveryAddressState(city="Douala", quartier="Akwa"),
            placed_at=now, updated_at=now,
            payment_due_at=now + dt.timedelta(minutes=10))
        return cls(entity_id=order_id or uuid.uuid4(), version=version, state=state, **extra)

    def follow(self, event: Any, cls: type[Any], *, status: str, **extra: Any) -> Any:
        """The next event of the same order (version + 1) in ``status``."""
        state = event.state.model_copy(update={"status": status,
                                               "updated_at": self.clock.now()})
        return cls(entity_id=event.entity_id, version=event.version + 1, state=state, **extra)

    async def publish(self, event: IntegrationEvent, producer: str = "orders") -> Envelope:
        """Publish a contract event on the bus (resolves once payments applied it)."""
        envelope = Envelope(schema=event.schema_name, payload=event.to_payload(),
                            producer=producer)
        await self.ctx.bus.publish([envelope])
        await self.service.drain()  # the provider calls it started in the background
        return envelope

    async def deliver(self, event: IntegrationEvent, producer: str = "orders") -> None:
        """Hand a fresh copy (new message id) straight to the payments consumer."""
        (subscription,) = self.runtime.subscriptions
        await subscription.handler(Envelope(schema=event.schema_name,
                                            payload=event.to_payload(), producer=producer))
        await self.service.drain()

    async def user(self, user_id: uuid.UUID, *phones: tuple[str, bool], version: int = 1) -> None:
        state = UserState(name="Awa", language="fr", roles=["customer"], store_ids=[],
                          phones=[PhoneState(e164=p, operator=None, verified=v, primary=i == 0)
                                  for i, (p, v) in enumerate(phones)],
                          disabled=False, created_at=self.clock.now())
        await self.publish(UserUpdated(entity_id=user_id, version=version, state=state),
                           producer="identity")

    # -- observations ------------------------------------------------------------------

    async def outbox(self, schema: str) -> list[dict[str, Any]]:
        table = self.runtime.metadata.tables["outbox"]
        async with self.ctx.engine("payments").connect() as conn:
            rows = (await conn.execute(sa.select(table.c.envelope).where(
                table.c.schema == schema).order_by(table.c.seq))).all()
        return [dict(r.envelope["payload"]) for r in rows]

    async def events_of(self, order_id: uuid.UUID, schema: str) -> list[dict[str, Any]]:
        return [e for e in await self.outbox(schema)
                if e["state"].get("order_id") == str(order_id)]

    async def payment(self, order_id: uuid.UUID) -> dict[str, Any]:
        response = await self.http.get(f"/v1/payments/orders/{order_id}",
                                       headers=self.headers(Role.OPERATIONS))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def entries(self) -> list[tuple[str, str, int]]:
        """(reference, kind, sum of lines) of every journal entry."""
        async with self.ctx.engine("payments").connect() as conn:
            rows = (await conn.execute(
                sa.select(journal_entries.c.reference, journal_entries.c.kind,
                          sa.func.sum(journal_lines.c.amount_xaf))
                .join(journal_lines, journal_lines.c.entry_id == journal_entries.c.id)
                .group_by(journal_entries.c.id))).all()
        return [(r[0], r[1], int(r[2])) for r in rows]

    def momo_requests(self, order_id: uuid.UUID) -> list[dict[str, Any]]:
        return [r for r in self.momo.requests.values() if r["externalId"] == str(order_id)]

    async def momo_request(self, order_id: uuid.UUID) -> dict[str, Any]:
        """The order's RequestToPay at the simulator, once the background call has landed."""
        await wait_until(lambda: self.momo_requests(order_id))
        (request,) = self.momo_requests(order_id)
        return request

    async def approve_momo(self, order_id: uuid.UUID, **body: Any) -> None:
        request = await self.momo_request(order_id)
        response = await self.sim.post(
            f"/_sim/mtn-momo/_control/requests/{request['referenceId']}/approve", json=body)
        assert response.status_code == 200, response.text
        await self.momo.drain()

    async def decline_momo(self, order_id: uuid.UUID, reason: str) -> None:
        request = await self.momo_request(order_id)
        response = await self.sim.post(
            f"/_sim/mtn-momo/_control/requests/{request['referenceId']}/decline",
            json={"reason": reason})
        assert response.status_code == 200, response.text
        await self.momo.drain()

    async def token_of(self, order_id: uuid.UUID) -> str:
        async with self.service._uow() as uow:
            (attempt,) = await uow.repo.attempts_of(order_id)
        return attempt.callback_token


async def wait_until(check: Callable[[], Any], timeout: float = 5.0) -> None:
    """Poll an async or sync condition until it holds (bounded)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def running_payments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           database_url: str | None = None) -> AsyncIterator[Harness]:
    """The embedded platform hosting payments (and the simulators) on a frozen clock."""
    # generous deadlines: a loaded CI box must not turn into "unknown outcome" flakiness
    monkeypatch.setenv("PAYMENTS_PROVIDER_TIMEOUT_SECONDS", "30")
    monkeypatch.setenv("PAYMENTS_CALLBACK_BUDGET_SECONDS", "30")
    monkeypatch.setenv("PAYMENTS_POLL_INTERVAL_SECONDS", "3600")  # the tests sweep themselves
    clock = FrozenClock(dt.datetime.now(dt.UTC).replace(microsecond=0))
    settings = PlatformSettings(mode=Mode.EMBEDDED, data_dir=tmp_path, log_json=True,
                                seed_demo_data=False, database_url=database_url)
    app = create_embedded_app(settings, services=["payments"], clock=clock,
                              policy=FAST_TEST_POLICY, configure_logs=False, seed=False)
    async with LifespanManager(app, startup_timeout=120, shutdown_timeout=60):
        runtime = app.state.host.runtimes["payments"]
        transport = httpx.ASGITransport(app=runtime.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://payments.test") as h:
            harness = Harness(app, clock, h)
            try:
                yield harness
            finally:
                await harness.momo.drain()
                await harness.om.drain()
                await harness.sim.aclose()
                await harness.callbacks.aclose()


@pytest.fixture
async def pay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    """Payments on SQLite (embedded mode)."""
    async with running_payments(tmp_path, monkeypatch) as harness:
        yield harness


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.distributed)])
async def pay_any(request: pytest.FixtureRequest, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    """Payments on SQLite, then on a fresh PostgreSQL database (races behave differently)."""
    if request.param == "sqlite":
        async with running_payments(tmp_path, monkeypatch) as harness:
            yield harness
        return
    require_postgres()
    name = f"okada_test_{uuid.uuid4().hex[:10]}"
    try:
        async with running_payments(tmp_path, monkeypatch,
                                    f"{POSTGRES_URL}/{name}") as harness:
            yield harness
    finally:
        conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres", timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
