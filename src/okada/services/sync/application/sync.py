"""WatermelonDB pull and push per user and device, and REST edits of the same records.

Pull (offline-sync.md 4.3): one snapshot; ``timestamp`` is the change counter; rows changed
after the cursor, netted per record; ``created`` only for records another client or the
server created after the cursor; tombstones as ``deleted``; a cursor below the tombstone
horizon gets the whole data set with ``experimentalStrategy: "replacement"``; ``hasMore``
paging as a prefix of the change order; ``migration`` adds the tables and columns the app
just gained.

Push (4.4): all or nothing. First a check without locks (shape, ownership, conflicts), then
the commands to the owning services (identity for places, notifications for ``read``,
delivery for rider updates; each idempotent), then one transaction that draws its seqs
first, checks conflicts again and applies everything. Any conflict: 409 and nothing local
is applied. Server-owned tables and columns are ignored and the record is bumped so the
next pull puts the server's values back on the device.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from okada.kernel.authz import Principal, Role
from okada.kernel.clock import Clock
from okada.kernel.errors import OkadaError
from okada.kernel.phone import parse_phone
from okada.kernel.ports import Cache
from okada.services.sync.application.ports import (
    OwnerCommands,
    OwnerDown,
    OwnerRejected,
    OwnerStale,
    Record,
    SyncUnitOfWork,
    store_scope,
    user_scope,
)
from okada.services.sync.domain.changes import (
    ChangesBuilder,
    Kind,
    MigrationRequest,
    PushedRecord,
    classify,
    parse_cursor,
    parse_migration,
    parse_push,
    take_page,
)
from okada.services.sync.domain.errors import (
    BadCursor,
    ClientIdRequired,
    ForeignRecord,
    MalformedSync,
    OwnerUnavailable,
    RecordNotFound,
    RoleNotSynced,
    SchemaRetired,
    SyncConflict,
)
from okada.services.sync.domain.schema import (
    ID_PATTERN,
    Access,
    App,
    Registry,
    TableSpec,
    is_default,
    sanitize_row,
)

log = structlog.get_logger(__name__)

UowFactory = Callable[[], SyncUnitOfWork]
PUSH_CACHE_TTL = 600.0
OWNED_REMOTELY = frozenset({"places", "notifications"})
"""Tables whose pushed writes are commands to another service (which then emits events)."""


@dataclass(frozen=True)
class SyncPolicy:
    """Limits of the protocol (settings)."""

    page_size: int = 500
    max_push_records: int = 1000


@dataclass(frozen=True)
class Caller:
    """Who syncs: the user, their device and the apps their roles open."""

    user_id: uuid.UUID
    client_id: str
    apps: frozenset[App]
    language: str = "fr"


def caller_of(principal: Principal, client_id: str | None, language: str) -> Caller:
    """The syncing caller; 400 without a usable ``X-Client-Id``, 403 for roles without an app."""
    if not client_id or not ID_PATTERN.match(client_id):
        raise ClientIdRequired()
    apps = set()
    if principal.has(Role.CUSTOMER):
        apps.add(App.CUSTOMER)
    if principal.has(Role.RIDER):
        apps.add(App.RIDER)
    if not apps:
        raise RoleNotSynced()
    return Caller(principal.user_id, client_id, frozenset(apps), language)


def parse_schema_version(value: str | None, registry: Registry) -> int:
    """The client's schema version: 426 below the oldest served, newer ones read as current."""
    try:
        version = int((value or "").strip() or registry.current_version)
    except ValueError:
        raise MalformedSync("sync_bad_schema_version") from None
    if version < registry.min_version:
        raise SchemaRetired(version=version)
    return min(version, registry.current_version)


