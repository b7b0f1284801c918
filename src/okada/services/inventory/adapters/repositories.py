"""SQLAlchemy Core repositories and the inventory unit of work.

Every stock change is one conditional UPDATE valid on PostgreSQL and SQLite alike: the guard
in the WHERE clause and the write happen in one statement, so no reader can act on a level
another transaction is about to change. On PostgreSQL (read committed) a concurrent updater
of the same row waits for the first to commit and then re-evaluates the WHERE clause on the
new row; on SQLite every transaction starts with ``BEGIN IMMEDIATE`` and writers take turns.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Executable,
    Integer,
    and_,
    bindparam,
    false,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.engine import Result
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from okada.infra.db.results import rows_affected
from okada.infra.db.uow import SqlUnitOfWork
from okada.kernel.clock import Clock
from okada.services.inventory.adapters.orm import (
    catalog_products,
    reservation_lines,
    reservations,
    stock_adjustments,
    stock_items,
)
from okada.services.inventory.application.errors import ReservationExists, TransientConflict
from okada.services.inventory.application.model import AdjustmentRecord, ProductStatus
from okada.services.inventory.application.ports import (
    AdjustmentRepository,
    CatalogRepository,
    ReservationRepository,
    StockRepository,
)
from okada.services.inventory.domain.reservation import Line, Reservation, ReservationStatus
from okada.services.inventory.domain.stock import AdjustmentKind, StockItem

TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
"""PostgreSQL deadlock_detected and serialization_failure: the transaction may be rerun."""


def is_transient(exc: DBAPIError) -> bool:
    """Whether the driver error is a deadlock or serialization failure."""
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in TRANSIENT_SQLSTATES


async def _execute(session: AsyncSession, statement: Executable,
                   params: dict[str, Any] | None = None) -> Result[Any]:
    try:
        return await session.execute(statement, params)
    except DBAPIError as exc:
        if is_transient(exc):
            raise TransientConflict() from exc
        raise


def _item(row: Any) -> StockItem:
    return StockItem(
        store_id=row.store_id,
        product_id=row.product_id,
        on_hand=row.on_hand,
        reserved=row.reserved,
        low_stock_threshold=row.low_stock_threshold,
        listed=row.listed,
        removed=row.removed,
        version=row.version,
    )




# The hold of one line, built once and executed with parameters (three per checkout): the
# guard (StockItem.can_reserve) and the write in one statement.
_QUANTITY = bindparam("qty", type_=Integer)
_RESERVE_LINE = (
    update(stock_items)
    .where(
        stock_items.c.store_id == bindparam("sid"),
        stock_items.c.product_id == bindparam("pid"),
        stock_items.c.on_hand - stock_items.c.reserved >= _QUANTITY,
        stock_items.c.listed.is_(true()),
        stock_items.c.removed.is_(false()),
    )
    .values(
        reserved=stock_items.c.reserved + _QUANTITY,
        version=stock_items.c.version + 1,
        updated_at=bindparam("now"),
    )
    .returning(*stock_items.c)
)


class SqlaStockRepository(StockRepository):
    """Stock items; every level change is a single guarded UPDATE … RETURNING."""

    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self._s = session
        self._clock = clock

    async def get_many(
        self, store_id: uuid.UUID, product_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, StockItem]:
        if not product_ids:
            return {}
        result = await _execute(
            self._s,
            select(stock_items).where(
                stock_items.c.store_id == store_id, stock_items.c.product_id.in_(product_ids)
            ),
        )
        return {row.product_id: _item(row) for row in result}

    async def list_store(
        self, store_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
    ) -> list[StockItem]:
        query = select(stock_items).where(stock_items.c.store_id == store_id)
        if after is not None:
            query = query.where(stock_items.c.product_id > after)
        query = query.order_by(stock_items.c.product_id).limit(limit)
        return [_item(row) for row in await _execute(self._s, query)]

    async def _change(self, where: list[Any], values: dict[str, Any]) -> StockItem | None:
        statement = (
            update(stock_items)
            .where(*where)
            .values(
                **values, version=stock_items.c.version + 1, updated_at=self._clock.now()
            )
            .returning(*stock_items.c)
        )
        row = (await _execute(self._s, statement)).first()
        return None if row is None else _item(row)

    def _key(self, store_id: uuid.UUID, product_id: uuid.UUID) -> list[Any]:
        return [stock_items.c.store_id == store_id, stock_items.c.product_id == product_id]

    async def reserve(
        self, store_id: uuid.UUID, product_id: uuid.UUID, quantity: int
    ) -> StockItem | None:
        row = (await _execute(self._s, _RESERVE_LINE, {
            "sid": store_id, "pid": product_id, "qty": quantity, "now": self._clock.now(),
        })).first()
        return None if row is None else _item(row)

    async def unreserve(
        self, store_id: uuid.UUID, product_id: uuid.UUID, quantity: int
    ) -> StockItem:
        item = await self._change(
            [*self._key(store_id, product_id), stock_items.c.reserved >= quantity],
            {"reserved": stock_items.c.reserved - quantity},
        )
        if item is None:  # a held line always has its units reserved: this is a bug
            raise RuntimeError(f"reserved stock missing for {store_id}/{product_id}")
        return item

    async def ship(self, store_id: uuid.UUID, product_id: uuid.UUID, quantity: int) -> StockItem:
        item = await self._change(
            [*self._key(store_id, product_id), stock_items.c.reserved >= quantity],
            {
                "on_hand": stock_items.c.on_hand - quantity,
                "reserved": stock_items.c.reserved - quantity,
            },
        )
        if item is None:
            raise RuntimeError(f"reserved stock missing for {store_id}/{product_id}")
        return item

    async def add_to_on_hand(
        self, store_id: uuid.UUID, product_id: uuid.UUID, delta: int
    ) -> StockItem | None:
        # Relative and guarded: reservations landing meanwhile are kept, no retry needed.
        return await self._change(
            [
                *self._key(store_id, product_id),
                stock_items.c.on_hand + delta >= stock_items.c.reserved,
            ],
            {"on_hand": stock_items.c.on_hand + delta},
        )

    async def replace_on_hand(
        self, store_id: uuid.UUID, product_id: uuid.UUID, *, expected: int, on_hand: int
    ) -> StockItem | None:
        # Compare-and-swap on the shelf count itself rather than the version: reservations
        # only move ``reserved``, so a count on a busy item is not refused for them.
        return await self._change(
            [
                *self._key(store_id, product_id),
                stock_items.c.on_hand == expected,
                stock_items.c.reserved <= on_hand,
            ],
            {"on_hand": on_hand},
        )

    def _row(self, item: StockItem, offer_version: int) -> dict[str, Any]:
        return {
            "store_id": item.store_id,
            "product_id": item.product_id,
            "on_hand": item.on_hand,
            "reserved": item.reserved,
            "low_stock_threshold": item.low_stock_threshold,
            "listed": item.listed,
            "removed": item.removed,
            "offer_version": offer_version,
            "version": item.version,
            "updated_at": self._clock.now(),
        }

    async def add(self, item: StockItem, *, offer_version: int = 0) -> bool:
        try:
            async with self._s.begin_nested():
                row = self._row(item, offer_version)
                await _execute(self._s, insert(stock_items).values(**row))
        except IntegrityError:
            return False
        return True

    async def add_many(self, items: Sequence[StockItem]) -> None:
        if items:
            await self._s.execute(insert(stock_items), [self._row(i, 0) for i in items])

    async def count(self) -> int:
        return int(await self._s.scalar(select(func.count()).select_from(stock_items)) or 0)

    async def offer_version(self, store_id: uuid.UUID, product_id: uuid.UUID) -> int | None:
        value = await self._s.scalar(
            select(stock_items.c.offer_version).where(*self._key(store_id, product_id))
        )
        return None if value is None else int(value)

    async def set_listing(
        self, store_id: uuid.UUID, product_id: uuid.UUID, *, listed: bool, offer_version: int
    ) -> bool:
        result = await _execute(
            self._s,
            update(stock_items)
            .where(*self._key(store_id, product_id), stock_items.c.offer_version < offer_version)
            .values(listed=listed, offer_version=offer_version),
        )
        return rows_affected(result) == 1

    async def set_removed(self, product_id: uuid.UUID, removed: bool) -> int:
        result = await _execute(
            self._s,
            update(stock_items)
            .where(stock_items.c.product_id == product_id)
            .values(removed=removed),
        )
        return rows_affected(result)


class SqlaReservationRepository(ReservationRepository):
    """Reservations and their lines; status changes are guarded on the stored status."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get(self, order_id: uuid.UUID) -> Reservation | None:
        # One round trip: the reservation joined to its lines.
        rows = (
            await _execute(
                self._s,
                select(
                    reservations,
                    reservation_lines.c.product_id.label("line_product_id"),
                    reservation_lines.c.quantity.label("line_quantity"),
                )
                .outerjoin(reservation_lines)
                .where(reservations.c.order_id == order_id),
            )
        ).all()
        if not rows:
            return None
        row = rows[0]
        return Reservation(
            order_id=row.order_id,
            store_id=row.store_id,
            # Sorted here: the lock order must not depend on the database's row order.
            lines=tuple(sorted(Line(r.line_product_id, r.line_quantity) for r in rows
                               if r.line_product_id is not None)),
            status=ReservationStatus(row.status),
            created_at=row.created_at,
            expires_at=row.expires_at,
            updated_at=row.updated_at,
            version=row.version,
            release_reason=row.release_reason,
        )

    async def add(self, reservation: Reservation) -> None:
        try:
            await _execute(
                self._s,
                insert(reservations),
                {
                    "order_id": reservation.order_id,
                    "store_id": reservation.store_id,
                    "status": reservation.status.value,
                    "created_at": reservation.created_at,
                    "expires_at": reservation.expires_at,
                    "updated_at": reservation.updated_at,
                    "version": reservation.version,
                    "release_reason": reservation.release_reason,
                },
            )
        except IntegrityError as exc:
            raise ReservationExists() from exc
        await self._s.execute(
            insert(reservation_lines),
            [
                {"order_id": reservation.order_id, "product_id": x.product_id,
                 "quantity": x.quantity}
                for x in reservation.lines
            ],
        )

    async def save_transition(
        self,
        reservation: Reservation,
        *,
        from_status: ReservationStatus,
        due_by: dt.datetime | None = None,
        live_at: dt.datetime | None = None,
    ) -> bool:
        where = [
            reservations.c.order_id == reservation.order_id,
            reservations.c.status == from_status.value,
        ]
        if due_by is not None:
            where.append(reservations.c.expires_at <= due_by)
        if live_at is not None:
            where.append(reservations.c.expires_at > live_at)
        result = await _execute(
            self._s,
            update(reservations)
            .where(*where)
            .values(
                status=reservation.status.value,
                version=reservation.version,
                expires_at=reservation.expires_at,
                updated_at=reservation.updated_at,
                release_reason=reservation.release_reason,
            ),
        )
        return rows_affected(result) == 1

    async def due(self, now: dt.datetime, *, limit: int) -> list[uuid.UUID]:
        result = await _execute(
            self._s,
            select(reservations.c.order_id)
            .where(
                reservations.c.status == ReservationStatus.HELD.value,
                reservations.c.expires_at <= now,
            )
            .order_by(reservations.c.expires_at)
            .limit(limit),
        )
        return [row.order_id for row in result]


