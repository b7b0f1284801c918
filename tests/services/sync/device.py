"""A Python re-implementation of WatermelonDB 0.28's ``synchronize()`` as a test device.

It follows ``src/sync/impl/{synchronize,applyRemote,fetchLocal,markAsSynced}.js``: pull, refuse
``_status``/``_changed`` in pulled rows, apply created/updated/deleted with the same
diagnostics ("Server wants client to create record … already exists locally", "… update
record … doesn't exist locally", "previous pulled-at time was greater"), per-column conflict
resolution (locally changed columns win), replacement strategy, then push local changes and
mark them synced only if still identical to what was pushed. A thrown push leaves every
record dirty while the pulled data and the cursor stay.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any

Pull = Callable[[int | None, dict[str, Any] | None], Awaitable[dict[str, Any]]]
PushFn = Callable[[dict[str, Any], int], Awaitable[None]]


class SyncFailed(Exception):
    """The server answered non-2xx."""


class Device:
    """One app install with a local database of the given tables and columns."""

    def __init__(self, schema: dict[str, list[str]], pull: Pull, push: PushFn) -> None:
        self.schema = schema
        self.tables: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in schema}
        self.deleted: dict[str, set[str]] = {t: set() for t in schema}
        self.last_pulled_at: int | None = None
        self.diagnostics: list[str] = []
        self.extra: list[dict[str, Any]] = []
        self._pull = pull
        self._push = push

    # -- local edits -------------------------------------------------------------------------

    def create(self, table: str, record_id: str, **values: Any) -> None:
        row = dict.fromkeys(self.schema[table])
        row.update(values)
        row.update(id=record_id, _status="created", _changed="")
        self.tables[table][record_id] = row

    def update(self, table: str, record_id: str, **values: Any) -> None:
        row = self.tables[table][record_id]
        row.update(values)
        # Like ``setRawColumnChange``: columns are tracked even on a record still "created"
        # (its creation may be in flight, and a pulled echo must not overwrite the edit).
        changed = set(filter(None, row["_changed"].split(",")))
        row["_changed"] = ",".join(sorted(changed | set(values)))
        if row["_status"] != "created":
            row["_status"] = "updated"

    def delete(self, table: str, record_id: str) -> None:
        # Like ``Model.markAsDeleted()``: even a record never pushed (or whose creation is in
        # flight) is pushed as a deletion; the server ignores deletions of unknown ids.
        self.tables[table].pop(record_id)
        self.deleted[table].add(record_id)

    def live(self, table: str) -> dict[str, dict[str, Any]]:
        """Rows without local bookkeeping."""
        return {i: {k: v for k, v in r.items() if not k.startswith("_")}
                for i, r in self.tables[table].items()}

    def unsynced(self) -> bool:
        return any(r["_status"] != "synced" for t in self.tables.values()
                   for r in t.values()) or any(self.deleted.values())

    # -- synchronize() -----------------------------------------------------------------------

    async def sync(self, *, with_push: bool = True,
                   migration: dict[str, Any] | None = None) -> dict[str, Any]:
        before = self.last_pulled_at
        answer = await self._pull(before, migration)
        changes, timestamp = answer["changes"], answer["timestamp"]
        assert isinstance(timestamp, int) and timestamp > 0, timestamp
        self.extra.append({k: v for k, v in answer.items() if k != "changes"})
        if before is not None and timestamp < before:
            self.diagnostics.append("previous pulled-at time was greater")
        self._apply(changes, answer.get("experimentalStrategy"))
        self.last_pulled_at = timestamp
        if with_push:
            local = self._local_changes()
            if any(v["created"] or v["updated"] or v["deleted"] for v in local.values()):
                pushed = copy.deepcopy(local)
                await self._push(local, timestamp)  # raises SyncFailed: everything stays dirty
                self._mark_synced(pushed)
        return answer

    def _strategy(self, strategy: Any, table: str) -> str:
        if not strategy:
            return "incremental"
        if isinstance(strategy, str):
            return strategy
        return str(strategy["override"].get(table, strategy["default"]))

    def _apply(self, changes: dict[str, Any], strategy: Any) -> None:
        for table, lists in changes.items():
            if table not in self.tables:
                continue  # unknown tables are skipped
            local = self.tables[table]
            ids = [r["id"] for r in lists["created"] + lists["updated"]]
            assert len(ids) + len(lists["deleted"]) == len(set(ids) | set(lists["deleted"])), (
                f"an id appears twice in {table}")
            for raw in lists["created"] + lists["updated"]:
                assert "id" in raw and "_status" not in raw and "_changed" not in raw, (
                    "[Sync] Invalid raw record supplied to Sync")
            for raw in lists["created"]:
                if raw["id"] in local:
                    self.diagnostics.append(
                        f"Server wants client to create record {table}#{raw['id']}, "
                        "but it already exists locally")
                    self._update_from_raw(table, raw)
                elif raw["id"] in self.deleted[table]:
                    self.diagnostics.append(
                        f"Server wants client to create record {table}#{raw['id']}, "
                        "but it already exists locally and is marked as deleted")
                    self.deleted[table].discard(raw["id"])
                    self._create_from_raw(table, raw)
                else:
                    self._create_from_raw(table, raw)
            for raw in lists["updated"]:
                if raw["id"] in local:
                    self._update_from_raw(table, raw)
                elif raw["id"] not in self.deleted[table]:
                    self.diagnostics.append(
                        f"Server wants client to update record {table}#{raw['id']}, "
                        "but it doesn't exist locally")
                    self._create_from_raw(table, raw)
            for record_id in lists["deleted"]:
                local.pop(record_id, None)
                self.deleted[table].discard(record_id)
            if self._strategy(strategy, table) == "replacement":
                keep = set(ids)
                for record_id in list(local):
                    if record_id not in keep and local[record_id]["_status"] != "created":
                        del local[record_id]
                self.deleted[table] &= keep

    def _create_from_raw(self, table: str, raw: dict[str, Any]) -> None:
        row = {c: raw.get(c) for c in self.schema[table]}
        row.update(id=raw["id"], _status="synced", _changed="")
        self.tables[table][raw["id"]] = row

    def _update_from_raw(self, table: str, raw: dict[str, Any]) -> None:
        row = self.tables[table][raw["id"]]
        if row["_status"] == "synced":
            for column in self.schema[table]:
                if column in raw:
                    row[column] = raw[column]
            return
        changed = set(filter(None, row["_changed"].split(",")))
        for column in self.schema[table]:
            if column in raw and column not in changed:
                row[column] = raw[column]

    def _local_changes(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for table, rows in self.tables.items():
            out[table] = {
                "created": [dict(r) for r in rows.values() if r["_status"] == "created"],
                "updated": [dict(r) for r in rows.values() if r["_status"] == "updated"],
                "deleted": sorted(self.deleted[table]),
            }
        return out

    def _mark_synced(self, pushed: dict[str, Any]) -> None:
        for table, lists in pushed.items():
            for raw in lists["created"] + lists["updated"]:
                row = self.tables[table].get(raw["id"])
                if row is not None and row == raw:
                    row["_status"], row["_changed"] = "synced", ""
            for record_id in lists["deleted"]:
                self.deleted[table].discard(record_id)


def sync_complaints(device: Device) -> list[str]:
    """Diagnostics WatermelonDB would log as protocol problems."""
    return list(device.diagnostics)