def _distance2(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    x = math.radians(lng2 - lng1) * math.cos(math.radians((lat1 + lat2) / 2))
    y = math.radians(lat2 - lat1)
    return x * x + y * y


def project_language(language: str) -> Callable[[str, Mapping[str, Any]], Mapping[str, Any]]:
    """Products carry names in both languages; the device gets the caller's."""

    def project(table: str, data: Mapping[str, Any]) -> Mapping[str, Any]:
        if table != "products":
            return data
        suffix = "en" if language == "en" else "fr"
        return {**data, "name": data.get(f"name_{suffix}") or data.get("name_fr"),
                "unit": data.get(f"unit_{suffix}") or data.get("unit_fr")}

    return project


@dataclass
class _Plan:
    """What a push will do, decided from the stored state."""

    writes: list[tuple[PushedRecord, TableSpec, dict[str, Any]]] = field(default_factory=list)
    deletes: list[tuple[PushedRecord, TableSpec]] = field(default_factory=list)
    bumps: list[tuple[str, str, str]] = field(default_factory=list)  # table, scope, id
    reissue: list[tuple[str, str, str]] = field(default_factory=list)
    existing: dict[tuple[str, str], Record] = field(default_factory=dict)


class SyncService:
    """Pull, push and REST edits of synced records."""

    def __init__(self, *, uow_factory: UowFactory, registry: Registry, owners: OwnerCommands,
                 clock: Clock, policy: SyncPolicy | None = None, cache: Cache | None = None
                 ) -> None:
        self._uow = uow_factory
        self.registry = registry
        self._owners = owners
        self._clock = clock
        self._policy = policy or SyncPolicy()
        self._cache = cache

    # -- pull --------------------------------------------------------------------------------

    async def pull(self, caller: Caller, *, last_pulled_at: str | None,
                   schema_version: str | None, migration: str | None,
                   store_id: uuid.UUID | None = None, limit: int | None = None
                   ) -> dict[str, Any]:
        """One pull: ``{changes, timestamp, hasMore?, experimentalStrategy?}``."""
        try:
            return await self._pull(caller, last_pulled_at=last_pulled_at,
                                    schema_version=schema_version, migration=migration,
                                    store_id=store_id, limit=limit, may_restart=True)
        except _FreshTimestampNeeded:
            # A store switch must be answered with a timestamp above the device's cursor,
            # or a retry could not tell a lost switch answer from an applied one.
            async with self._uow() as uow:
                await uow.records.next_seq()
                await uow.commit()
            return await self._pull(caller, last_pulled_at=last_pulled_at,
                                    schema_version=schema_version, migration=migration,
                                    store_id=store_id, limit=limit, may_restart=False)

    async def _pull(self, caller: Caller, *, last_pulled_at: str | None,
                    schema_version: str | None, migration: str | None,
                    store_id: uuid.UUID | None, limit: int | None, may_restart: bool
                    ) -> dict[str, Any]:
        cursor = parse_cursor(last_pulled_at, push=False)
        version = parse_schema_version(schema_version, self.registry)
        wanted = parse_migration(migration)
        tables = self.registry.tables_for(caller.apps, version)
        user_tables = [t.name for t in tables if t.name != "products"]
        page_size = max(1, min(limit or self._policy.page_size, self._policy.page_size))
        builder = ChangesBuilder(tables, project=project_language(caller.language))
        response: dict[str, Any] = {}
        async with self._uow() as uow:
            await uow.snapshot()
            upper = await uow.records.current_seq()
            if cursor is not None and cursor > upper:
                raise BadCursor("sync_bad_cursor", cursor=cursor, current=upper)
            horizon = await uow.records.horizon()
            link = await uow.links.client_store(caller.user_id, caller.client_id)
            known, held = link.known, link.held_store(cursor)
            store = None
            if any(t.name == "products" for t in tables):
                store = await self._current_store(uow, caller.user_id, store_id)
            scopes: dict[str, list[str]] = {user_scope(caller.user_id): user_tables}
            if store is not None:
                scopes[store_scope(store)] = ["products"]
            replacement = cursor is not None and cursor < horizon
            # The device's catalog changes store (or a device unknown so far gets one): such
            # an answer is remembered until the device acknowledges it by a later cursor.
            switched = cursor is not None and not replacement and known and held != store
            granted = cursor is not None and not replacement and not known and store is not None
            if (switched or granted) and may_restart and upper <= (cursor or 0):
                raise _FreshTimestampNeeded()
            if replacement:
                rows = await uow.records.all_rows(scopes, upper=upper)
                for record in rows:
                    kind = (Kind.UPDATED if record.server_seq <= (cursor or 0)
                            else classify(record.stored(), cursor=cursor,
                                          client_id=caller.client_id))
                    builder.add_row(record.stored(), kind)
                response["experimentalStrategy"] = "replacement"
                timestamp = upper
            else:
                rows, tombstones = await uow.records.changes(
                    scopes, after=cursor or 0, upper=upper, limit=page_size + 1,
                    with_tombstones=cursor is not None)
                page = take_page([r.stored() for r in rows], tombstones, page_size)
                for row in page.rows:
                    builder.add_row(row, classify(row, cursor=cursor,
                                                  client_id=caller.client_id))
                for tombstone in page.tombstones:
                    builder.add_deleted(tombstone.table, tombstone.id)
                timestamp = page.last_seq if page.has_more and page.last_seq else upper
                if page.has_more:
                    response["hasMore"] = True
                if switched:
                    await self._switch_store(uow, builder, held, store, upper,
                                             caller.client_id)
                    response["experimentalStrategy"] = {
                        "default": "incremental", "override": {"products": "replacement"}}
                elif granted and store is not None:
                    # A device seen for the first time with a cursor (e.g. after the server
                    # learnt about devices): the store's catalog is a grant → created.
                    for record in await uow.records.all_rows(
                            {store_scope(store): ["products"]}, upper=upper):
                        builder.add_row(record.stored(), Kind.CREATED)
            if wanted is not None and cursor is not None:
                await self._migration_rows(uow, builder, wanted, scopes, tables, upper)
        timestamp = max(timestamp, 1)
        if switched or granted:
            async with self._uow() as uow:
                await uow.links.save_client_store(caller.user_id, caller.client_id, store,
                                                  self._clock.now(), previous=held,
                                                  switch_seq=timestamp)
                await uow.commit()
        elif not known or link.store != store:
            async with self._uow() as uow:
                await uow.links.save_client_store(caller.user_id, caller.client_id, store,
                                                  self._clock.now())
                await uow.commit()
        return {"changes": builder.build(), "timestamp": timestamp, **response}

    async def _current_store(self, uow: SyncUnitOfWork, user_id: uuid.UUID,
                             requested: uuid.UUID | None) -> uuid.UUID | None:
        """The store whose catalog the customer's device holds.

        Business rule: the ``store_id`` the app asks for (a known store), else the store of
        the most recently added cart item, else the open store nearest to the default saved
        place (or any saved place with a pin), else none (no products are synced).
        """
        if requested is not None:
            info = await uow.catalog.store(requested)
            if info is not None and not info.deleted:
                return requested
        rows = await uow.records.all_rows({user_scope(user_id): ["cart_items", "places"]},
                                          upper=2**62)
        carts = sorted((r for r in rows if r.table == "cart_items"),
                       key=lambda r: (r.data.get("added_at") or 0, r.server_seq), reverse=True)
        for item in carts:
            try:
                candidate = uuid.UUID(str(item.data.get("store_id")))
            except ValueError:
                continue
            info = await uow.catalog.store(candidate)
            if info is not None and not info.deleted:
                return candidate
        places = sorted((r for r in rows if r.table == "places" and r.data.get("lat") is not None
                         and r.data.get("lng") is not None),
                        key=lambda r: (not r.data.get("is_default"), -r.server_seq))
        if not places:
            return None
        lat, lng = float(places[0].data["lat"]), float(places[0].data["lng"])
        stores = [s for s in await uow.catalog.open_stores() if s.status != "closed"] or (
            await uow.catalog.open_stores())
        if not stores:
            return None
        return min(stores, key=lambda s: _distance2(lat, lng, s.lat, s.lng)).id

    async def _switch_store(self, uow: SyncUnitOfWork, builder: ChangesBuilder,
                            previous: uuid.UUID | None, store: uuid.UUID | None, upper: int,
                            client_id: str) -> None:
        """The device's store changed: replace its products with the new store's catalog.

        Products the old catalog also had go in ``updated`` (the device holds them), the
        others in ``created``; the client deletes the ones missing from the set.
        """
        builder.clear("products")
        had: set[str] = set()
        if previous is not None:
            had = {r.id for r in await uow.records.all_rows(
                {store_scope(previous): ["products"]}, upper=upper)}
        if store is None:
            return
        for record in await uow.records.all_rows({store_scope(store): ["products"]},
                                                 upper=upper):
            builder.add_row(record.stored(), Kind.UPDATED if record.id in had else Kind.CREATED)

    async def _migration_rows(self, uow: SyncUnitOfWork, builder: ChangesBuilder,
                              wanted: MigrationRequest, scopes: Mapping[str, Sequence[str]],
                              tables: Sequence[TableSpec], upper: int) -> None:
        """Tables the app just gained: every row in ``created``; columns it just gained:
        every row holding a non-default value in ``updated``."""
        allowed = {t.name: t for t in tables}
        new_tables = {t for t in wanted.tables if t in allowed}
        new_columns = {t: cols for t, cols in wanted.columns if t in allowed}
        if not new_tables and not new_columns:
            return
        rows = await uow.records.all_rows(scopes, upper=upper)
        for record in rows:
            if record.table in new_tables:
                builder.add_row(record.stored(), Kind.CREATED)
            elif record.table in new_columns and not builder.has(record.table, record.id):
                spec = allowed[record.table]
                for name in new_columns[record.table]:
                    column = spec.column(name)
                    if column is not None and not is_default(column, record.data.get(name)):
                        builder.add_row(record.stored(), Kind.UPDATED)
                        break

    # -- push --------------------------------------------------------------------------------

    async def push(self, caller: Caller, *, last_pulled_at: str | None,
                   schema_version: str | None, body: Any, body_digest: str) -> dict[str, Any]:
        """Apply a pushed ``Changes`` object, all or nothing; ``{}`` once committed."""
        cursor = parse_cursor(last_pulled_at, push=True)
        assert cursor is not None
        version = parse_schema_version(schema_version, self.registry)
        changes = parse_push(body, self.registry, max_records=self._policy.max_push_records)
        allowed = {t.name for t in self.registry.tables_for(caller.apps, version)}
        records = [r for r in changes.records if r.table in allowed]
        cache_key = f"sync:push:{caller.user_id}:{caller.client_id}:{cursor}:{body_digest}"
        if self._cache is not None and await self._cache.get(cache_key) is not None:
            return {}
        async with self._uow() as uow:
            await uow.snapshot()
            current = await uow.records.current_seq()
            if cursor > current:
                raise BadCursor("sync_bad_cursor", cursor=cursor, current=current)
            plan = await self._plan(uow, caller, records, cursor, version)
        remote = await self._run_commands(caller, plan)
        # The owners' events about what this push just did may land before the transaction
        # below: a change to a record this push commanded is its own echo, not a conflict.
        own = {(spec.name, record.id) for record, spec, _ in plan.writes
               if spec.name in OWNED_REMOTELY} | {(spec.name, record.id)
                                                  for record, spec in plan.deletes
                                                  if spec.name in OWNED_REMOTELY}
        async with self._uow() as uow:
            seq = await uow.records.next_seq()  # serialise against every other writer first
            plan = await self._plan(uow, caller, records, cursor, version, own=own)
            await self._apply(uow, caller, plan, remote, first_seq=seq)
            await uow.commit()
        if self._cache is not None:
            await self._cache.set(cache_key, b"1", ttl=PUSH_CACHE_TTL)
        for ignored in changes.ignored_tables:
            log.info("sync.push.ignored_table", table=ignored, client_id=caller.client_id)
        return {}

    async def _plan(self, uow: SyncUnitOfWork, caller: Caller, records: Sequence[PushedRecord],
                    cursor: int, version: int,
                    own: frozenset[tuple[str, str]] | set[tuple[str, str]] = frozenset()
                    ) -> _Plan:
        scope = user_scope(caller.user_id)
        plan = _Plan()
        conflicts: dict[str, list[str]] = {}
        for record in records:
            spec = self.registry.table(record.table)
            assert spec is not None
            record_scope = scope
            if spec.name == "products":
                # Catalog rows live in store scopes: a device's edit only earns a re-send.
                for other in await uow.records.scopes_of(spec.name, record.id):
                    if await uow.records.get(spec.name, other, record.id) is not None:
                        plan.bumps.append((spec.name, other, record.id))
                continue
            owners = [s for s in await uow.records.scopes_of(spec.name, record.id) if s != scope]
            if owners:
                raise ForeignRecord(table=spec.name)
            existing = await uow.records.get(spec.name, record_scope, record.id)
            deleted_at = await uow.records.tombstone_seq(spec.name, record_scope, record.id)
            mine = (spec.name, record.id) in own
            if existing is not None and existing.server_seq > cursor and not mine:
                conflicts.setdefault(spec.name, []).append(record.id)
                continue
            if existing is None and deleted_at is not None and deleted_at > cursor:
                if not mine:
                    conflicts.setdefault(spec.name, []).append(record.id)
                continue
            if existing is not None:
                plan.existing[(spec.name, record.id)] = existing
            if spec.access is Access.READ_ONLY:
                if existing is not None:
                    plan.bumps.append((spec.name, record_scope, record.id))
                continue
            if record.kind is Kind.DELETED:
                if spec.access in (Access.READ_WRITE, Access.COLUMN_WRITABLE):
                    if existing is not None:
                        plan.deletes.append((record, spec))
                elif existing is not None:
                    plan.bumps.append((spec.name, record_scope, record.id))
                continue
            if existing is None and deleted_at is not None:
                # A replayed write to a record deleted before the client's cursor: drop it
                # and re-issue the deletion so the next pull removes it and nothing loops.
                plan.reissue.append((spec.name, record_scope, record.id))
                continue
            values, corrections = sanitize_row(spec, record.raw, version=version,
                                               record_id=record.id)
            for c in corrections:
                log.info("sync.push.sanitized", table=c.table, record_id=c.record_id,
                         column=c.column, reason=c.reason, client_id=caller.client_id)
            if spec.access is Access.CREATE_ONLY and existing is not None:
                plan.bumps.append((spec.name, record_scope, record.id))
                continue
            if spec.access is Access.COLUMN_WRITABLE and existing is None:
                continue  # the server creates these records; nothing to update
            plan.writes.append((record, spec, values))
        if conflicts:
            raise SyncConflict(conflicts)
        return plan

    async def _run_commands(self, caller: Caller, plan: _Plan) -> dict[tuple[str, str], Any]:
        """Send the commands of the owning services before anything is applied here."""
        results: dict[tuple[str, str], Any] = {}
        try:
            for record, spec, values in plan.writes:
                existing = plan.existing.get((spec.name, record.id))
                key = (spec.name, record.id)
                if spec.name == "places":
                    try:
                        results[key] = await self._place_write(caller, record, existing, values)
                    except OwnerRejected as exc:
                        # Refused for good even after sanitizing: keep the server's copy
                        # (re-sent by the next pull) rather than strand the device.
                        log.warning("sync.place.refused", record_id=record.id,
                                    status=exc.status, client_id=caller.client_id)
                        results[key] = None
                elif spec.name == "notifications":
                    if values.get("read") and existing is not None and not existing.data.get(
                            "read"):
                        await self._owners.mark_read(caller.user_id, uuid.UUID(existing.id))
                elif spec.name == "delivery_updates":
                    results[key] = await self._delivery_update(caller, record.id, values)
            for record, spec in plan.deletes:
                existing = plan.existing.get((spec.name, record.id))
                if spec.name == "places" and existing is not None and existing.data.get(
                        "place_id"):
                    await self._owners.delete_place(caller.user_id,
                                                    uuid.UUID(str(existing.data["place_id"])))
        except OwnerStale:
            raise SyncConflict({"places": [record.id]}) from None
        except OwnerDown as exc:
            log.warning("sync.push.owner_down", error=str(exc), client_id=caller.client_id)
            raise OwnerUnavailable(retry_after=5) from exc
        return results

    async def _place_write(self, caller: Caller, record: PushedRecord, existing: Record | None,
                           values: Mapping[str, Any]) -> tuple[uuid.UUID, int, dict[str, Any]]:
        merged = {**(existing.data if existing else {}), **values}
        fixed = _place_fields(merged)
        place_id = existing.data.get("place_id") if existing else None
        if place_id:
            changes = {k: v for k, v in fixed.items() if existing is None
                       or _place_fields(existing.data).get(k) != v}
            version, state = await self._owners.update_place(
                caller.user_id, uuid.UUID(str(place_id)), existing.source_version if existing
                else None, changes)
            return uuid.UUID(str(place_id)), version, state
        return await self._owners.create_place(caller.user_id, record.id, fixed)

    async def _delivery_update(self, caller: Caller, record_id: str,
                               values: Mapping[str, Any]) -> bool:
        """Forward a rider's update to delivery; an update delivery refuses stays logged."""
        try:
            delivery_id = uuid.UUID(str(values.get("delivery_id")))
        except ValueError:
            log.info("sync.delivery_update.bad_delivery", record_id=record_id)
            return False
        at = dt.datetime.fromtimestamp(int(values.get("at") or 0) / 1000, tz=dt.UTC)
        if values.get("at") in (None, 0):
            at = self._clock.now()
        try:
            await self._owners.delivery_status(caller.user_id, delivery_id,
                                               str(values.get("status")), at,
                                               values.get("pin"), record_id)
        except OwnerRejected as exc:
            log.info("sync.delivery_update.refused", record_id=record_id, status=exc.status)
            return False
        return True

    async def _apply(self, uow: SyncUnitOfWork, caller: Caller, plan: _Plan,
                     remote: Mapping[tuple[str, str], Any], *, first_seq: int) -> None:
        scope = user_scope(caller.user_id)
        seqs = _SeqSource(uow, first_seq)
        for record, spec, values in plan.writes:
            existing = plan.existing.get((spec.name, record.id))
            if spec.name == "places":
                outcome = remote.get((spec.name, record.id))
                if outcome is None:
                    if existing is not None:
                        await uow.records.bump("places", scope, record.id, seq=await seqs.next())
                    continue
                place_id, place_version, state = outcome
                await uow.links.link_place(caller.user_id, record.id, place_id)
                if record.id != str(place_id) and await uow.records.get(
                        "places", scope, str(place_id)) is not None:
                    # identity's event arrived before this link: retire the row it made
                    await uow.records.delete("places", scope, str(place_id),
                                             seq=await seqs.next())
                data = {**state, "place_id": str(place_id)}
                await uow.records.upsert("places", scope, record.id, data,
                                         seq=await seqs.next(), client_id=caller.client_id,
                                         source_version=place_version)
                continue
            data = {**(existing.data if existing else {}), **values}
            if spec.name == "delivery_updates":
                data["accepted"] = bool(remote.get((spec.name, record.id)))
            if existing is not None and dict(existing.data) == data:
                continue  # nothing changed: keep the seq, no echo
            await uow.records.upsert(spec.name, scope, record.id, data, seq=await seqs.next(),
                                     client_id=caller.client_id,
                                     source_version=existing.source_version if existing
                                     else None)
        for record, spec in plan.deletes:
            await uow.records.delete(spec.name, scope, record.id, seq=await seqs.next())
        for table, record_scope, record_id in plan.bumps:
            await uow.records.bump(table, record_scope, record_id, seq=await seqs.next())
        for table, record_scope, record_id in plan.reissue:
            await uow.records.write_tombstone(table, record_scope, record_id,
                                              seq=await seqs.next())

    # -- retention ---------------------------------------------------------------------------

    async def purge_tombstones(self, before: dt.datetime) -> int:
        """Purge tombstones older than ``before`` and raise the horizon to the highest seq
        purged: a device whose cursor is below it gets a replacement sync next time."""
        async with self._uow() as uow:
            await uow.records.next_seq()  # writers queue behind the counter, as for pushes
            purged = await uow.records.purge_tombstones(before)
            await uow.commit()
        return purged

    # -- REST edits (ETag / If-Match / merge patch) ------------------------------------------

    async def get_record(self, user_id: uuid.UUID, table: str, record_id: str) -> Record:
        """One of the caller's records (404 for anyone else's)."""
        async with self._uow() as uow:
            record = await uow.records.get(table, user_scope(user_id), record_id)
        if record is None:
            raise RecordNotFound()
        return record

    async def patch_cart_item(self, user_id: uuid.UUID, record_id: str, patch: Mapping[str, Any],
                              check: Callable[[Record], None]) -> Record:
        """Merge-patch a cart item (RFC 7396) under ``If-Match``; devices get it next pull.

        ``check`` raises 428/412 when the precondition does not hold for the stored record.
        ``null`` removes optional columns; values are sanitized like pushed ones.
        """
        spec = self.registry.table("cart_items")
        assert spec is not None
        async with self._uow() as uow:
            seq = await uow.records.next_seq()
            scope = user_scope(user_id)
            record = await uow.records.get("cart_items", scope, record_id)
            if record is None:
                raise RecordNotFound()
            check(record)
            unknown = sorted(set(patch) - {c.name for c in spec.columns if c.writable})
            if unknown:
                raise MalformedSync("sync_unknown_columns", columns=", ".join(unknown))
            merged = {**record.data}
            for name, value in patch.items():
                if value is None:
                    merged.pop(name, None)
                else:
                    merged[name] = value
            values, _ = sanitize_row(spec, {**{c.name: None for c in spec.columns
                                               if not c.optional}, **merged},
                                     version=self.registry.current_version, record_id=record_id)
            saved = await uow.records.upsert("cart_items", scope, record_id, values, seq=seq,
                                             client_id=None,
                                             source_version=record.source_version)
            await uow.commit()
        return saved


class _FreshTimestampNeeded(Exception):
    """A pull must draw a seq first so that its answer's timestamp is above the cursor."""


class _SeqSource:
    """Hands out seqs in a push transaction: the first drawn up front, then one per write."""

    def __init__(self, uow: SyncUnitOfWork, first: int) -> None:
        self._uow = uow
        self._first: int | None = first

    async def next(self) -> int:
        if self._first is not None:
            value, self._first = self._first, None
            return value
        return await self._uow.records.next_seq()


PLACE_FIELDS = ("label", "city", "quartier", "landmark", "directions", "lat", "lng",
                "plus_code", "contact_phone", "is_default")


def _place_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """A place as identity accepts it: required texts never empty (sanitized, not refused)."""
    out = {k: data.get(k) for k in PLACE_FIELDS}
    out["label"] = (str(out.get("label") or "").strip() or "Lieu")[:60]
    out["city"] = (str(out.get("city") or "").strip() or "Douala")[:40]
    out["quartier"] = (str(out.get("quartier") or "").strip() or "-")[:80]
    out["is_default"] = bool(out.get("is_default"))
    for name in ("landmark", "directions", "plus_code", "contact_phone"):
        if out.get(name) == "":
            out[name] = None
    if out.get("contact_phone"):
        try:
            out["contact_phone"] = parse_phone(str(out["contact_phone"])).e164
        except OkadaError:
            out["contact_phone"] = None
    return out


def digest(body: bytes) -> str:
    """Fingerprint of a push body (the retry shortcut's key)."""
    return hashlib.sha256(body).hexdigest()

