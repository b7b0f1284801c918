"""SQLAlchemy Core repositories and the delivery unit of work.

Every write that decides something (a claim, a shift change, a newer position, a newer
replica version) is one conditional statement, valid on PostgreSQL and SQLite alike: the
guard in the WHERE clause and the write happen together, so concurrent writers cannot both
win. On PostgreSQL (read committed) a second updater of the same row waits for the first to
commit and then re-evaluates the WHERE clause on the new row; on SQLite every transaction
starts with ``BEGIN IMMEDIATE`` and writers take turns.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from okada.infra.db.results import rows_affected
from okada.infra.db.uow import SqlUnitOfWork
from okada.services.delivery.adapters.orm import (
    deliveries,
    offers,
    place_corrections,
    rider_pings,
    riders,
    stores,
)
from okada.services.delivery.application.model import (
    BUSY,
    OFFLINE,
    ONLINE,
    OfferRecord,
    Ping,
    PingWrite,
    PlaceCorrection,
    RiderRecord,
    StoreRecord,
)
from okada.services.delivery.application.ports import (
    DeliveryRepository,
    OfferRepository,
    PingRepository,
    PlaceCorrectionRepository,
    RiderRepository,
    StoreRepository,
)
from okada.services.delivery.domain.delivery import Delivery, Status


def _insert_for(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return pg_insert if dialect == "postgresql" else sqlite_insert


class SqlaStoreRepository(StoreRepository):
    """Stores replicated from the catalog."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get(self, store_id: uuid.UUID) -> StoreRecord | None:
        row = (await self._s.execute(select(stores).where(stores.c.store_id == store_id))).first()
        if row is None:
            return None
        return StoreRecord(
            store_id=row.store_id, version=row.version, name=row.name, city=row.city,
            quartier=row.quartier, lat=row.lat, lng=row.lng, radius_m=row.radius_m,
            polygon=[(float(a), float(b)) for a, b in row.polygon] if row.polygon else None,
            opening_hours=list(row.opening_hours or []), status=row.status,
            prep_minutes=row.prep_minutes, deleted=row.deleted,
        )

    async def upsert(self, store: StoreRecord, now: dt.datetime) -> bool:
        values = {
            "store_id": store.store_id, "version": store.version, "name": store.name,
            "city": store.city, "quartier": store.quartier, "lat": store.lat, "lng": store.lng,
            "radius_m": store.radius_m,
            "polygon": [list(p) for p in store.polygon] if store.polygon else None,
            "opening_hours": store.opening_hours, "status": store.status,
            "prep_minutes": store.prep_minutes, "deleted": store.deleted,
            "updated_at": now,
        }
        statement = _insert_for(self._s)(stores).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["store_id"],
            set_={k: statement.excluded[k] for k in values if k != "store_id"},
            where=stores.c.version < statement.excluded.version,
        )
        return rows_affected(await self._s.execute(statement)) == 1


def rider_from_row(row: Any) -> RiderRecord:
    """A rider record from a row of ``riders`` (attribute access)."""
    return RiderRecord(
        rider_id=row.rider_id, shift=row.shift, shift_version=row.shift_version,
        user_version=row.user_version, is_rider=row.is_rider, disabled=row.disabled,
        shift_changed_at=row.shift_changed_at, last_lat=row.last_lat, last_lng=row.last_lng,
        last_ping_at=row.last_ping_at, last_offered_at=row.last_offered_at,
        current_delivery_id=row.current_delivery_id, cash_in_hand_xaf=row.cash_in_hand_xaf,
        float_limit_xaf=row.float_limit_xaf, cash_version=row.cash_version,
    )


def _may_ping(rider: RiderRecord) -> bool:
    return rider.shift in (ONLINE, BUSY) and rider.is_rider and not rider.disabled


