"""SQLAlchemy Core adapters: event store, projections, read models, saga rows, unit of work.

The append is the only write of an order: a batch INSERT into ``order_events`` whose primary
key (stream_id, version) refuses a second writer at the same version on both dialects (on
PostgreSQL the loser waits for the winner's commit, then gets the unique violation; on SQLite
writers take turns under ``BEGIN IMMEDIATE``). In the same transaction: the snapshot when the
stream crossed a multiple of N, every projection (guarded by its tracking row) and the
``orders.v1`` events in the outbox.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from okada.infra.db.results import rows_affected
from okada.infra.db.uow import SqlUnitOfWork
from okada.services.orders.adapters.orm import (
    local_offers,
    local_places,
    local_products,
    local_stores,
    local_user_phones,
    local_users,
    order_events,
    order_snapshots,
    orders_view,
    projection_tracking,
    saga_steps,
)
from okada.services.orders.adapters.translators import contract_event, order_state, public_view
from okada.services.orders.application.ports import (
    EventStore,
    LocalReadModels,
    OrderViews,
    SagaStep,
    SagaSteps,
    StreamConflict,
    ViewFilter,
    ViewPage,
)
from okada.services.orders.domain.checkout import OfferInfo, StoreInfo
from okada.services.orders.domain.order import PENDING_PAYMENT, DomainEvent, Order

VIEW_PROJECTION = "orders_view"


def _insert(session: AsyncSession) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


# Statements of the checkout path, built once and executed with parameters: building a
# statement (and its cache key) per call costs more Python CPU than compiling it, which the
# compiled cache already spares.
_EVENTS_AFTER_SNAPSHOT = (
    select(order_events)
    .where(order_events.c.stream_id == bindparam("sid"),
           order_events.c.version > func.coalesce(
               select(order_snapshots.c.version)
               .where(order_snapshots.c.stream_id == bindparam("sid"))
               .scalar_subquery(), 0))
    .order_by(order_events.c.version)
)
_STORE_DATA = select(local_stores.c.data).where(local_stores.c.store_id == bindparam("sid"))
_OFFERS = (
    select(local_offers.c.product_id, local_offers.c.price_xaf, local_offers.c.listed,
           local_products.c.product_id.label("known"), local_products.c.deleted,
           local_products.c.name, local_products.c.unit)
    .select_from(local_offers.outerjoin(
        local_products, local_products.c.product_id == local_offers.c.product_id))
    .where(local_offers.c.store_id == bindparam("sid"),
           local_offers.c.product_id.in_(bindparam("pids", expanding=True)))
)
_USER_LANGUAGE = select(local_users.c.language).where(local_users.c.user_id == bindparam("uid"))
_TRACK_MOVE = (
    update(projection_tracking)
    .where(projection_tracking.c.projection == bindparam("p"),
           projection_tracking.c.stream_id == bindparam("sid"),
           projection_tracking.c.version == bindparam("expected"))
    .values(version=bindparam("v"))
)
_TRACK_START: dict[str, Any] = {}


def _track_start(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    statement = _TRACK_START.get(dialect)
    if statement is None:
        statement = _insert(session)(projection_tracking).on_conflict_do_nothing(
            index_elements=["projection", "stream_id"])
        _TRACK_START[dialect] = statement
    return statement


def _event(row: Any) -> DomainEvent:
    return DomainEvent(type=row.type, data=dict(row.data), actor_id=row.actor_id,
                       actor_role=row.actor_role, reason=row.reason, at=row.recorded_at,
                       version=row.version)


class OrderViewProjector:
    """The ``orders_view`` projection: one row per order, upserted from each event's state."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def apply(self, event: DomainEvent, order: Order) -> bool:
        """Apply one event (``order`` is the state after it) once; False if already applied."""
        return await self.apply_appended(event.version, event.version, order)

    async def apply_appended(self, first: int, last: int, order: Order) -> bool:
        """Apply the events ``first..last`` of one append at once (``order``: the state after).

        The row only ever holds the state after the newest applied event, so one append of
        several events (checkout appends ``OrderPlaced`` and ``OrderConfirmed`` together)
        costs one tracking statement and one row write instead of one pair per event. The
        tracking row moves from ``first - 1`` straight to ``last``; False if it was not at
        ``first - 1`` (already applied).
        """
        if not await _track(self._s, VIEW_PROJECTION, order.id, last, first=first):
            return False
        state = order_state(order)
        values = {
            "customer_id": order.customer_id,
            "store_id": order.store_id,
            "rider_id": order.rider_id,
            "status": order.status,
            "payment_method": order.payment_method,
            "payer_phone": order.payer_phone,
            "contact_phone": order.address.get("contact_phone"),
            "total_xaf": order.total_xaf,
            "placed_at": order.placed_at,
            "updated_at": order.updated_at,
            "version": last,
            "state": public_view(order, state),
        }
        if first == 1:
            await self._s.execute(insert(orders_view), {"order_id": order.id, **values})
        else:
            await self._s.execute(
                update(orders_view).where(orders_view.c.order_id == order.id).values(**values))
        return True


