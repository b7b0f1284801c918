"""The WatermelonDB ``Changes`` object: parsing pushes and assembling pulls.

Pull rules (offline-sync.md section 3): one full row per record, never ``_status`` or
``_changed``, never the same id twice in a table, every table key present, ``created`` only
for records another client (or the server) created after the cursor, paging as a prefix of
the change order. Push rules: allowlisted names, valid ids, local columns ignored.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from okada.services.sync.domain.errors import MalformedSync, PushTooLarge
from okada.services.sync.domain.schema import (
    ID_PATTERN,
    LOCAL_COLUMNS,
    NAME_PATTERN,
    Registry,
    TableSpec,
    serialize_row,
)

MAX_CURSOR = 2**53 - 1


class Kind(enum.StrEnum):
    """The list a pushed or pulled record sits in."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


@dataclass(frozen=True)
class PushedRecord:
    """One entry of a pushed ``Changes`` object."""

    table: str
    id: str
    kind: Kind
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PushedChanges:
    """A validated push: records of synced tables plus the names that were ignored."""

    records: tuple[PushedRecord, ...]
    ignored_tables: tuple[str, ...] = ()

    def ids_by_table(self) -> dict[str, list[str]]:
        """Every referenced id per table."""
        out: dict[str, list[str]] = {}
        for record in self.records:
            out.setdefault(record.table, []).append(record.id)
        return out


def parse_cursor(value: str | None, *, push: bool) -> int | None:
    """``last_pulled_at`` as sent: ``null``, empty, ``undefined`` and 0 mean first sync on a
    pull; a push needs a positive integer below 2^53."""
    text = (value or "").strip()
    if text in ("", "null", "undefined", "0") and not push:
        return None
    try:
        number = int(text)
    except ValueError:
        raise MalformedSync("sync_bad_cursor_value", value=text[:20]) from None
    if number <= 0 or number > MAX_CURSOR:
        raise MalformedSync("sync_bad_cursor_value", value=text[:20])
    return number


@dataclass(frozen=True)
class MigrationRequest:
    """What a client upgraded from: tables and columns it must receive in full."""

    from_version: int
    tables: tuple[str, ...]
    columns: tuple[tuple[str, tuple[str, ...]], ...]