class SqlaRiderRepository(RiderRepository):
    """Riders; claims and moves are guarded single statements."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get(self, rider_id: uuid.UUID) -> RiderRecord | None:
        row = (await self._s.execute(select(riders).where(riders.c.rider_id == rider_id))).first()
        return None if row is None else rider_from_row(row)

    async def get_many(self, rider_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, RiderRecord]:
        if not rider_ids:
            return {}
        rows = await self._s.execute(select(riders).where(riders.c.rider_id.in_(rider_ids)))
        return {row.rider_id: rider_from_row(row) for row in rows}

    async def _insert_missing(self, rider_id: uuid.UUID, now: dt.datetime) -> None:
        statement = _insert_for(self._s)(riders).values(
            rider_id=rider_id, user_version=0, is_rider=True, disabled=False, shift=OFFLINE,
            shift_version=0, cash_in_hand_xaf=0, cash_version=0, updated_at=now,
        )
        await self._s.execute(statement.on_conflict_do_nothing(index_elements=["rider_id"]))

    async def ensure(self, rider_id: uuid.UUID, now: dt.datetime) -> RiderRecord:
        found = await self.get(rider_id)
        if found is not None:
            return found
        await self._insert_missing(rider_id, now)
        created = await self.get(rider_id)
        assert created is not None
        return created

    async def apply_user(
        self, rider_id: uuid.UUID, *, version: int, is_rider: bool, disabled: bool,
        now: dt.datetime,
    ) -> bool:
        await self._insert_missing(rider_id, now)
        result = await self._s.execute(
            update(riders)
            .where(riders.c.rider_id == rider_id, riders.c.user_version < version)
            .values(user_version=version, is_rider=is_rider, disabled=disabled, updated_at=now)
        )
        return rows_affected(result) == 1

    async def apply_cash(
        self, rider_id: uuid.UUID, *, version: int, cash_in_hand_xaf: int,
        float_limit_xaf: int, now: dt.datetime,
    ) -> bool:
        await self._insert_missing(rider_id, now)
        result = await self._s.execute(
            update(riders)
            .where(riders.c.rider_id == rider_id, riders.c.cash_version < version)
            .values(cash_version=version, cash_in_hand_xaf=cash_in_hand_xaf,
                    float_limit_xaf=float_limit_xaf, updated_at=now)
        )
        return rows_affected(result) == 1

    async def _returning(self, statement: Any) -> RiderRecord | None:
        row = (await self._s.execute(statement.returning(*riders.c))).first()
        return None if row is None else rider_from_row(row)

    async def set_shift(
        self, rider_id: uuid.UUID, *, expected_version: int, shift: str, now: dt.datetime
    ) -> RiderRecord | None:
        return await self._returning(
            update(riders)
            .where(riders.c.rider_id == rider_id, riders.c.shift_version == expected_version)
            .values(shift=shift, shift_version=riders.c.shift_version + 1,
                    shift_changed_at=now, updated_at=now)
        )

    async def take_job(
        self, rider_id: uuid.UUID, delivery_id: uuid.UUID, now: dt.datetime, *,
        require_online: bool = True,
    ) -> RiderRecord | None:
        guards = [riders.c.rider_id == rider_id, riders.c.current_delivery_id.is_(None),
                  riders.c.disabled.is_(False)]
        if require_online:
            guards.append(riders.c.shift == ONLINE)
        return await self._returning(
            update(riders).where(*guards).values(
                current_delivery_id=delivery_id, shift=BUSY,
                shift_version=riders.c.shift_version + 1, shift_changed_at=now, updated_at=now,
            )
        )

    async def free(
        self, rider_id: uuid.UUID, delivery_id: uuid.UUID, now: dt.datetime
    ) -> RiderRecord | None:
        return await self._returning(
            update(riders)
            .where(riders.c.rider_id == rider_id, riders.c.current_delivery_id == delivery_id)
            .values(current_delivery_id=None, shift=ONLINE,
                    shift_version=riders.c.shift_version + 1, shift_changed_at=now,
                    updated_at=now)
        )

    async def move(self, rider_id: uuid.UUID, ping: Ping) -> bool:
        result = await self._s.execute(
            update(riders)
            .where(riders.c.rider_id == rider_id,
                   or_(riders.c.last_ping_at.is_(None), riders.c.last_ping_at < ping.at))
            .values(last_lat=ping.lat, last_lng=ping.lng, last_ping_at=ping.at)
        )
        return rows_affected(result) == 1

    async def record_pings(
        self, rider_id: uuid.UUID, pings: Sequence[Ping], now: dt.datetime
    ) -> PingWrite | None:
        rider = await self.get(rider_id)
        if rider is None or not _may_ping(rider):
            return None if rider is None else PingWrite(rider=rider, inserted=0, moved=False)
        inserted = await SqlaPingRepository(self._s).add_many(rider_id, pings, now)
        moved = bool(pings) and await self.move(rider_id, pings[-1])
        return PingWrite(rider=rider, inserted=inserted, moved=moved)

    async def mark_offered(self, rider_ids: Sequence[uuid.UUID], now: dt.datetime) -> None:
        if rider_ids:
            await self._s.execute(
                update(riders).where(riders.c.rider_id.in_(rider_ids))
                .values(last_offered_at=now)
            )


    async def stale(self, cutoff: dt.datetime, *, limit: int) -> list[uuid.UUID]:
        heard = func.coalesce(riders.c.last_ping_at, riders.c.shift_changed_at)
        rows = await self._s.execute(
            select(riders.c.rider_id)
            .where(riders.c.shift != OFFLINE, or_(heard.is_(None), heard < cutoff))
            .order_by(riders.c.rider_id).limit(limit)
        )
        return [r.rider_id for r in rows]


class SqlaPingRepository(PingRepository):
    """Position history; the (rider, client time) key makes re-sent pings no-ops."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add_many(
        self, rider_id: uuid.UUID, pings: Sequence[Ping], now: dt.datetime
    ) -> int:
        if not pings:
            return 0
        rows = [{"rider_id": rider_id, "at": p.at, "lat": p.lat, "lng": p.lng,
                 "accuracy_m": p.accuracy_m, "received_at": now} for p in pings]
        # One multi-row statement; RETURNING lists only the rows really inserted (SQLite 3.35+
        # and PostgreSQL), so re-sent pings are counted without a read.
        statement = (
            _insert_for(self._s)(rider_pings).values(rows)
            .on_conflict_do_nothing(index_elements=["rider_id", "at"])
            .returning(rider_pings.c.at)
        )
        return len((await self._s.execute(statement)).all())

    async def history(self, rider_id: uuid.UUID, *, limit: int) -> list[Ping]:
        rows = await self._s.execute(
            select(rider_pings).where(rider_pings.c.rider_id == rider_id)
            .order_by(rider_pings.c.at.desc()).limit(limit)
        )
        return [Ping(at=r.at, lat=r.lat, lng=r.lng, accuracy_m=r.accuracy_m) for r in rows]


