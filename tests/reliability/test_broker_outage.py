"""RabbitMQ down: the API keeps accepting writes, /readyz says so, the relay catches up."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from okada.infra.bus.rabbitmq import RabbitMqBus
from okada.infra.cache.memory import MemoryCache
from okada.infra.settings import Mode, PlatformSettings
from okada.runtime.host import ServiceHost, build_context
from okada.simulators.app import create_simulators_app
from tests.support.broker import purge_broker
from tests.support.databases import POSTGRES_URL, scratch_engine
from tests.support.services import require_postgres, require_rabbitmq
from tests.support.tcp_proxy import ToggleProxy

pytestmark = pytest.mark.distributed


async def test_writes_continue_while_the_broker_is_down(tmp_path: Path) -> None:
    require_postgres()
    require_rabbitmq()
    run = uuid.uuid4().hex[:8]
    proxy = ToggleProxy(5672)
    await proxy.start()
    proxy.down()
    async with scratch_engine("postgresql", tmp_path) as engine:
        database = engine.url.database
        settings = PlatformSettings(
            mode=Mode.DISTRIBUTED, internal_secret=f"test-{run}",
            database_url=f"{POSTGRES_URL}/{database}",
        )
        exchange = f"okada.outage.{run}"
        bus = RabbitMqBus(f"amqp://guest:guest@127.0.0.1:{proxy.port}/", exchange=exchange,
                          queue_prefix=f"outage.{run}.", timeout=2.0)
        ctx = build_context(settings, bus=bus, cache=MemoryCache(), overrides={
            "internal_secret": settings.internal_secret, "database_url": settings.database_url})
        simulators = create_simulators_app()
        ctx.directory.register_app("simulators", simulators)
        host = ServiceHost(ctx, ["identity"])
        await host.build()
        await host.migrate()
        await host.start()  # the bus cannot connect: the host keeps retrying in the background
        app = host.runtimes["identity"].app
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://identity") as client:
                ready = await client.get("/readyz")
                assert ready.status_code == 503
                assert ready.json()["checks"]["broker"] is False
                # writes are accepted: three customers sign up while the broker is away
                for n in range(3):
                    phone = f"69900{n}123"
                    assert (await client.post("/v1/auth/otp/request",
                                              json={"phone": phone})).status_code == 202
                    code = simulators.state.sms.messages[-1]["text"].split()[4].rstrip(".")
                    verified = await client.post("/v1/auth/otp/verify", json={
                        "phone": phone, "code": code, "device_id": "d"})
                    assert verified.status_code == 200, verified.text
                outbox = host.runtimes["identity"].metadata.tables["outbox"]
                async with engine.connect() as conn:
                    waiting = await conn.scalar(sa.select(sa.func.count()).select_from(outbox)
                                                .where(outbox.c.published_at.is_(None)))
                assert waiting == 3
                # the broker comes back: the relay catches up without losing anything
                proxy.up()
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    async with engine.connect() as conn:
                        waiting = await conn.scalar(sa.select(sa.func.count()).select_from(
                            outbox).where(outbox.c.published_at.is_(None)))
                    if waiting == 0 and (await client.get("/readyz")).status_code == 200:
                        break
                    await asyncio.sleep(0.5)
                assert waiting == 0
                assert (await client.get("/readyz")).json()["checks"]["broker"] is True
        finally:
            await host.stop()
            await proxy.close()
            await purge_broker(exchange, f"outage.{run}.")