class SqlaAdjustmentRepository(AdjustmentRepository):
    """The append-only audit trail of stock adjustments."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, record: AdjustmentRecord) -> None:
        values = {**dataclasses.asdict(record), "kind": record.kind.value}
        await _execute(self._s, insert(stock_adjustments).values(**values))

    async def page(
        self,
        store_id: uuid.UUID,
        *,
        product_id: uuid.UUID | None,
        before: tuple[dt.datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[AdjustmentRecord]:
        t = stock_adjustments
        query = select(t).where(t.c.store_id == store_id)
        if product_id is not None:
            query = query.where(t.c.product_id == product_id)
        if before is not None:
            at, last_id = before
            query = query.where(
                or_(t.c.created_at < at, and_(t.c.created_at == at, t.c.id < last_id))
            )
        query = query.order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit)
        return [
            AdjustmentRecord(**{**row._mapping, "kind": AdjustmentKind(row.kind)})
            for row in await _execute(self._s, query)
        ]


class SqlaCatalogRepository(CatalogRepository):
    """The last applied catalog status of each product."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def product_status(self, product_id: uuid.UUID) -> ProductStatus | None:
        row = (
            await self._s.execute(
                select(catalog_products).where(catalog_products.c.product_id == product_id)
            )
        ).first()
        if row is None:
            return None
        return ProductStatus(product_id=row.product_id, version=row.version, removed=row.removed)

    async def save_product_status(self, status: ProductStatus) -> None:
        result = await self._s.execute(
            update(catalog_products)
            .where(catalog_products.c.product_id == status.product_id)
            .values(version=status.version, removed=status.removed)
        )
        if rows_affected(result) == 0:
            await self._s.execute(
                insert(catalog_products).values(
                    product_id=status.product_id, version=status.version, removed=status.removed
                )
            )


class InventoryUoW(SqlUnitOfWork):
    """The inventory unit of work with its repositories."""

    stock: StockRepository
    reservations: ReservationRepository
    adjustments: AdjustmentRepository
    catalog: CatalogRepository

    async def __aenter__(self) -> InventoryUoW:
        await super().__aenter__()
        self.stock = SqlaStockRepository(self.session, self.clock)
        self.reservations = SqlaReservationRepository(self.session)
        self.adjustments = SqlaAdjustmentRepository(self.session)
        self.catalog = SqlaCatalogRepository(self.session)
        return self

    async def commit(self) -> None:
        try:
            await super().commit()
        except DBAPIError as exc:
            if is_transient(exc):
                raise TransientConflict() from exc
            raise