_DELIVERY_FIELDS = (
    "id", "order_id", "store_id", "customer_id", "rider_id", "pin", "pin_attempts",
    "store_name", "store_lat", "store_lng", "drop_lat", "drop_lng", "drop_quartier",
    "drop_landmark", "drop_source", "drop_corrected", "place_id", "customer_phone_masked",
    "cash_to_collect_xaf", "fee_xaf", "order_status", "order_version", "eta_at",
    "dispatch_due_at", "failure_reason", "proof", "photo_upload_id", "assign_reason",
    "status_at", "version", "created_at", "updated_at",
)


def _delivery_row(delivery: Delivery) -> dict[str, Any]:
    row = {name: getattr(delivery, name) for name in _DELIVERY_FIELDS}
    row["status"] = delivery.status.value
    return row


def _delivery(row: Any) -> Delivery:
    values = {name: getattr(row, name) for name in _DELIVERY_FIELDS}
    return Delivery(status=Status(row.status), **values)


class SqlaDeliveryRepository(DeliveryRepository):
    """Deliveries, saved by compare-and-swap on their version."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get(self, delivery_id: uuid.UUID) -> Delivery | None:
        row = (await self._s.execute(
            select(deliveries).where(deliveries.c.id == delivery_id))).first()
        return None if row is None else _delivery(row)

    async def by_order(self, order_id: uuid.UUID) -> Delivery | None:
        row = (await self._s.execute(
            select(deliveries).where(deliveries.c.order_id == order_id))).first()
        return None if row is None else _delivery(row)

    async def add(self, delivery: Delivery) -> bool:
        statement = _insert_for(self._s)(deliveries).values(**_delivery_row(delivery))
        result = await self._s.execute(
            statement.on_conflict_do_nothing(index_elements=["order_id"])
        )
        return rows_affected(result) == 1

    async def save(self, delivery: Delivery, *, expected_version: int) -> bool:
        row = _delivery_row(delivery)
        del row["id"]
        result = await self._s.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery.id, deliveries.c.version == expected_version)
            .values(**row)
        )
        return rows_affected(result) == 1

    async def due(self, now: dt.datetime, *, limit: int) -> list[uuid.UUID]:
        rows = await self._s.execute(
            select(deliveries.c.id)
            .where(deliveries.c.status == Status.SEARCHING.value,
                   deliveries.c.dispatch_due_at <= now)
            .order_by(deliveries.c.dispatch_due_at).limit(limit)
        )
        return [r.id for r in rows]


def _offer(row: Any) -> OfferRecord:
    return OfferRecord(id=row.id, delivery_id=row.delivery_id, rider_id=row.rider_id,
                       status=row.status, created_at=row.created_at, expires_at=row.expires_at,
                       responded_at=row.responded_at)


class SqlaOfferRepository(OfferRepository):
    """Offers; a response is accepted only while the offer is open and unexpired."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, offer: OfferRecord) -> None:
        await self._s.execute(insert(offers).values(
            id=offer.id, delivery_id=offer.delivery_id, rider_id=offer.rider_id,
            status=offer.status, created_at=offer.created_at, expires_at=offer.expires_at,
            responded_at=offer.responded_at,
        ))

    async def get(self, offer_id: uuid.UUID) -> OfferRecord | None:
        row = (await self._s.execute(select(offers).where(offers.c.id == offer_id))).first()
        return None if row is None else _offer(row)

    async def pending_for_rider(self, rider_id: uuid.UUID, now: dt.datetime) -> list[OfferRecord]:
        rows = await self._s.execute(
            select(offers).where(offers.c.rider_id == rider_id, offers.c.status == "pending",
                                 offers.c.expires_at > now).order_by(offers.c.created_at)
        )
        return [_offer(r) for r in rows]

    async def pending_for_delivery(
        self, delivery_id: uuid.UUID, now: dt.datetime
    ) -> list[OfferRecord]:
        rows = await self._s.execute(
            select(offers).where(offers.c.delivery_id == delivery_id,
                                 offers.c.status == "pending", offers.c.expires_at > now)
        )
        return [_offer(r) for r in rows]

    async def offered_riders(self, delivery_id: uuid.UUID, *, since: dt.datetime
                             ) -> set[uuid.UUID]:
        rows = await self._s.execute(
            select(offers.c.rider_id).where(offers.c.delivery_id == delivery_id,
                                            offers.c.created_at >= since)
        )
        return {r.rider_id for r in rows}

    async def respond(
        self, offer_id: uuid.UUID, rider_id: uuid.UUID, *, status: str, now: dt.datetime
    ) -> bool:
        result = await self._s.execute(
            update(offers)
            .where(offers.c.id == offer_id, offers.c.rider_id == rider_id,
                   offers.c.status == "pending", offers.c.expires_at > now)
            .values(status=status, responded_at=now)
        )
        return rows_affected(result) == 1

    async def expire_due(self, now: dt.datetime, *, limit: int) -> list[uuid.UUID]:
        rows = (await self._s.execute(
            select(offers.c.id, offers.c.delivery_id)
            .where(offers.c.status == "pending", offers.c.expires_at <= now)
            .order_by(offers.c.expires_at).limit(limit)
        )).all()
        if not rows:
            return []
        await self._s.execute(
            update(offers)
            .where(and_(offers.c.id.in_([r.id for r in rows]), offers.c.status == "pending"))
            .values(status="expired", responded_at=now)
        )
        return list(dict.fromkeys(r.delivery_id for r in rows))

    async def withdraw(self, delivery_id: uuid.UUID, now: dt.datetime) -> int:
        result = await self._s.execute(
            update(offers)
            .where(offers.c.delivery_id == delivery_id, offers.c.status == "pending")
            .values(status="withdrawn", responded_at=now)
        )
        return rows_affected(result)


