"""Through the gateway with a real sign-in: identity's user reaches notifications by event."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from okada.contracts.orders.v1 import OrderConfirmed
from okada.infra.bus.policy import FAST_TEST_POLICY
from okada.infra.settings import Mode, PlatformSettings
from okada.kernel.messages import Envelope
from okada.runtime.embedded import create_embedded_app
from tests.services.notifications.conftest import order_state
from tests.support.journeys import bearer, sign_in


async def test_signed_in_customer_registers_a_device_and_reads_the_inbox(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFICATIONS_DISPATCH_INTERVAL_SECONDS", "0.05")
    settings = PlatformSettings(mode=Mode.EMBEDDED, data_dir=tmp_path, log_json=True,
                                seed_demo_data=False)
    app = create_embedded_app(settings, services=["identity", "notifications"],
                              policy=FAST_TEST_POLICY, configure_logs=False)
    async with LifespanManager(app, startup_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=("203.0.113.9", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://okada.test") as c:
            tokens = await sign_in(c, "6 77 55 44 33", "+237677554433")
            auth = {**bearer(tokens), "accept-language": "en"}
            me = (await c.get("/v1/users/me", headers=auth)).json()
            device = await c.post("/v1/notifications/devices", headers=auth,
                                  json={"token": "gw-token-" + "x" * 20, "platform": "web"})
            assert device.status_code == 200, device.text
            ctx = app.state.host.ctx
            event = OrderConfirmed(entity_id=uuid.uuid4(), version=2,
                                   state=order_state(uuid.UUID(me["id"]), total=4200))
            await ctx.bus.publish([Envelope(schema=event.schema_name,
                                            payload=event.to_payload(), producer="orders")])
            inbox: list[dict[str, str]] = []
            for _ in range(250):
                inbox = (await c.get("/v1/notifications", headers=auth)).json()["data"]
                pushes = (await c.get("/_sim/push/messages",
                                      params={"token": "gw-token-" + "x" * 20})).json()
                if inbox and pushes:
                    break
                await asyncio.sleep(0.02)
            # identity told notifications the customer's language (fr by default)
            assert [i["kind"] for i in inbox] == ["order_confirmed"]
            assert "4\u202f200 FCFA" in inbox[0]["body"]
            assert pushes[0]["title"] == inbox[0]["title"]
            anonymous = await c.get("/v1/notifications")
            assert anonymous.status_code == 401