async def _track(session: AsyncSession, projection: str, stream_id: uuid.UUID,
                 version: int, *, first: int | None = None) -> bool:
    """Advance the projection's position on the stream from ``first - 1`` to ``version``.

    ``first`` defaults to ``version`` (one event); False if the position was elsewhere.
    """
    start = version if first is None else first
    if start == 1:
        result = await session.execute(_track_start(session), {
            "projection": projection, "stream_id": stream_id, "version": version})
    else:
        result = await session.execute(_TRACK_MOVE, {
            "p": projection, "sid": stream_id, "expected": start - 1, "v": version})
    return rows_affected(result) == 1


class SqlEventStore:
    """Order streams in ``order_events`` with snapshots every ``snapshot_every`` events."""

    def __init__(self, uow: OrdersUoW, snapshot_every: int) -> None:
        self._uow = uow
        self._every = max(1, snapshot_every)

    async def load(self, order_id: uuid.UUID) -> Order | None:
        s = self._uow.session
        # One round trip for the usual case (no snapshot yet, e.g. checkout's existence
        # check): the events after the snapshot's version, if any, else all of them.
        rows = (await s.execute(_EVENTS_AFTER_SNAPSHOT, {"sid": order_id})).all()
        snapshot: dict[str, Any] | None = None
        if not rows or rows[0].version > 1:
            snap = (await s.execute(
                select(order_snapshots.c.state)
                .where(order_snapshots.c.stream_id == order_id))).first()
            if snap is None and not rows:
                return None
            snapshot = dict(snap.state) if snap is not None else None
        return Order.replay(order_id, [_event(r) for r in rows], snapshot)

    async def history(self, order_id: uuid.UUID) -> list[DomainEvent]:
        rows = (await self._uow.session.execute(
            select(order_events).where(order_events.c.stream_id == order_id)
            .order_by(order_events.c.version))).all()
        return [_event(r) for r in rows]

    async def save(self, order: Order) -> list[DomainEvent]:
        pending = order.collect()
        if not pending:
            return []
        s = self._uow.session
        try:
            # No savepoint: on a conflict the caller abandons this transaction and reloads.
            await s.execute(insert(order_events), [
                {"stream_id": order.id, "version": e.version, "type": e.type,
                 "data": e.data, "actor_id": e.actor_id, "actor_role": e.actor_role,
                 "reason": (e.reason or None) and e.reason[:500], "recorded_at": e.at}
                for e, _ in pending
            ])
        except IntegrityError:
            raise StreamConflict() from None
        first, last = pending[0][0].version, pending[-1][0].version
        if last // self._every > (first - 1) // self._every:
            await self._snapshot(order)
        # The append owns versions first..last (the insert above would have failed
        # otherwise), so the view takes the final state in one step.
        await OrderViewProjector(s).apply_appended(first, last, pending[-1][1])
        for event, state_after in pending:
            contract = contract_event(event, state_after, order_state(state_after))
            if contract is not None:
                self._uow.publish(contract, aggregate_id=str(order.id))
        return [e for e, _ in pending]

    async def _snapshot(self, order: Order) -> None:
        s = self._uow.session
        values = {"version": order.version, "state": order.to_data(),
                  "taken_at": self._uow.clock.now()}
        await s.execute(
            _insert(s)(order_snapshots).values(stream_id=order.id, **values)
            .on_conflict_do_update(index_elements=["stream_id"], set_=values))


