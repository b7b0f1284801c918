"""Atomic claims: of riders accepting the same job at once, exactly one wins.

Two compare-and-swap guards protect a claim, each enough on its own: the job's version in
``SqlaDeliveryRepository.save`` (``WHERE id = :id AND version = :read_version``) and the offer's
status in ``SqlaOfferRepository.respond`` (``WHERE status = 'pending'``; the winner withdraws
the other offers in its transaction). ``test_without_the_guards_several_riders_win`` removes
both and shows the race is real on PostgreSQL: several riders are then told they won the same
job, which is exactly what the guards prevent.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from okada.contracts.orders.v1 import OrderCancelled
from okada.kernel.clock import FrozenClock
from okada.services.delivery.adapters import repositories
from okada.services.delivery.adapters.geoindex import MemoryGeoIndex
from okada.services.delivery.adapters.orm import deliveries, offers, riders
from okada.services.delivery.application.errors import OfferTaken
from okada.services.delivery.domain.delivery import Delivery
from tests.services.delivery.conftest import AKWA, NOON, Harness, make_settings


def harness(dialect_engine: tuple[str, AsyncEngine], fanout: int) -> Harness:
    dialect, engine = dialect_engine
    return Harness(dialect, engine, FrozenClock(NOON), MemoryGeoIndex(),
                   make_settings(offer_fanout=fanout, reoffer_after_seconds=0))


async def _claim(h: Harness, rider: uuid.UUID, offer: uuid.UUID) -> str:
    try:
        await h.services.dispatch.accept(rider, offer)
        return "won"
    except OfferTaken:
        return "taken"


async def _race(h: Harness, store: uuid.UUID, expected_offers: int) -> tuple[Counter[str], Any]:
    order_id, job = await h.order(store)
    offers = await h.dispatch_offers()
    assert len(offers) == expected_offers
    outcomes = await asyncio.gather(*(_claim(h, rider, offer) for offer, rider in offers))
    stored = await h.get(job.id)
    # free the winner for the next round
    await h.deliver(OrderCancelled(entity_id=order_id, version=5, state=h.order_state(
        store, customer_id=job.customer_id, status="CANCELLED")))
    return Counter(outcomes), stored


async def test_two_riders_accept_at_once_exactly_one_wins_100_times(
    dialect_engine: tuple[str, AsyncEngine],
) -> None:
    h = harness(dialect_engine, fanout=2)
    # 100 rounds where concurrency is real (PostgreSQL); SQLite serialises writers anyway, so
    # a quarter of that keeps the embedded path covered within the test-time budget.
    rounds = 100 if h.dialect == "postgresql" else 25
    store = await h.store(prep_minutes=0)
    pair = {await h.rider(AKWA[0] + 0.001, AKWA[1]), await h.rider(AKWA[0] + 0.002, AKWA[1])}
    for _ in range(rounds):
        outcomes, stored = await _race(h, store, expected_offers=2)
        assert outcomes == {"won": 1, "taken": 1}
        assert stored.rider_id in pair
    assert len(await h.outbox("delivery.v1.RiderAssigned")) == rounds


async def test_ten_riders_accept_at_once_exactly_one_wins(
    dialect_engine: tuple[str, AsyncEngine],
) -> None:
    h = harness(dialect_engine, fanout=10)
    store = await h.store(prep_minutes=0)
    crew = [await h.rider(AKWA[0] + 0.0005 * i, AKWA[1]) for i in range(10)]
    for _ in range(3):
        outcomes, stored = await _race(h, store, expected_offers=10)
        assert outcomes == {"won": 1, "taken": 9}
        assert stored.rider_id in crew
    async with h.engine.connect() as conn:
        busy = (await conn.execute(sa.select(sa.func.count()).select_from(riders).where(
            riders.c.current_delivery_id.is_not(None)))).scalar_one()
    assert busy == 0  # every winner was freed by the cancellation: no rider left stuck


@pytest.mark.distributed
@pytest.mark.parametrize("dialect_engine", ["postgresql"], indirect=True)
async def test_without_the_guards_several_riders_win(
    dialect_engine: tuple[str, AsyncEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL only: SQLite's BEGIN IMMEDIATE serialises whole transactions, so the loser
    # reads the winner's write and the race cannot show there.
    async def unguarded_save(self: Any, delivery: Delivery, *, expected_version: int) -> bool:
        row = repositories._delivery_row(delivery)
        del row["id"]
        result = await self._s.execute(
            sa.update(deliveries).where(deliveries.c.id == delivery.id).values(**row))
        return bool(result.rowcount)

    async def unguarded_respond(self: Any, offer_id: uuid.UUID, rider_id: uuid.UUID, *,
                                status: str, now: Any) -> bool:
        result = await self._s.execute(
            sa.update(offers).where(offers.c.id == offer_id).values(status=status))
        return bool(result.rowcount)

    monkeypatch.setattr(repositories.SqlaDeliveryRepository, "save", unguarded_save)
    monkeypatch.setattr(repositories.SqlaOfferRepository, "respond", unguarded_respond)
    h = harness(dialect_engine, fanout=10)
    store = await h.store(prep_minutes=0)
    for i in range(10):
        await h.rider(AKWA[0] + 0.0005 * i, AKWA[1])
    worst = 0
    for _ in range(5):
        outcomes, _ = await _race(h, store, expected_offers=10)
        worst = max(worst, outcomes["won"])
        if worst > 1:
            break
    assert worst > 1, "the unguarded claim never double-assigned: the race test is blind"
    print(f"without the compare-and-swap guards: {worst} of 10 riders won the same job")
