"""The sync application on a migrated scratch database, with fake owning services.

Owning services being built in parallel (orders, delivery, notifications) and identity's
place commands are faked here; ``test_platform.py`` covers the real identity round trip.
Events are fed through the service's own idempotent consumer, as the bus would.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

import okada.services.sync as sync_package
from okada.contracts.base import IntegrationEvent
from okada.infra.db.migrations import upgrade
from okada.infra.db.uow import idempotent_consumer
from okada.kernel.authz import Principal, Role
from okada.kernel.clock import FrozenClock
from okada.kernel.errors import OkadaError
from okada.kernel.messages import Envelope
from okada.services.sync.adapters.orm import metadata
from okada.services.sync.adapters.repositories import SyncUoW
from okada.services.sync.application.ports import OwnerDown
from okada.services.sync.application.projections import CONSUMER, HANDLED, on_event
from okada.services.sync.application.sync import Caller, SyncPolicy, SyncService, caller_of
from okada.services.sync.domain.schema import MOBILE_SCHEMA, Registry
from tests.services.sync.device import Device, SyncFailed
from tests.support.databases import scratch_engine

PLATFORM_TABLES = {n: metadata.tables[n] for n in
                   ("outbox", "inbox", "idempotency_keys", "dead_letters")}
CUSTOMER_SCHEMA = {t.name: [c.name for c in t.columns] for t in MOBILE_SCHEMA.tables
                   if t.app.value == "customer"}
RIDER_SCHEMA = {t.name: [c.name for c in t.columns] for t in MOBILE_SCHEMA.tables
                if t.app.value == "rider"}


@dataclass
class FakeOwners:
    """Identity, notifications and delivery as the sync service calls them."""

    places: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    versions: dict[uuid.UUID, int] = field(default_factory=dict)
    created_keys: dict[tuple[uuid.UUID, str], uuid.UUID] = field(default_factory=dict)
    read: list[uuid.UUID] = field(default_factory=list)
    statuses: list[tuple[uuid.UUID, str, dt.datetime]] = field(default_factory=list)
    deleted: list[uuid.UUID] = field(default_factory=list)
    down: bool = False
    echo: Any = None
    """``async (kind, id) -> None`` run inside a command: the owner's event arriving before
    the push commits."""

    async def create_place(self, user_id: uuid.UUID, record_id: str,
                           values: Mapping[str, Any]) -> tuple[uuid.UUID, int, dict[str, Any]]:
        if self.down:
            raise OwnerDown("identity")
        place_id = self.created_keys.setdefault((user_id, record_id), uuid.uuid4())
        self.places[place_id] = dict(values)
        self.versions[place_id] = 1
        return place_id, 1, dict(values)

    async def update_place(self, user_id: uuid.UUID, place_id: uuid.UUID, version: int | None,
                           changes: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.down:
            raise OwnerDown("identity")
        self.places[place_id].update(changes)
        self.versions[place_id] += 1
        return self.versions[place_id], dict(self.places[place_id])

    async def delete_place(self, user_id: uuid.UUID, place_id: uuid.UUID) -> None:
        self.deleted.append(place_id)
        if self.echo is not None:
            await self.echo("delete_place", place_id)

    async def mark_read(self, user_id: uuid.UUID, notification_id: uuid.UUID) -> None:
        if self.down:
            raise OwnerDown("notifications")
        self.read.append(notification_id)
        if self.echo is not None:
            await self.echo("mark_read", notification_id)

    async def delivery_status(self, user_id: uuid.UUID, delivery_id: uuid.UUID, status: str,
                              at: dt.datetime, pin: str | None, update_id: str) -> None:
        self.statuses.append((delivery_id, status, at))


@dataclass
class SyncEnv:
    """The service, its database and helpers to make devices and feed events."""

    engine: AsyncEngine
    clock: FrozenClock
    owners: FakeOwners
    registry: Registry
    page_size: int = 500
    service: SyncService = field(init=False)

    def __post_init__(self) -> None:
        self.service = self.build(self.registry)

    def uow(self) -> SyncUoW:
        return SyncUoW(service="sync", sessions=async_sessionmaker(self.engine,
                                                                   expire_on_commit=False),
                       tables=PLATFORM_TABLES, clock=self.clock)

    def build(self, registry: Registry, page_size: int | None = None) -> SyncService:
        return SyncService(uow_factory=self.uow, registry=registry, owners=self.owners,
                           clock=self.clock,
                           policy=SyncPolicy(page_size=page_size or self.page_size))

    async def feed(self, *events: IntegrationEvent) -> None:
        handler = idempotent_consumer(CONSUMER, self.uow, on_event, dict(HANDLED))
        for event in events:
            await handler(Envelope(schema=event.schema_name, payload=event.to_payload(),
                                   producer="test"))

    def caller(self, user: uuid.UUID, client: str, *roles: Role,
               language: str = "en") -> Caller:
        principal = Principal(user_id=user, roles=frozenset(roles or (Role.CUSTOMER,)))
        return caller_of(principal, client, language)

    def device(self, user: uuid.UUID, client: str, *roles: Role, schema_version: int = 1,
               service: SyncService | None = None, store: uuid.UUID | None = None) -> Device:
        caller = self.caller(user, client, *roles)
        tables = RIDER_SCHEMA if Role.RIDER in roles else CUSTOMER_SCHEMA
        holder: dict[str, Any] = {"service": service or self.service,
                                  "version": schema_version}

        async def pull(cursor: int | None, migration: dict[str, Any] | None) -> dict[str, Any]:
            import json
            try:
                return await holder["service"].pull(
                    caller, last_pulled_at="null" if cursor is None else str(cursor),
                    schema_version=str(holder["version"]),
                    migration=json.dumps(migration) if migration else "null", store_id=store)
            except OkadaError as exc:
                raise SyncFailed(exc.code) from exc

        async def push(changes: dict[str, Any], cursor: int) -> None:
            import json
            raw = json.dumps(changes).encode()
            try:
                await holder["service"].push(caller, last_pulled_at=str(cursor),
                                             schema_version=str(holder["version"]),
                                             body=json.loads(raw), body_digest=str(raw))
            except OkadaError as exc:
                raise SyncFailed(exc.code) from exc

        device = Device({k: list(v) for k, v in tables.items()}, pull, push)
        device.holder = holder  # type: ignore[attr-defined]
        return device

    async def server_rows(self, user: uuid.UUID, table: str) -> dict[str, dict[str, Any]]:
        """The user's live rows as the protocol sends them."""
        from okada.services.sync.domain.schema import serialize_row
        spec = self.service.registry.table(table)
        assert spec is not None
        async with self.uow() as uow:
            rows = await uow.records.all_rows({f"u:{user}": [table]}, upper=2**62)
        return {r.id: serialize_row(spec, r.id, r.data) for r in rows}


async def make_env(engine: AsyncEngine) -> SyncEnv:
    await upgrade(engine, sync_package.service.migrations, "sync")
    return SyncEnv(engine=engine, clock=FrozenClock(), owners=FakeOwners(),
                   registry=MOBILE_SCHEMA)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.distributed)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SyncEnv]:
    """The sync application on a fresh database of each dialect."""
    async with scratch_engine(request.param, tmp_path) as engine:
        yield await make_env(engine)
