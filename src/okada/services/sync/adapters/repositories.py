"""SQLAlchemy Core repositories of the sync database and its unit of work.

The change counter is one row updated with ``seq = seq + 1 RETURNING seq``: on PostgreSQL the
row lock is held until commit so writers queue and seq order is commit order; on SQLite every
transaction starts with ``BEGIN IMMEDIATE`` (one writer at a time). Pull snapshots use
``REPEATABLE READ READ ONLY`` on PostgreSQL and one transaction on SQLite.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Self

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from okada.infra.db.results import rows_affected
from okada.infra.db.uow import SqlUnitOfWork
from okada.kernel.clock import Clock
from okada.services.sync.adapters.orm import (
    catalog_offers,
    catalog_products,
    place_links,
    stock_levels,
    stores,
    sync_clients,
    sync_records,
    sync_state,
    sync_tombstones,
    uploads,
)
from okada.services.sync.application.ports import (
    CatalogRepository,
    ClientLink,
    LinkRepository,
    Record,
    RecordRepository,
    StoreInfo,
    Upload,
    UploadRepository,
)
from okada.services.sync.domain.changes import StoredTombstone


def _insert(session: AsyncSession) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _record(row: Any) -> Record:
    return Record(row.table_name, row.scope, row.id, dict(row.data), int(row.server_seq),
                  int(row.server_created_seq), row.created_by_client, int(row.version),
                  None if row.source_version is None else int(row.source_version))




class SqlRecordRepository:
    """Synced records, tombstones and the counter."""

    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self._s = session
        self._clock = clock

    async def current_seq(self) -> int:
        return int((await self._s.execute(select(sync_state.c.seq).where(
            sync_state.c.id == 1))).scalar_one())

    async def horizon(self) -> int:
        return int((await self._s.execute(select(sync_state.c.tombstone_horizon).where(
            sync_state.c.id == 1))).scalar_one())

    async def next_seq(self) -> int:
        result = await self._s.execute(
            update(sync_state).where(sync_state.c.id == 1)
            .values(seq=sync_state.c.seq + 1).returning(sync_state.c.seq))
        value = result.scalar_one_or_none()
        if value is None:
            raise RuntimeError("the sync change counter row is missing; run the migrations")
        return int(value)

    def _key(self, table: str, scope: str, record_id: str) -> Any:
        return and_(sync_records.c.table_name == table, sync_records.c.scope == scope,
                    sync_records.c.id == record_id)

    async def get(self, table: str, scope: str, record_id: str) -> Record | None:
        row = (await self._s.execute(select(sync_records).where(
            self._key(table, scope, record_id)))).first()
        return None if row is None else _record(row)

    async def scopes_of(self, table: str, record_id: str) -> list[str]:
        live = await self._s.execute(select(sync_records.c.scope).where(
            sync_records.c.table_name == table, sync_records.c.id == record_id))
        dead = await self._s.execute(select(sync_tombstones.c.scope).where(
            sync_tombstones.c.table_name == table, sync_tombstones.c.id == record_id))
        return sorted({r.scope for r in live} | {r.scope for r in dead})

    async def tombstone_seq(self, table: str, scope: str, record_id: str) -> int | None:
        value = (await self._s.execute(select(sync_tombstones.c.seq).where(
            sync_tombstones.c.table_name == table, sync_tombstones.c.scope == scope,
            sync_tombstones.c.id == record_id))).scalar_one_or_none()
        return None if value is None else int(value)

    async def upsert(self, table: str, scope: str, record_id: str, data: Mapping[str, Any], *,
                     seq: int, client_id: str | None, source_version: int | None = None
                     ) -> Record:
        now = self._clock.now()
        result = await self._s.execute(
            update(sync_records).where(self._key(table, scope, record_id))
            .values(data=dict(data), server_seq=seq, version=sync_records.c.version + 1,
                    source_version=source_version, updated_at=now)
            .returning(*sync_records.c))
        row = result.first()
        if row is None:
            row = (await self._s.execute(
                insert(sync_records).values(
                    table_name=table, scope=scope, id=record_id, data=dict(data),
                    server_seq=seq, server_created_seq=seq, created_by_client=client_id,
                    version=1, source_version=source_version, updated_at=now)
                .returning(*sync_records.c))).one()
        await self._s.execute(delete(sync_tombstones).where(
            sync_tombstones.c.table_name == table, sync_tombstones.c.scope == scope,
            sync_tombstones.c.id == record_id))
        return _record(row)

    async def bump(self, table: str, scope: str, record_id: str, *, seq: int) -> None:
        await self._s.execute(update(sync_records).where(self._key(table, scope, record_id))
                              .values(server_seq=seq, version=sync_records.c.version + 1))

    async def delete(self, table: str, scope: str, record_id: str, *, seq: int) -> bool:
        result = await self._s.execute(delete(sync_records).where(
            self._key(table, scope, record_id)))
        if rows_affected(result) == 0:
            return False
        await self.write_tombstone(table, scope, record_id, seq=seq)
        return True

    async def write_tombstone(self, table: str, scope: str, record_id: str, *, seq: int) -> None:
        statement = _insert(self._s)(sync_tombstones).values(
            table_name=table, scope=scope, id=record_id, seq=seq, deleted_at=self._clock.now())
        await self._s.execute(statement.on_conflict_do_update(
            index_elements=["table_name", "scope", "id"],
            set_={"seq": seq, "deleted_at": self._clock.now()}))

    @staticmethod
    def _in_scopes(table: Any, scopes: Mapping[str, Sequence[str]]) -> Any:
        return or_(*[and_(table.c.scope == scope, table.c.table_name.in_(list(names)))
                     for scope, names in scopes.items() if names])

    async def changes(self, scopes: Mapping[str, Sequence[str]], *, after: int, upper: int,
                      limit: int, with_tombstones: bool
                      ) -> tuple[list[Record], list[StoredTombstone]]:
        rows = (await self._s.execute(
            select(sync_records).where(self._in_scopes(sync_records, scopes),
                                       sync_records.c.server_seq > after,
                                       sync_records.c.server_seq <= upper)
            .order_by(sync_records.c.server_seq).limit(limit))).all()
        tombstones: list[StoredTombstone] = []
        if with_tombstones:
            dead = (await self._s.execute(
                select(sync_tombstones).where(self._in_scopes(sync_tombstones, scopes),
                                              sync_tombstones.c.seq > after,
                                              sync_tombstones.c.seq <= upper)
                .order_by(sync_tombstones.c.seq).limit(limit))).all()
            tombstones = [StoredTombstone(r.table_name, r.id, int(r.seq)) for r in dead]
        return [_record(r) for r in rows], tombstones

    async def all_rows(self, scopes: Mapping[str, Sequence[str]], *, upper: int) -> list[Record]:
        rows = (await self._s.execute(
            select(sync_records).where(self._in_scopes(sync_records, scopes),
                                       sync_records.c.server_seq <= upper)
            .order_by(sync_records.c.server_seq))).all()
        return [_record(r) for r in rows]

    async def purge_tombstones(self, before: dt.datetime) -> int:
        highest = (await self._s.execute(select(func.max(sync_tombstones.c.seq)).where(
            sync_tombstones.c.deleted_at < before))).scalar_one_or_none()
        if highest is None:
            return 0
        result = await self._s.execute(delete(sync_tombstones).where(
            sync_tombstones.c.seq <= highest))
        await self._s.execute(update(sync_state).where(
            sync_state.c.id == 1, sync_state.c.tombstone_horizon < highest)
            .values(tombstone_horizon=highest))
        return rows_affected(result)


class SqlCatalogRepository:
    """Stores, products, offers and stock levels from catalog and inventory events."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def _newer(self, table: Any, key: dict[str, Any], version: int,
                     values: dict[str, Any]) -> bool:
        where = [table.c[k] == v for k, v in key.items()]
        result = await self._s.execute(update(table).where(*where, table.c.version < version)
                                       .values(version=version, **values))
        if rows_affected(result):
            return True
        statement = _insert(self._s)(table).values(**key, version=version, **values)
        result = await self._s.execute(statement.on_conflict_do_nothing(
            index_elements=list(key)))
        return rows_affected(result) == 1

    async def store(self, store_id: uuid.UUID) -> StoreInfo | None:
        row = (await self._s.execute(select(stores).where(stores.c.id == store_id))).first()
        return None if row is None else StoreInfo(row.id, row.name, row.lat, row.lng,
                                                  row.status, row.deleted)

    async def save_store(self, store: StoreInfo, version: int) -> bool:
        return await self._newer(stores, {"id": store.id}, version, {
            "name": store.name, "lat": store.lat, "lng": store.lng, "status": store.status,
            "deleted": store.deleted})

    async def open_stores(self) -> list[StoreInfo]:
        rows = (await self._s.execute(select(stores).where(stores.c.deleted.is_(False)))).all()
        return [StoreInfo(r.id, r.name, r.lat, r.lng, r.status, r.deleted) for r in rows]

    async def product(self, product_id: uuid.UUID) -> tuple[int, Mapping[str, Any]] | None:
        row = (await self._s.execute(select(catalog_products).where(
            catalog_products.c.id == product_id))).first()
        return None if row is None else (int(row.version), dict(row.state))

    async def save_product(self, product_id: uuid.UUID, version: int,
                           state: Mapping[str, Any]) -> bool:
        return await self._newer(catalog_products, {"id": product_id}, version,
                                 {"state": dict(state)})

    async def offer(self, store_id: uuid.UUID, product_id: uuid.UUID
                    ) -> tuple[int, int, bool] | None:
        row = (await self._s.execute(select(catalog_offers).where(
            catalog_offers.c.store_id == store_id,
            catalog_offers.c.product_id == product_id))).first()
        return None if row is None else (int(row.version), int(row.price_xaf), bool(row.listed))

    async def save_offer(self, store_id: uuid.UUID, product_id: uuid.UUID, version: int,
                         price_xaf: int, listed: bool) -> bool:
        return await self._newer(catalog_offers, {"store_id": store_id, "product_id": product_id},
                                 version, {"price_xaf": price_xaf, "listed": listed})

    async def stores_offering(self, product_id: uuid.UUID) -> list[uuid.UUID]:
        rows = await self._s.execute(select(catalog_offers.c.store_id).where(
            catalog_offers.c.product_id == product_id))
        return [r.store_id for r in rows]

    async def available(self, store_id: uuid.UUID, product_id: uuid.UUID) -> int | None:
        value = (await self._s.execute(select(stock_levels.c.available).where(
            stock_levels.c.store_id == store_id,
            stock_levels.c.product_id == product_id))).scalar_one_or_none()
        return None if value is None else int(value)

    async def save_stock(self, store_id: uuid.UUID, product_id: uuid.UUID, version: int,
                         available: int) -> bool:
        return await self._newer(stock_levels, {"store_id": store_id, "product_id": product_id},
                                 version, {"available": available})


