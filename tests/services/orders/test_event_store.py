"""Event store: snapshots, projection rebuild equality, the optimistic check under contention
(PostgreSQL) and the no-oversell checkout race through the public API (PostgreSQL)."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from okada.cli.main import main
from okada.infra.db.engine import create_engine
from okada.services.orders.application.ports import StreamConflict
from okada.services.orders.domain import order as domain
from tests.services.orders.conftest import Harness, harness_on
from tests.support.services import require_postgres


def _plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(({k: (v.isoformat() if isinstance(v, dt.datetime) else v)
                    for k, v in r.items()} for r in rows), key=repr)


async def read_models(h: Harness) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return (_plain(await h.rows("orders_view")), _plain(await h.rows("projection_tracking")))


async def test_snapshots_and_rebuild_equality(tmp_path: Path) -> None:
    async with harness_on("sqlite", tmp_path, snapshot_every=3) as h:
        await h.seed_store()
        ids = []
        for method in ("cash", "cash", "mtn_momo"):
            response = await h.checkout(uuid.uuid4(), h.body(
                method=method, phone="+237677123456" if method != "cash" else None))
            assert response.status_code == 201
            ids.append(response.json()["id"])
        for step in ("accept", "preparing", "ready"):
            moved = await h.orders.post(f"/v1/merchant/orders/{ids[0]}/{step}",
                                        headers=h.merchant())
            assert moved.status_code == 200
        await h.orders.post(f"/v1/merchant/orders/{ids[1]}/lines/{h.products[1]}/unavailable",
                            headers=h.merchant())
        # Every third event a snapshot: ids[0] (5 events) and ids[1] (3 events) at version 3.
        snapshots = {str(uuid.UUID(str(s["stream_id"]))): s["version"]
                     for s in await h.rows("order_snapshots")}
        assert snapshots == {ids[0]: 3, ids[1]: 3}
        # Loading from the snapshot + later events equals the full replay.
        async with h.host.runtimes["orders"].app.state.uow_factory() as uow:
            loaded = await uow.orders.load(uuid.UUID(ids[0]))
            history = await uow.orders.history(uuid.UUID(ids[0]))
        replayed = domain.Order.replay(uuid.UUID(ids[0]), history)
        assert loaded is not None and loaded.to_data() == replayed.to_data()
        assert loaded.status == domain.READY_FOR_PICKUP

        live = await read_models(h)
        rebuild = h.host.runtimes["orders"].app.state.rebuild_projections
        applied = await rebuild()
        assert applied == len(await h.rows("order_events")) == 2 + 2 + 1 + 3 + 1
        assert await read_models(h) == live
        assert await rebuild(truncate=False) == 0  # a second replay applies nothing
        assert await read_models(h) == live


@pytest.mark.distributed
async def test_concurrent_appends_one_wins_on_postgres(tmp_path: Path) -> None:
    require_postgres()
    async with harness_on("postgresql", tmp_path) as h:
        await h.seed_store(products=2)
        response = await h.checkout(uuid.uuid4(), h.body())
        assert response.status_code == 201
        order_id = uuid.UUID(response.json()["id"])
        uow_factory = h.host.runtimes["orders"].app.state.uow_factory
        async with uow_factory() as uow:
            loaded = await uow.orders.load(order_id)
        assert loaded is not None and loaded.version == 2
        store = domain.Actor(uuid.uuid4(), domain.MERCHANT, frozenset({h.store_id}))

        async def append() -> str:
            mine = copy.deepcopy(loaded)
            assert mine.transition(domain.ACCEPTED, store, h.clock.now())
            try:
                async with uow_factory() as uow:
                    await uow.orders.save(mine)
                    await uow.commit()
            except StreamConflict:
                return "conflict"
            return "won"

        outcomes = await asyncio.gather(*(append() for _ in range(100)))
        assert outcomes.count("won") == 1 and outcomes.count("conflict") == 99
        events = await h.rows("order_events", "WHERE stream_id = :s", s=order_id)
        assert sorted(e["version"] for e in events) == [1, 2, 3]
        view = await h.orders.get(f"/v1/orders/{order_id}", headers=h.operations())
        assert (view.json()["version"], view.json()["status"]) == (3, "ACCEPTED")
        assert len(await h.outbox("orders.v1.OrderAccepted")) == 1


@pytest.mark.distributed
async def test_two_hundred_checkouts_for_the_last_ten_units(tmp_path: Path) -> None:
    require_postgres()
    async with harness_on("postgresql", tmp_path) as h:
        await h.seed_store(products=1, stock=10)
        product = h.products[0]

        async def buy() -> int:
            response = await h.checkout(uuid.uuid4(), h.body(lines=[(product, 1)]))
            if response.status_code == 409:
                assert response.json()["code"] == "out_of_stock", response.text
            return response.status_code

        statuses = await asyncio.gather(*(buy() for _ in range(200)))
        assert statuses.count(201) == 10, sorted(set(statuses))
        assert statuses.count(409) == 190
        assert not [s for s in statuses if s >= 500]
        assert await h.levels(product) == (10, 10)
        assert len(await h.rows("order_events", "WHERE type = 'OrderPlaced'")) == 10
        assert len(await h.outbox("orders.v1.OrderPlaced")) == 10


def test_cli_projections_rebuild_restores_a_broken_read_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``okada projections rebuild orders`` on the embedded database files."""

    async def place_orders() -> tuple[Any, Any]:
        async with harness_on("sqlite", tmp_path) as h:
            await h.seed_store(products=2)
            for _ in range(3):
                assert (await h.checkout(uuid.uuid4())).status_code == 201
            live = await read_models(h)
            async with h.ctx.engine("orders").begin() as conn:
                await conn.execute(sa.text("DELETE FROM orders_view"))
        return live

    async def current() -> tuple[Any, Any]:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}")
        try:
            async with engine.connect() as conn:
                views = [dict(r._mapping) for r in await conn.execute(
                    sa.text("SELECT * FROM orders_view"))]
                tracking = [dict(r._mapping) for r in await conn.execute(
                    sa.text("SELECT * FROM projection_tracking"))]
        finally:
            await engine.dispose()
        return _plain(views), _plain(tracking)

    live = asyncio.run(place_orders())
    assert asyncio.run(current())[0] == []
    monkeypatch.setenv("OKADA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("OKADA_MODE", "embedded")
    assert main(["projections", "rebuild", "orders"]) == 0
    assert asyncio.run(current()) == live
