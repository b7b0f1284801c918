"""The dispatcher loop on its own, and the storage rules on PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

import okada.services.notifications as notifications_package
from okada.contracts.orders.v1 import OrderConfirmed
from okada.infra.db.migrations import upgrade
from okada.kernel.clock import FrozenClock
from okada.services.notifications.adapters.orm import metadata
from okada.services.notifications.adapters.repositories import NotificationsUoW
from okada.services.notifications.application.messages import sms_message
from okada.services.notifications.application.model import InboxItem, Recipient
from okada.services.notifications.domain.policy import Kind, Status
from tests.services.notifications.conftest import MORNING, Notif, order_state, start
from tests.support.databases import scratch_engine


async def eventually(probe: Callable[[], Awaitable[Any]], *, seconds: float = 5.0) -> Any:
    for _ in range(int(seconds / 0.02)):
        value = await probe()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_the_background_dispatcher_sends_and_falls_back_by_itself(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FrozenClock(MORNING)
    app, manager = await start(tmp_path, monkeypatch, clock, worker=True,
                               env={"NOTIFICATIONS_DISPATCH_INTERVAL_SECONDS": "0.05"})
    async with manager:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(
            app=app.state.host.runtimes["notifications"].app), base_url="http://n.test")
        sims = httpx.AsyncClient(transport=httpx.ASGITransport(app=app.state.simulators),
                                 base_url="http://s.test")
        async with http, sims:
            notif = Notif(app, http, clock, sims)
            customer = await notif.user()
            token = await notif.device(customer)
            await notif.publish(OrderConfirmed(entity_id=uuid.uuid4(), version=2,
                                               state=order_state(customer)))
            await eventually(lambda: notif.pushes(token))
            phone = await notif.phone_of(customer)
            await asyncio.sleep(0.2)
            assert await notif.sms(phone) == []  # the receipt window is still open
            clock.advance(seconds=61)
            (sms,) = await eventually(lambda: notif.sms(phone))
            assert sms["text"].startswith("Okada: votre commande")


@pytest.mark.distributed
async def test_deduplication_and_claims_hold_on_postgresql(tmp_path: Path) -> None:
    async with scratch_engine("postgresql", tmp_path) as engine:
        await upgrade(engine, notifications_package.service.migrations, "notifications")
        clock = FrozenClock(MORNING)
        tables = {n: metadata.tables[n] for n in ("outbox", "inbox", "idempotency_keys",
                                                   "dead_letters")}
        sessions = async_sessionmaker(engine, expire_on_commit=False)

        def uow() -> NotificationsUoW:
            return NotificationsUoW(service="notifications", sessions=sessions, tables=tables,
                                    clock=clock)

        user = uuid.uuid4()
        message = sms_message(event_key="order_confirmed:x", recipient_key=str(user),
                              recipient_id=user, phone="+237677000002",
                              kind=Kind.ORDER_CONFIRMED, language="fr", text="Okada: é",
                              order_id=None, now=clock.now())
        async with uow() as u:
            assert await u.messages.add(message)
            again = dataclasses.replace(message, id=uuid.uuid4())
            assert not await u.messages.add(again)  # same event, recipient and channel
            item = InboxItem(id=uuid.uuid4(), user_id=user, event_key="k", kind="x", title="t",
                             body="b", order_id=None, read=False, sent_at=clock.now(),
                             version=1)
            assert await u.inbox.add(item)
            assert not await u.inbox.add(dataclasses.replace(item, id=uuid.uuid4()))
            assert await u.recipients.save(Recipient(user, 2, "en", None, ("merchant_staff",),
                                                     (uuid.uuid4(),)))
            assert not await u.recipients.save(Recipient(user, 1, "fr", None))
            await u.commit()

        async def claim() -> bool:
            async with uow() as u:
                won = await u.messages.claim(message.id, now=clock.now(), lease=uuid.uuid4(),
                                             until=clock.now() + dt.timedelta(seconds=60))
                await u.commit()
                return won is not None

        results = await asyncio.gather(*(claim() for _ in range(8)))
        assert results.count(True) == 1
        async with uow() as u:
            stored = await u.messages.get(message.id)
            assert stored is not None and stored.status is Status.SENDING
            assert stored.body == "Okada: e" and stored.segments == 1
            assert (await u.recipients.get(user)).language == "en"  # type: ignore[union-attr]
        # once the lease ends (a dispatcher died mid-send) the message is claimable again
        clock.advance(seconds=61)
        assert await claim()