def _correction(row: Any) -> PlaceCorrection:
    return PlaceCorrection(
        delivery_id=row.delivery_id, customer_id=row.customer_id, place_id=row.place_id,
        lat=row.lat, lng=row.lng, status=row.status, attempts=row.attempts,
        next_attempt_at=row.next_attempt_at, last_error=row.last_error,
    )


class SqlaPlaceCorrectionRepository(PlaceCorrectionRepository):
    """Corrected drop points; an outcome is recorded by compare-and-swap on the attempts."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, correction: PlaceCorrection) -> None:
        now = correction.next_attempt_at
        statement = _insert_for(self._s)(place_corrections).values(
            delivery_id=correction.delivery_id, customer_id=correction.customer_id,
            place_id=correction.place_id, lat=correction.lat, lng=correction.lng,
            status=correction.status, attempts=correction.attempts,
            next_attempt_at=correction.next_attempt_at, last_error=correction.last_error,
            created_at=now, updated_at=now,
        )
        await self._s.execute(statement.on_conflict_do_nothing(index_elements=["delivery_id"]))

    async def due(self, now: dt.datetime, *, limit: int) -> list[PlaceCorrection]:
        rows = await self._s.execute(
            select(place_corrections)
            .where(place_corrections.c.status == "pending",
                   place_corrections.c.next_attempt_at <= now)
            .order_by(place_corrections.c.next_attempt_at).limit(limit)
        )
        return [_correction(r) for r in rows]

    async def record(
        self, correction: PlaceCorrection, *, status: str, attempts: int,
        next_attempt_at: dt.datetime, error: str | None, now: dt.datetime,
    ) -> bool:
        result = await self._s.execute(
            update(place_corrections)
            .where(place_corrections.c.delivery_id == correction.delivery_id,
                   place_corrections.c.status == "pending",
                   place_corrections.c.attempts == correction.attempts)
            .values(status=status, attempts=attempts, next_attempt_at=next_attempt_at,
                    last_error=error, updated_at=now)
        )
        return rows_affected(result) == 1


class DeliveryUoW(SqlUnitOfWork):
    """The delivery unit of work: repositories bound to this transaction's session."""

    stores: StoreRepository
    riders: RiderRepository
    pings: PingRepository
    deliveries: DeliveryRepository
    offers: OfferRepository
    place_corrections: PlaceCorrectionRepository

    async def __aenter__(self) -> DeliveryUoW:
        await super().__aenter__()
        session = self.session
        self.stores = SqlaStoreRepository(session)
        self.riders = SqlaRiderRepository(session)
        self.pings = SqlaPingRepository(session)
        self.deliveries = SqlaDeliveryRepository(session)
        self.offers = SqlaOfferRepository(session)
        self.place_corrections = SqlaPlaceCorrectionRepository(session)
        return self