def parse_migration(value: str | None) -> MigrationRequest | None:
    """The ``migration`` query parameter (URL-encoded JSON or ``null``)."""
    text = (value or "").strip()
    if text in ("", "null", "undefined"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        raise MalformedSync("sync_bad_migration") from None
    if data is None:
        return None
    if not isinstance(data, dict):
        raise MalformedSync("sync_bad_migration")
    try:
        tables = tuple(str(t) for t in data.get("tables") or [])
        columns = tuple(
            (str(c["table"]), tuple(str(x) for x in c.get("columns") or []))
            for c in data.get("columns") or []
        )
        source = int(data.get("from") or 0)
    except (TypeError, KeyError, ValueError, AttributeError):
        raise MalformedSync("sync_bad_migration") from None
    return MigrationRequest(from_version=source, tables=tables, columns=columns)


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise MalformedSync("sync_unsafe_name", name=str(name)[:40])
    return name


def _check_id(value: Any) -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise MalformedSync("sync_bad_id", value=str(value)[:70])
    return value


def parse_push(body: Any, registry: Registry, *, max_records: int) -> PushedChanges:
    """Validate the shape of a pushed ``Changes`` object.

    Raises :class:`MalformedSync` (400) for a bad shape, an unsafe table or column name or a
    bad id, and :class:`PushTooLarge` (413) above ``max_records``. Unknown but well-formed
    tables and columns are ignored, so an app newer than the server never strands.
    """
    if not isinstance(body, dict):
        raise MalformedSync("sync_malformed")
    records: list[PushedRecord] = []
    ignored: list[str] = []
    for table_name, lists in body.items():
        _check_name(table_name)
        if not isinstance(lists, dict):
            raise MalformedSync("sync_malformed")
        spec = registry.table(table_name)
        seen: set[str] = set()
        for kind in Kind:
            entries = lists.get(kind.value, [])
            if not isinstance(entries, list):
                raise MalformedSync("sync_malformed")
            for entry in entries:
                if kind is Kind.DELETED:
                    record_id, raw = _check_id(entry), {}
                else:
                    if not isinstance(entry, dict):
                        raise MalformedSync("sync_malformed")
                    record_id = _check_id(entry.get("id"))
                    raw = {_check_name(k) if k not in LOCAL_COLUMNS and k != "id" else k: v
                           for k, v in entry.items()}
                if record_id in seen:
                    raise MalformedSync("sync_duplicate_id", value=record_id)
                seen.add(record_id)
                if spec is not None:
                    records.append(PushedRecord(table_name, record_id, kind, raw))
                if len(records) > max_records:
                    raise PushTooLarge(maximum=max_records)
        if spec is None:
            ignored.append(table_name)
    return PushedChanges(tuple(records), tuple(ignored))


@dataclass(frozen=True)
class StoredRow:
    """A live record as the server holds it, with its position in the change order."""

    table: str
    id: str
    data: Mapping[str, Any]
    server_seq: int
    server_created_seq: int
    created_by_client: str | None


@dataclass(frozen=True)
class StoredTombstone:
    """A stored deletion of a record from one scope."""

    table: str
    id: str
    seq: int


@dataclass(frozen=True)
class Page:
    """A prefix of the change order: what one pull returns."""

    rows: list[StoredRow]
    tombstones: list[StoredTombstone]
    has_more: bool
    last_seq: int | None


def take_page(rows: Sequence[StoredRow], tombstones: Sequence[StoredTombstone],
              limit: int) -> Page:
    """Merge rows and tombstones (each sorted by seq) and keep the first ``limit``.

    Every seq is drawn for one row write or one tombstone, so no two entries share a seq and
    a page cut between two entries never splits a transaction's effect on one record.
    """
    merged: list[tuple[int, StoredRow | StoredTombstone]] = sorted(
        [(r.server_seq, r) for r in rows] + [(t.seq, t) for t in tombstones],
        key=lambda item: item[0],
    )
    kept = merged[:limit]
    return Page(
        rows=[e for _, e in kept if isinstance(e, StoredRow)],
        tombstones=[e for _, e in kept if isinstance(e, StoredTombstone)],
        has_more=len(merged) > limit,
        last_seq=kept[-1][0] if kept else None,
    )


def classify(row: StoredRow, *, cursor: int | None, client_id: str) -> Kind:
    """``created`` for a first sync, or for a record created after the cursor by another
    client or by the server; ``updated`` for everything else (echoes included)."""
    if cursor is None:
        return Kind.CREATED
    if row.server_created_seq > cursor and row.created_by_client != client_id:
        return Kind.CREATED
    return Kind.UPDATED


@dataclass
class ChangesBuilder:
    """Assembles the pulled ``Changes`` object with the netting rules."""

    tables: Sequence[TableSpec]
    project: Any = None
    """``(table, data) -> data``: per-request projection (the caller's language)."""
    _created: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    _updated: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    _deleted: dict[str, set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for spec in self.tables:
            self._created[spec.name] = {}
            self._updated[spec.name] = {}
            self._deleted[spec.name] = set()

    def _spec(self, table: str) -> TableSpec | None:
        for spec in self.tables:
            if spec.name == table:
                return spec
        return None

    def add_row(self, row: StoredRow, kind: Kind) -> None:
        """Add a live record (a later call for the same id wins only if it is ``created``)."""
        spec = self._spec(row.table)
        if spec is None:
            return
        data = self.project(row.table, row.data) if self.project else row.data
        raw = serialize_row(spec, row.id, data)
        self._deleted[row.table].discard(row.id)
        if kind is Kind.CREATED:
            self._updated[row.table].pop(row.id, None)
            self._created[row.table][row.id] = raw
        elif row.id not in self._created[row.table]:
            self._updated[row.table][row.id] = raw

    def add_deleted(self, table: str, record_id: str) -> None:
        """Add a deletion unless the record is live in this response."""
        if table not in self._deleted:
            return
        if record_id in self._created[table] or record_id in self._updated[table]:
            return
        self._deleted[table].add(record_id)

    def clear(self, table: str) -> None:
        """Forget what was added for ``table`` (its rows are about to be replaced)."""
        if table in self._created:
            self._created[table].clear()
            self._updated[table].clear()
            self._deleted[table].clear()

    def has(self, table: str, record_id: str) -> bool:
        """Whether the record is already in this response."""
        return record_id in self._created.get(table, {}) or record_id in self._updated.get(
            table, {})

    def build(self) -> dict[str, dict[str, list[Any]]]:
        """The ``changes`` object with every table key."""
        return {
            spec.name: {
                "created": list(self._created[spec.name].values()),
                "updated": list(self._updated[spec.name].values()),
                "deleted": sorted(self._deleted[spec.name]),
            }
            for spec in self.tables
        }


def count(changes: Mapping[str, Mapping[str, Iterable[Any]]]) -> int:
    """Number of entries in a ``Changes`` object."""
    return sum(len(list(v)) for lists in changes.values() for v in lists.values())