class SqlOrderViews:
    """Queries on ``orders_view``."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    def render(self, order: Order) -> dict[str, Any]:
        return public_view(order, order_state(order))

    async def get(self, order_id: uuid.UUID) -> dict[str, Any] | None:
        row = (await self._s.execute(
            select(orders_view.c.state).where(orders_view.c.order_id == order_id))).first()
        return None if row is None else dict(row.state)

    async def count_unpaid(self, customer_id: uuid.UUID) -> int:
        value = (await self._s.execute(
            select(func.count()).select_from(orders_view).where(
                orders_view.c.customer_id == customer_id,
                orders_view.c.status == PENDING_PAYMENT))).scalar_one()
        return int(value)

    async def page(self, where: ViewFilter) -> ViewPage:
        v = orders_view.c
        query = select(v.state, v.placed_at, v.order_id)
        if where.customer_id is not None:
            query = query.where(v.customer_id == where.customer_id)
        if where.store_ids is not None:
            query = query.where(v.store_id.in_(list(where.store_ids)))
        if where.statuses:
            query = query.where(v.status.in_(list(where.statuses)))
        if where.order_id is not None:
            query = query.where(v.order_id == where.order_id)
        if where.phone:
            owners = select(local_user_phones.c.user_id).where(
                local_user_phones.c.e164 == where.phone)
            query = query.where(or_(v.payer_phone == where.phone,
                                    v.contact_phone == where.phone,
                                    v.customer_id.in_(owners)))
        if where.before is not None:
            at, last = where.before
            query = query.where(or_(v.placed_at < at, and_(v.placed_at == at, v.order_id < last)))
        rows = (await self._s.execute(
            query.order_by(v.placed_at.desc(), v.order_id.desc()).limit(where.limit))).all()
        next_after = None
        if len(rows) == where.limit:
            next_after = (rows[-1].placed_at, rows[-1].order_id)
        return ViewPage(items=[dict(r.state) for r in rows], next_after=next_after)


class SqlLocalReadModels:
    """Stores, products, offers, users and places from catalog and identity events."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def store(self, store_id: uuid.UUID) -> StoreInfo | None:
        row = (await self._s.execute(_STORE_DATA, {"sid": store_id})).first()
        if row is None:
            return None
        d = row.data
        return StoreInfo(
            id=store_id, city=d["city"], lat=d["lat"], lng=d["lng"],
            delivery_radius_m=d.get("delivery_radius_m"),
            delivery_polygon=[(float(a), float(b)) for a, b in d["delivery_polygon"]]
            if d.get("delivery_polygon") else None,
            opening_hours=list(d.get("opening_hours") or []),
            timezone=d.get("timezone") or "Africa/Douala", status=d["status"],
            prep_minutes=int(d.get("prep_minutes") or 0), deleted=bool(d.get("deleted")),
        )

    async def offers(self, store_id: uuid.UUID,
                     product_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, OfferInfo]:
        if not product_ids:
            return {}
        rows = (await self._s.execute(
            _OFFERS, {"sid": store_id, "pids": list(product_ids)})).all()
        return {
            r.product_id: OfferInfo(
                product_id=r.product_id, price_xaf=int(r.price_xaf), listed=bool(r.listed),
                known_product=r.known is not None, product_deleted=bool(r.deleted),
                name=dict(r.name or {}), unit=dict(r.unit or {}))
            for r in rows
        }

    async def user_language(self, user_id: uuid.UUID) -> str | None:
        row = (await self._s.execute(_USER_LANGUAGE, {"uid": user_id})).first()
        return None if row is None else str(row.language)

    async def place(self, place_id: uuid.UUID) -> tuple[uuid.UUID, dict[str, Any]] | None:
        row = (await self._s.execute(
            select(local_places).where(local_places.c.place_id == place_id))).first()
        if row is None or row.deleted:
            return None
        return row.user_id, dict(row.address)

    async def upsert(self, kind: str, key: tuple[uuid.UUID, ...], version: int,
                     values: dict[str, Any]) -> bool:
        table, columns, row = _LOCAL[kind], _KEYS[kind], dict(values)
        if kind == "store":
            row = {"data": values}
        elif kind == "user":
            row = {"language": values["language"], "phones": values["phones"]}
        elif kind == "place":
            row = {"user_id": values["user_id"], "deleted": values["deleted"],
                   "address": values["address"]}
        ident = dict(zip(columns, key, strict=True))
        guard = and_(*(table.c[c] == ident[c] for c in columns), table.c.version < version)
        result = await self._s.execute(update(table).where(guard).values(version=version, **row))
        if rows_affected(result) == 0:
            inserted = await self._s.execute(
                _insert(self._s)(table).values(**ident, version=version, **row)
                .on_conflict_do_nothing(index_elements=list(columns)))
            if rows_affected(inserted) == 0:
                return False  # a newer (or the same) version is stored
        if kind == "user":
            await self._s.execute(delete(local_user_phones).where(
                local_user_phones.c.user_id == key[0]))
            phones = sorted(set(values["phones"]))
            if phones:
                await self._s.execute(insert(local_user_phones),
                                      [{"e164": x, "user_id": key[0]} for x in phones])
        return True


