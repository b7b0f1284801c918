"""The notifications service in the embedded platform, fed by contract events on the bus.

The dispatcher's background loop is switched off so each test drives it with ``dispatch()``
under a frozen clock; one test keeps the loop on to prove it runs by itself.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from okada.contracts.base import IntegrationEvent
from okada.contracts.delivery.v1 import DeliveryState
from okada.contracts.identity.v1 import PhoneState, UserRegistered, UserState
from okada.contracts.orders.v1 import (
    DeliveryAddressState,
    OrderLineState,
    OrderPaymentState,
    OrderState,
)
from okada.contracts.payments.v1 import PaymentState
from okada.infra.bus.policy import FAST_TEST_POLICY
from okada.infra.security.internal import PRINCIPAL_HEADER
from okada.infra.settings import Mode, PlatformSettings
from okada.kernel.authz import Principal, Role
from okada.kernel.clock import FrozenClock
from okada.kernel.messages import Envelope
from okada.runtime.embedded import create_embedded_app
from okada.services.notifications.adapters.orm import metadata

# 10:00 in Douala: outside quiet hours.
MORNING = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
_phones = iter(range(10_000, 99_999))


def new_phone() -> str:
    """A fresh valid MTN Cameroon number."""
    return f"+2376770{next(_phones):05d}"


class Notif:
    """The notifications service, its simulators and helpers to feed it events."""

    def __init__(self, platform: FastAPI, http: httpx.AsyncClient, clock: FrozenClock,
                 sims: httpx.AsyncClient) -> None:
        self.platform = platform
        self.http = http
        self.sims = sims
        self.clock = clock
        self.ctx = platform.state.host.ctx
        self.runtime = platform.state.host.runtimes["notifications"]
        self.dispatcher = self.runtime.app.state.dispatcher
        self.state = platform.state.simulators.state
        self.engine = self.ctx.engine("notifications")

    # --- principals -------------------------------------------------------------------
    def headers(self, user_id: uuid.UUID | None = None, *roles: Role,
                language: str = "en") -> dict[str, str]:
        principal = Principal(user_id=user_id or uuid.uuid4(),
                              roles=frozenset(roles or (Role.CUSTOMER,)))
        return {PRINCIPAL_HEADER: self.ctx.codec.encode(principal), "accept-language": language}

    @property
    def ops(self) -> dict[str, str]:
        return self.headers(uuid.uuid4(), Role.OPERATIONS)

    @property
    def service(self) -> dict[str, str]:
        return self.headers(uuid.uuid4(), Role.SERVICE)

    # --- events -----------------------------------------------------------------------
    async def publish(self, event: IntegrationEvent, *, envelope: Envelope | None = None,
                      producer: str = "tests") -> Envelope:
        """Publish a contract event on the bus and wait until notifications applied it."""
        envelope = envelope or Envelope(schema=event.schema_name, payload=event.to_payload(),
                                        producer=producer)
        await self.ctx.bus.publish([envelope])
        inbox = metadata.tables["inbox"]
        for _ in range(400):
            async with self.engine.connect() as conn:
                found = await conn.scalar(sa.select(sa.func.count()).select_from(inbox).where(
                    inbox.c.message_id == envelope.message_id))
            if found:
                return envelope
            await asyncio.sleep(0.01)
        raise AssertionError(f"{event.schema_name} was not consumed")

    async def user(self, *, language: str = "fr", phone: str | None = "new",
                   roles: tuple[str, ...] = ("customer",),
                   store_ids: tuple[uuid.UUID, ...] = (), version: int = 1,
                   user_id: uuid.UUID | None = None, disabled: bool = False) -> uuid.UUID:
        """Identity announces a user; returns the id (``phone="new"``: a fresh number)."""
        user_id = user_id or uuid.uuid4()
        e164 = new_phone() if phone == "new" else phone
        phones = [PhoneState(e164=e164, operator="mtn", verified=True, primary=True)] \
            if e164 else []
        await self.publish(UserRegistered(
            entity_id=user_id, version=version,
            state=UserState(name="Test", language=language, roles=list(roles),
                            store_ids=list(store_ids), phones=phones, disabled=disabled,
                            created_at=self.clock.now())), producer="identity")
        return user_id

    async def phone_of(self, user_id: uuid.UUID) -> str:
        recipients = metadata.tables["recipients"]
        async with self.engine.connect() as conn:
            return str(await conn.scalar(sa.select(recipients.c.phone).where(
                recipients.c.user_id == user_id)))

    async def device(self, user_id: uuid.UUID, token: str | None = None,
                     platform: str = "android") -> str:
        token = token or f"fcm-token-{uuid.uuid4().hex}"
        response = await self.http.post("/v1/notifications/devices",
                                         json={"token": token, "platform": platform,
                                               "locale": "fr-CM"},
                                         headers=self.headers(user_id))
        assert response.status_code == 200, response.text
        return token

    async def dispatch(self) -> int:
        done: int = await self.dispatcher.run_once()
        return done

    # --- simulators -------------------------------------------------------------------
    async def pushes(self, token: str) -> list[dict[str, Any]]:
        response = await self.sims.get("/_sim/push/messages", params={"token": token})
        assert response.status_code == 200
        return list(response.json())

    async def sms(self, phone: str, *, backup: bool = False) -> list[dict[str, Any]]:
        prefix = "/_sim/sms-backup" if backup else "/_sim/sms"
        response = await self.sims.get(f"{prefix}/messages", params={"to": phone})
        assert response.status_code == 200
        return list(response.json())

    async def ack(self, user_id: uuid.UUID, token: str) -> None:
        """The device received its newest push and tells the service so."""
        (latest, *_) = await self.pushes(token)
        response = await self.http.post(
            "/v1/notifications/receipts", json={"message_id": latest["data"]["message_id"]},
            headers=self.headers(user_id))
        assert response.status_code == 204, response.text

    async def admin(self, **params: str) -> list[dict[str, Any]]:
        response = await self.http.get("/v1/admin/notifications", params=params,
                                       headers=self.ops)
        assert response.status_code == 200, response.text
        return list(response.json()["data"])

    async def inbox(self, user_id: uuid.UUID, **params: Any) -> dict[str, Any]:
        response = await self.http.get("/v1/notifications", params=params,
                                       headers=self.headers(user_id))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def order_state(customer_id: uuid.UUID, *, store_id: uuid.UUID | None = None,
                status: str = "CONFIRMED", total: int = 1500, language: str = "fr",
                contact_phone: str | None = None, now: dt.datetime = MORNING) -> OrderState:
    return OrderState(
        customer_id=customer_id, store_id=store_id or uuid.uuid4(), status=status,
        lines=[OrderLineState(product_id=uuid.uuid4(), name="Riz", unit="kg", quantity=2,
                              unit_price_xaf=500, line_total_xaf=1000)],
        subtotal_xaf=total - 500, delivery_fee_xaf=500, total_xaf=total, payable_xaf=total,
        payment=OrderPaymentState(method="cash", status="cash_due"),
        address=DeliveryAddressState(city="Douala", quartier="Akwa",
                                     contact_phone=contact_phone),
        language=language, placed_at=now, updated_at=now)


def delivery_state(order_id: uuid.UUID, customer_id: uuid.UUID, *,
                   rider_id: uuid.UUID | None = None, status: str = "ARRIVING",
                   cash: int = 0, now: dt.datetime = MORNING) -> DeliveryState:
    return DeliveryState(
        order_id=order_id, store_id=uuid.uuid4(), customer_id=customer_id,
        rider_id=rider_id or uuid.uuid4(), status=status, store_name="Okada Akwa",
        store_lat=4.05, store_lng=9.70, drop_lat=4.06, drop_lng=9.72, drop_quartier="Bonapriso",
        cash_to_collect_xaf=cash, fee_xaf=800, updated_at=now)


def payment_state(order_id: uuid.UUID, customer_id: uuid.UUID, *, status: str = "failed",
                  amount: int = 2500, reason: str | None = "NOT_ENOUGH_FUNDS",
                  now: dt.datetime = MORNING) -> PaymentState:
    return PaymentState(
        order_id=order_id, customer_id=customer_id, method="mtn_momo", provider="mtn_momo",
        status=status, amount_xaf=amount, captured_xaf=0, refunded_xaf=amount,
        payer_phone_masked="+2376****4321", failure_reason=reason, updated_at=now)


async def start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FrozenClock,
                *, worker: bool = False, env: dict[str, str] | None = None
                ) -> tuple[FastAPI, LifespanManager]:
    monkeypatch.setenv("NOTIFICATIONS_DISPATCH_WORKER_ENABLED", "true" if worker else "false")
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    settings = PlatformSettings(mode=Mode.EMBEDDED, data_dir=tmp_path, log_json=True,
                                seed_demo_data=False)
    app = create_embedded_app(settings, services=["notifications"], clock=clock,
                              policy=FAST_TEST_POLICY, configure_logs=False)
    return app, LifespanManager(app, startup_timeout=120, shutdown_timeout=60)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(MORNING)


@pytest.fixture
def env() -> dict[str, str]:
    """Extra NOTIFICATIONS_* settings for the test (override the fixture to change)."""
    return {}


@pytest.fixture
async def notif(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FrozenClock,
                env: dict[str, str]) -> AsyncIterator[Notif]:
    app, manager = await start(tmp_path, monkeypatch, clock, env=env)
    async with manager:
        runtime_app = app.state.host.runtimes["notifications"].app
        transport = httpx.ASGITransport(app=runtime_app)
        sims_transport = httpx.ASGITransport(app=app.state.simulators)
        async with httpx.AsyncClient(transport=transport, base_url="http://notifications.test") \
                as http, httpx.AsyncClient(transport=sims_transport,
                                           base_url="http://simulators.test") as sims:
            yield Notif(app, http, clock, sims)
