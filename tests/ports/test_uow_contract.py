"""One contract for the unit of work, outbox and inbox, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from okada.contracts.base import IntegrationEvent
from okada.infra.bus.inprocess import InProcessBus
from okada.infra.db.outbox import OutboxRelay
from okada.infra.db.platform_tables import add_platform_tables
from okada.infra.db.types import new_metadata
from okada.infra.db.uow import SqlUnitOfWork, idempotent_consumer
from okada.kernel.errors import ConcurrencyConflict
from okada.kernel.messages import Envelope
from tests.support.databases import scratch_engine


class WidgetChanged(IntegrationEvent, schema="test.v1.WidgetChanged"):
    value: int


metadata = new_metadata()
tables = add_platform_tables(metadata)
widgets = sa.Table(
    "widgets",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("value", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.wakes = 0

    def uow(self) -> SqlUnitOfWork:
        def wake() -> None:
            self.wakes += 1

        return SqlUnitOfWork(service="test", sessions=self.sessions, tables=tables,
                             on_commit=wake)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.distributed)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with scratch_engine(request.param, tmp_path) as engine:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        yield Store(engine)


async def _save_widget(uow: SqlUnitOfWork, widget_id: uuid.UUID, value: int, expected: int) -> None:
    if expected == 0:
        await uow.session.execute(sa.insert(widgets).values(id=widget_id, value=value, version=1))
    else:
        result = await uow.session.execute(
            sa.update(widgets)
            .where(widgets.c.id == widget_id, widgets.c.version == expected)
            .values(value=value, version=expected + 1)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise ConcurrencyConflict()
    uow.publish(WidgetChanged(entity_id=widget_id, version=expected + 1, value=value))


async def _count(store: Store, table: sa.Table) -> int:
    async with store.engine.connect() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


async def test_commit_writes_state_and_outbox_together(store: Store) -> None:
    widget_id = uuid.uuid4()
    async with store.uow() as uow:
        await _save_widget(uow, widget_id, 5, expected=0)
        await uow.commit()
    assert await _count(store, widgets) == 1
    async with store.engine.connect() as conn:
        row = (await conn.execute(sa.select(tables["outbox"]))).one()
    assert row.schema == "test.v1.WidgetChanged"
    assert row.envelope["payload"] == {"entity_id": str(widget_id), "version": 1, "value": 5}
    assert row.published_at is None
    assert store.wakes == 1


async def test_leaving_without_commit_writes_nothing(store: Store) -> None:
    async with store.uow() as uow:
        await _save_widget(uow, uuid.uuid4(), 5, expected=0)
    with pytest.raises(RuntimeError):
        async with store.uow() as uow:
            await _save_widget(uow, uuid.uuid4(), 6, expected=0)
            raise RuntimeError("handler failed")
    assert await _count(store, widgets) == 0
    assert await _count(store, tables["outbox"]) == 0
    assert store.wakes == 0


async def test_stale_version_cannot_commit(store: Store) -> None:
    widget_id = uuid.uuid4()
    async with store.uow() as uow:
        await _save_widget(uow, widget_id, 1, expected=0)
        await uow.commit()

    async def writer(value: int) -> str:
        try:
            async with store.uow() as uow:
                await _save_widget(uow, widget_id, value, expected=1)
                await uow.commit()
            return "ok"
        except ConcurrencyConflict:
            return "conflict"

    results = await asyncio.gather(*(writer(v) for v in range(10)))
    assert sorted(results) == ["conflict"] * 9 + ["ok"]
    async with store.engine.connect() as conn:
        version = await conn.scalar(sa.select(widgets.c.version))
    assert version == 2
    assert await _count(store, tables["outbox"]) == 2  # the losers left no event behind


async def test_inbox_applies_each_message_once_even_concurrently(store: Store) -> None:
    applied: list[int] = []

    async def handler(event: IntegrationEvent, uow: SqlUnitOfWork) -> None:
        assert isinstance(event, WidgetChanged)
        applied.append(event.value)
        await uow.session.execute(
            sa.insert(widgets).values(id=uuid.uuid4(), value=event.value, version=1)
        )

    consume = idempotent_consumer("test-consumer", store.uow, handler,
                                  {WidgetChanged.schema_name: WidgetChanged})
    event = WidgetChanged(entity_id=uuid.uuid4(), version=1, value=42)
    envelope = Envelope(schema=event.schema_name, payload=event.to_payload(), producer="t")
    results = await asyncio.gather(*(consume(envelope) for _ in range(5)),
                                   return_exceptions=True)
    await consume(envelope)
    # one delivery applied it; the racing ones were turned away by the inbox key
    assert results == [None] * 5
    assert applied == [42]
    assert await _count(store, widgets) == 1
    assert await _count(store, tables["inbox"]) == 1


async def test_relay_publishes_in_order_and_marks_rows(store: Store) -> None:
    bus = InProcessBus()
    received: list[int] = []

    async def on_message(envelope: Envelope) -> None:
        received.append(envelope.payload["value"])

    bus.subscribe("test-consumer", [WidgetChanged.schema_name], on_message)
    await bus.start()
    for value in range(20):
        async with store.uow() as uow:
            await _save_widget(uow, uuid.uuid4(), value, expected=0)
            await uow.commit()
    relay = OutboxRelay(service="test", engine=store.engine, outbox=tables["outbox"], bus=bus,
                        batch_size=7)
    while await relay.publish_pending():
        pass
    await bus.close()
    assert received == list(range(20))
    assert await relay.backlog() == 0


async def test_relay_keeps_rows_when_the_bus_refuses(store: Store) -> None:
    class DownBus(InProcessBus):
        async def publish(self, envelopes: object) -> None:  # type: ignore[override]
            raise ConnectionError("broker down")

    async with store.uow() as uow:
        await _save_widget(uow, uuid.uuid4(), 1, expected=0)
        await uow.commit()
    relay = OutboxRelay(service="test", engine=store.engine, outbox=tables["outbox"],
                        bus=DownBus())
    assert await relay.publish_pending() == 0
    assert await relay.backlog() == 1
    async with store.engine.connect() as conn:
        row = (await conn.execute(sa.select(tables["outbox"]))).one()
    assert row.attempts == 1
    assert "broker down" in row.last_error


@pytest.mark.distributed
async def test_relay_never_skips_a_row_committed_after_a_higher_seq(tmp_path: Path) -> None:
    # Only PostgreSQL can commit a lower sequence number after a higher one (SQLite
    # serialises writers), which is exactly the case an "id > last seen" relay gets wrong.
    async with scratch_engine("postgresql", tmp_path) as engine:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        store = Store(engine)
        bus = InProcessBus()
        received: list[int] = []

        async def on_message(envelope: Envelope) -> None:
            received.append(envelope.payload["value"])

        bus.subscribe("c", [WidgetChanged.schema_name], on_message)
        await bus.start()
        relay = OutboxRelay(service="test", engine=engine, outbox=tables["outbox"], bus=bus)
        slow = store.uow()
        await slow.__aenter__()
        await _save_widget(slow, uuid.uuid4(), 1, expected=0)
        await slow.flush_events()  # its outbox seq is drawn now, not yet committed
        async with store.uow() as fast:
            await _save_widget(fast, uuid.uuid4(), 2, expected=0)
            await fast.commit()
        await relay.publish_pending()
        assert received == [2]
        await slow.commit()
        await slow.__aexit__(None, None, None)
        await relay.publish_pending()
        assert received == [2, 1]
        assert await relay.backlog() == 0
        await bus.close()