class SqlLinkRepository:
    """Place links and devices' stores."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def record_for_place(self, place_id: uuid.UUID) -> tuple[uuid.UUID, str] | None:
        row = (await self._s.execute(select(place_links).where(
            place_links.c.place_id == place_id))).first()
        return None if row is None else (row.user_id, row.record_id)

    async def link_place(self, user_id: uuid.UUID, record_id: str, place_id: uuid.UUID) -> None:
        statement = _insert(self._s)(place_links).values(
            user_id=user_id, record_id=record_id, place_id=place_id)
        await self._s.execute(statement.on_conflict_do_nothing())

    async def client_store(self, user_id: uuid.UUID, client_id: str) -> ClientLink:
        row = (await self._s.execute(select(
            sync_clients.c.store_id, sync_clients.c.previous_store_id, sync_clients.c.switch_seq
        ).where(sync_clients.c.user_id == user_id,
                sync_clients.c.client_id == client_id))).first()
        if row is None:
            return ClientLink(known=False)
        return ClientLink(True, row.store_id, row.previous_store_id,
                          None if row.switch_seq is None else int(row.switch_seq))

    async def save_client_store(self, user_id: uuid.UUID, client_id: str,
                                store_id: uuid.UUID | None, at: dt.datetime, *,
                                previous: uuid.UUID | None = None,
                                switch_seq: int | None = None) -> None:
        values = {"store_id": store_id, "last_pull_at": at, "previous_store_id": previous,
                  "switch_seq": switch_seq}
        statement = _insert(self._s)(sync_clients).values(
            user_id=user_id, client_id=client_id, **values)
        await self._s.execute(statement.on_conflict_do_update(
            index_elements=["user_id", "client_id"], set_=values))


def _upload(row: Any) -> Upload:
    return Upload(row.id, row.owner_id, row.purpose, row.record_id, row.content_type,
                  row.filename, int(row.length), int(row.offset), row.status, row.sha256,
                  row.created_at, row.expires_at, row.completed_at)


class SqlUploadRepository:
    """tus upload state."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, upload: Upload) -> None:
        await self._s.execute(insert(uploads).values(
            id=upload.id, owner_id=upload.owner_id, purpose=upload.purpose,
            record_id=upload.record_id, content_type=upload.content_type,
            filename=upload.filename, length=upload.length, offset=upload.offset,
            status=upload.status, sha256=upload.sha256, created_at=upload.created_at,
            expires_at=upload.expires_at, completed_at=upload.completed_at))

    async def get(self, upload_id: uuid.UUID) -> Upload | None:
        row = (await self._s.execute(select(uploads).where(uploads.c.id == upload_id))).first()
        return None if row is None else _upload(row)

    async def advance(self, upload_id: uuid.UUID, *, expected: int, offset: int) -> bool:
        result = await self._s.execute(update(uploads).where(
            uploads.c.id == upload_id, uploads.c.offset == expected,
            uploads.c.status == "open").values(offset=offset))
        return rows_affected(result) == 1

    async def finish(self, upload_id: uuid.UUID, *, status: str, sha256: str | None,
                     at: dt.datetime) -> bool:
        result = await self._s.execute(update(uploads).where(
            uploads.c.id == upload_id, uploads.c.status == "open").values(
            status=status, sha256=sha256, completed_at=at))
        return rows_affected(result) == 1

    async def expired(self, now: dt.datetime, limit: int) -> list[Upload]:
        rows = (await self._s.execute(select(uploads).where(
            uploads.c.status == "open", uploads.c.expires_at < now)
            .order_by(uploads.c.expires_at).limit(limit))).all()
        return [_upload(r) for r in rows]


class SyncUoW(SqlUnitOfWork):
    """A transaction on the sync database with its repositories."""

    records: RecordRepository
    catalog: CatalogRepository
    links: LinkRepository
    uploads: UploadRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.records = SqlRecordRepository(self.session, self.clock)
        self.catalog = SqlCatalogRepository(self.session)
        self.links = SqlLinkRepository(self.session)
        self.uploads = SqlUploadRepository(self.session)
        return self

    async def snapshot(self) -> None:
        """Make the transaction one consistent read-only snapshot (before any read).

        PostgreSQL: ``REPEATABLE READ READ ONLY``; SQLite: the transaction itself is the
        snapshot (and ``BEGIN IMMEDIATE`` keeps writers out while it lasts).
        """
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.connection(execution_options={
                "isolation_level": "REPEATABLE READ", "postgresql_readonly": True})
