"""Ports of the sync application: its database and the services that own pushed records."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self

from okada.contracts.base import IntegrationEvent
from okada.services.sync.domain.changes import StoredRow, StoredTombstone


def user_scope(user_id: uuid.UUID) -> str:
    """Scope of a user's own records."""
    return f"u:{user_id}"


def store_scope(store_id: uuid.UUID) -> str:
    """Scope of a store's catalog."""
    return f"s:{store_id}"


@dataclass(frozen=True)
class Record:
    """A synced record with its server bookkeeping."""

    table: str
    scope: str
    id: str
    data: Mapping[str, Any]
    server_seq: int
    server_created_seq: int
    created_by_client: str | None
    version: int
    source_version: int | None

    def stored(self) -> StoredRow:
        """The protocol view of the record."""
        return StoredRow(self.table, self.id, self.data, self.server_seq,
                         self.server_created_seq, self.created_by_client)


@dataclass(frozen=True)
class StoreInfo:
    """A store as the sync service knows it from catalog events."""

    id: uuid.UUID
    name: str
    lat: float
    lng: float
    status: str
    deleted: bool


@dataclass(frozen=True)
class Upload:
    """A tus upload's state."""

    id: uuid.UUID
    owner_id: uuid.UUID
    purpose: str
    record_id: str
    content_type: str
    filename: str | None
    length: int
    offset: int
    status: str
    sha256: str | None
    created_at: dt.datetime
    expires_at: dt.datetime
    completed_at: dt.datetime | None


class RecordRepository(Protocol):
    """Synced records, tombstones and the change counter."""

    async def current_seq(self) -> int:
        """The counter's value (the highest seq committed, in this snapshot)."""

    async def horizon(self) -> int:
        """The tombstone horizon: deletions at or below it may have been purged."""

    async def next_seq(self) -> int:
        """Draw the next seq (locks the counter until commit)."""

    async def get(self, table: str, scope: str, record_id: str) -> Record | None:
        """One record."""

    async def scopes_of(self, table: str, record_id: str) -> list[str]:
        """Scopes holding a live record or a tombstone with this table and id."""

    async def tombstone_seq(self, table: str, scope: str, record_id: str) -> int | None:
        """The seq of the record's tombstone, if deleted."""

    async def upsert(self, table: str, scope: str, record_id: str, data: Mapping[str, Any], *,
                     seq: int, client_id: str | None, source_version: int | None = None
                     ) -> Record:
        """Create or replace a record at ``seq`` and drop its tombstone."""

    async def bump(self, table: str, scope: str, record_id: str, *, seq: int) -> None:
        """Move an unchanged record to ``seq`` (the next pull re-sends it)."""

    async def delete(self, table: str, scope: str, record_id: str, *, seq: int) -> bool:
        """Delete a record and write its tombstone at ``seq``; False if it was not live."""

    async def write_tombstone(self, table: str, scope: str, record_id: str, *, seq: int) -> None:
        """Write (or move to ``seq``) a tombstone."""

    async def changes(self, scopes: Mapping[str, Sequence[str]], *, after: int, upper: int,
                      limit: int, with_tombstones: bool
                      ) -> tuple[list[Record], list[StoredTombstone]]:
        """Rows and tombstones with ``after < seq <= upper`` in the scopes (scope → tables),
        each sorted by seq, at most ``limit`` of each."""

    async def all_rows(self, scopes: Mapping[str, Sequence[str]], *, upper: int) -> list[Record]:
        """Every live record of the scopes with ``server_seq <= upper``."""

    async def purge_tombstones(self, before: dt.datetime) -> int:
        """Purge tombstones deleted before ``before``; raise the horizon; return how many."""


class CatalogRepository(Protocol):
    """The catalog read model products rows are computed from."""

    async def store(self, store_id: uuid.UUID) -> StoreInfo | None:
        """A store."""

    async def save_store(self, store: StoreInfo, version: int) -> bool:
        """Save a store if ``version`` is newer; return whether it was."""

    async def open_stores(self) -> list[StoreInfo]:
        """Every store not deleted."""

    async def product(self, product_id: uuid.UUID) -> tuple[int, Mapping[str, Any]] | None:
        """Version and state of a product."""

    async def save_product(self, product_id: uuid.UUID, version: int,
                           state: Mapping[str, Any]) -> bool:
        """Save a product state if ``version`` is newer."""

    async def offer(self, store_id: uuid.UUID, product_id: uuid.UUID
                    ) -> tuple[int, int, bool] | None:
        """Version, price and listing of an offer."""

    async def save_offer(self, store_id: uuid.UUID, product_id: uuid.UUID, version: int,
                         price_xaf: int, listed: bool) -> bool:
        """Save an offer if ``version`` is newer."""

    async def stores_offering(self, product_id: uuid.UUID) -> list[uuid.UUID]:
        """Stores with an offer of the product."""

    async def available(self, store_id: uuid.UUID, product_id: uuid.UUID) -> int | None:
        """Available stock, if known."""

    async def save_stock(self, store_id: uuid.UUID, product_id: uuid.UUID, version: int,
                         available: int) -> bool:
        """Save a stock level if ``version`` is newer."""