_LOCAL = {"store": local_stores, "product": local_products, "offer": local_offers,
          "user": local_users, "place": local_places}
_KEYS: dict[str, tuple[str, ...]] = {
    "store": ("store_id",), "product": ("product_id",), "offer": ("store_id", "product_id"),
    "user": ("user_id",), "place": ("place_id",),
}


class SqlSagaSteps:
    """``saga_steps`` rows."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def schedule(self, order_id: uuid.UUID, step: str, due_at: dt.datetime,
                       payload: dict[str, Any]) -> None:
        await self._s.execute(
            _insert(self._s)(saga_steps)
            .values(order_id=order_id, step=step, due_at=due_at, attempts=0, payload=payload)
            .on_conflict_do_nothing(index_elements=["order_id", "step"]))

    async def due(self, now: dt.datetime, limit: int) -> list[SagaStep]:
        rows = (await self._s.execute(
            select(saga_steps).where(saga_steps.c.done_at.is_(None), saga_steps.c.due_at <= now)
            .order_by(saga_steps.c.due_at).limit(limit))).all()
        return [SagaStep(order_id=r.order_id, step=r.step, due_at=r.due_at,
                         attempts=r.attempts, payload=dict(r.payload)) for r in rows]

    async def claim(self, step: SagaStep, lease_until: dt.datetime) -> bool:
        result = await self._s.execute(
            update(saga_steps)
            .where(saga_steps.c.order_id == step.order_id, saga_steps.c.step == step.step,
                   saga_steps.c.due_at == step.due_at, saga_steps.c.done_at.is_(None))
            .values(due_at=lease_until, attempts=saga_steps.c.attempts + 1))
        return rows_affected(result) == 1

    async def finish(self, order_id: uuid.UUID, step: str, now: dt.datetime,
                     note: str | None = None) -> None:
        await self._s.execute(
            update(saga_steps)
            .where(saga_steps.c.order_id == order_id, saga_steps.c.step == step)
            .values(done_at=now, note=(note or None) and note[:200], last_error=None))

    async def retry_at(self, order_id: uuid.UUID, step: str, due_at: dt.datetime,
                       error: str) -> None:
        await self._s.execute(
            update(saga_steps)
            .where(saga_steps.c.order_id == order_id, saga_steps.c.step == step,
                   saga_steps.c.done_at.is_(None))
            .values(due_at=due_at, last_error=error))

    async def pending(self, order_id: uuid.UUID) -> list[str]:
        rows = (await self._s.execute(
            select(saga_steps.c.step).where(saga_steps.c.order_id == order_id,
                                            saga_steps.c.done_at.is_(None)))).all()
        return sorted(r.step for r in rows)


class OrdersUoW(SqlUnitOfWork):
    """The orders unit of work: event store, views, read models and saga in one transaction."""

    orders: EventStore
    views: OrderViews
    local: LocalReadModels
    saga: SagaSteps

    def __init__(self, *, snapshot_every: int = 10, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.snapshot_every = snapshot_every

    async def __aenter__(self) -> OrdersUoW:
        await super().__aenter__()
        self.orders = SqlEventStore(self, self.snapshot_every)
        self.views = SqlOrderViews(self.session)
        self.local = SqlLocalReadModels(self.session)
        self.saga = SqlSagaSteps(self.session)
        return self


async def rebuild_projections(uow: OrdersUoW, *, truncate: bool = True) -> int:
    """Rebuild ``orders_view`` from every stream; return how many events were applied.

    With ``truncate`` the read model and its tracking rows are emptied first (a rebuild);
    without, already applied events are skipped by the tracking rows (a replay no-op).
    """
    s = uow.session
    if truncate:
        await s.execute(delete(orders_view))
        await s.execute(delete(projection_tracking).where(
            projection_tracking.c.projection == VIEW_PROJECTION))
    streams = (await s.execute(select(order_events.c.stream_id).distinct())).scalars().all()
    applied = 0
    projector = OrderViewProjector(s)
    for stream_id in sorted(streams):
        rows = (await s.execute(
            select(order_events).where(order_events.c.stream_id == stream_id)
            .order_by(order_events.c.version))).all()
        order = Order.empty(stream_id)
        for row in rows:
            event = _event(row)
            order.apply(event)
            if await projector.apply(event, order):
                applied += 1
    return applied
