"""Checkout through the embedded gateway with a real OTP sign-in (identity, catalog read
models fed by events, inventory, orders, and the relay delivering ``OrderPlaced``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from okada.infra.bus.policy import FAST_TEST_POLICY
from okada.infra.settings import Mode, PlatformSettings
from okada.kernel.clock import FrozenClock
from okada.runtime.embedded import create_embedded_app
from tests.services.orders.conftest import Harness
from tests.support.journeys import bearer, sign_in


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = PlatformSettings(mode=Mode.EMBEDDED, data_dir=tmp_path, log_json=True,
                                seed_demo_data=False)
    app = create_embedded_app(settings, services=["identity", "inventory", "orders"],
                              policy=FAST_TEST_POLICY, configure_logs=False)
    async with LifespanManager(app, startup_timeout=120, shutdown_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=("203.0.113.9", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://okada.test") as c:
            yield app, c


async def test_checkout_through_the_gateway(
        gateway: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = gateway
    h = Harness(host=app.state.host, clock=FrozenClock())
    await h.seed_store(products=1, hours=False)
    tokens = await sign_in(client, "6 77 00 11 22", "+237677001122")
    body = h.body(lines=[(h.products[0], 3)])
    missing_key = await client.post("/v1/orders", json=body, headers=bearer(tokens))
    assert missing_key.status_code == 400
    key = {"Idempotency-Key": uuid.uuid4().hex, "accept-language": "fr"}
    placed = await client.post("/v1/orders", json=body, headers={**bearer(tokens), **key})
    assert placed.status_code == 201, placed.text
    replay = await client.post("/v1/orders", json=body, headers={**bearer(tokens), **key})
    assert replay.status_code == 201 and replay.json()["id"] == placed.json()["id"]
    mine = await client.get("/v1/orders", headers=bearer(tokens))
    assert [x["id"] for x in mine.json()["data"]] == [placed.json()["id"]]
    other = await sign_in(client, "6 77 00 33 44", "+237677003344")
    hidden = await client.get(f"/v1/orders/{placed.json()['id']}", headers=bearer(other))
    assert hidden.status_code == 404
    assert await h.levels(h.products[0]) == (100, 3)
    # The relay publishes OrderPlaced from the outbox (no consumer needed to mark it sent).
    engine = h.ctx.engine("orders")
    for _ in range(60):
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.text(
                "SELECT schema, published_at FROM outbox ORDER BY seq"))).all()
        if rows and all(r.published_at is not None for r in rows):
            break
        await asyncio.sleep(0.05)
    assert [r.schema for r in rows] == ["orders.v1.OrderPlaced", "orders.v1.OrderConfirmed"]
    assert all(r.published_at is not None for r in rows)