@dataclass(frozen=True)
class ClientLink:
    """A device's catalog as the server last sent it.

    ``switch_seq`` is the timestamp of the answer that switched the device to ``store`` from
    ``previous_store``: a device still pulling from below it never applied that answer.
    """

    known: bool
    store: uuid.UUID | None = None
    previous_store: uuid.UUID | None = None
    switch_seq: int | None = None

    def held_store(self, cursor: int | None) -> uuid.UUID | None:
        """The store whose catalog a device pulling from ``cursor`` holds."""
        if self.switch_seq is not None and cursor is not None and cursor < self.switch_seq:
            return self.previous_store
        return self.store


class LinkRepository(Protocol):
    """Device record ids of places ↔ identity place ids, and devices' current stores."""

    async def record_for_place(self, place_id: uuid.UUID) -> tuple[uuid.UUID, str] | None:
        """(user, record id) linked to an identity place."""

    async def link_place(self, user_id: uuid.UUID, record_id: str, place_id: uuid.UUID) -> None:
        """Link a device's place record to identity's place."""

    async def client_store(self, user_id: uuid.UUID, client_id: str) -> ClientLink:
        """What the server knows of the device's catalog."""

    async def save_client_store(self, user_id: uuid.UUID, client_id: str,
                                store_id: uuid.UUID | None, at: dt.datetime, *,
                                previous: uuid.UUID | None = None,
                                switch_seq: int | None = None) -> None:
        """Remember the store whose catalog the device was sent (and, for a switch, the one it
        held before and the answer's timestamp)."""


class UploadRepository(Protocol):
    """tus uploads."""

    async def add(self, upload: Upload) -> None:
        """Store a new upload."""

    async def get(self, upload_id: uuid.UUID) -> Upload | None:
        """One upload."""

    async def advance(self, upload_id: uuid.UUID, *, expected: int, offset: int) -> bool:
        """Move the offset from ``expected`` to ``offset`` (compare and swap)."""

    async def finish(self, upload_id: uuid.UUID, *, status: str, sha256: str | None,
                     at: dt.datetime) -> bool:
        """Close an open upload as completed, failed or expired."""

    async def expired(self, now: dt.datetime, limit: int) -> list[Upload]:
        """Open uploads past their expiry."""


class SyncUnitOfWork(Protocol):
    """One transaction on the sync database."""

    records: RecordRepository
    catalog: CatalogRepository
    links: LinkRepository
    uploads: UploadRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None: ...

    async def snapshot(self) -> None:
        """Make this transaction a consistent read-only snapshot (before any read)."""

    def publish(self, event: IntegrationEvent, *, aggregate_id: str | None = None) -> Any:
        """Queue an integration event for the outbox."""

    async def commit(self) -> None:
        """Commit."""


class OwnerRejected(Exception):
    """The owning service refused a command for good (4xx other than a precondition)."""

    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(f"{status} {detail}")
        self.status = status


class OwnerStale(Exception):
    """The owning service's copy changed since the version we sent (412)."""


class OwnerDown(Exception):
    """The owning service did not answer (timeout, 5xx, not hosted)."""


class OwnerCommands(Protocol):
    """Commands to the services that own pushed records, acting for the signed-in user.

    Each call is idempotent (an ``Idempotency-Key`` derived from the user, the record and
    the content), so a push retried after a failure never acts twice.
    """

    async def create_place(self, user_id: uuid.UUID, record_id: str,
                           values: Mapping[str, Any]) -> tuple[uuid.UUID, int, dict[str, Any]]:
        """Create a saved place; return (place id, version, state)."""

    async def update_place(self, user_id: uuid.UUID, place_id: uuid.UUID, version: int | None,
                           changes: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """Merge-patch a saved place; return (version, state)."""

    async def delete_place(self, user_id: uuid.UUID, place_id: uuid.UUID) -> None:
        """Delete a saved place (a missing one is fine)."""

    async def mark_read(self, user_id: uuid.UUID, notification_id: uuid.UUID) -> None:
        """Mark an inbox message read."""

    async def delivery_status(self, user_id: uuid.UUID, delivery_id: uuid.UUID, status: str,
                              at: dt.datetime, pin: str | None, update_id: str) -> None:
        """Report a rider's delivery progress with the phone's time (accepted late)."""
