"""Scenarios 9 (failed pull), 11 (edit during push) and 13 (migration sync adding a table).

Faults are injected in the device's transport (``Device._pull``/``Device._push``), i.e. between
the client and a server that did, or did not, do its work.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from okada.services.sync.domain.schema import Access, App, Column, ColumnType, TableSpec
from tests.services.sync.conftest import SyncEnv
from tests.services.sync.device import Device, SyncFailed
from tests.services.sync.test_protocol import product_events, seed_catalog, store_event


def fail_next_pull(device: Device, *, after_server: bool) -> list[int | None]:
    """Make the device's next pull answer 500, before or after the server did its work.

    Returns the cursors the failing pull was sent with.
    """
    real = device._pull
    seen: list[int | None] = []

    async def pull(cursor: int | None, migration: dict[str, Any] | None) -> dict[str, Any]:
        device._pull = real
        seen.append(cursor)
        if after_server:
            await real(cursor, migration)  # the server answered; a proxy turned it into a 500
        raise SyncFailed("500")

    device._pull = pull
    return seen


async def assert_converged(env: SyncEnv, user: uuid.UUID, table: str, *devices: Device) -> None:
    server = await env.server_rows(user, table)
    for device in devices:
        assert device.live(table) == server, device
        assert not device.unsynced() and device.diagnostics == []


@pytest.mark.parametrize("after_server", [False, True])
async def test_failed_pull_keeps_cursor_and_next_sync_is_clean(env: SyncEnv,
                                                               after_server: bool) -> None:
    user = uuid.uuid4()
    a, b = env.device(user, "devA"), env.device(user, "devB")
    a.create("cart_items", "f1", store_id="s", product_id="p", quantity=1)
    await a.sync()
    await b.sync()
    cursor = b.last_pulled_at
    a.update("cart_items", "f1", quantity=6)
    a.create("cart_items", "f2", store_id="s", product_id="q", quantity=2)
    a.delete("cart_items", "f1")
    a.create("cart_items", "f3", store_id="s", product_id="r", quantity=3)
    await a.sync()
    b.update("cart_items", "f1", added_at=7)  # a local edit waiting for the next sync
    sent = fail_next_pull(b, after_server=after_server)
    with pytest.raises(SyncFailed, match="500"):
        await b.sync()
    assert sent == [cursor]
    assert b.last_pulled_at == cursor  # the cursor did not move
    assert b.tables["cart_items"]["f1"]["_status"] == "updated"  # nothing pushed, still dirty
    assert set(b.live("cart_items")) == {"f1"}  # nothing of the failed pull applied
    answer = await b.sync()
    assert b.last_pulled_at is not None and cursor is not None and b.last_pulled_at > cursor
    changes = answer["changes"]["cart_items"]
    assert sorted(r["id"] for r in changes["created"]) == ["f2", "f3"]
    assert changes["deleted"] == ["f1"]  # the deletion wins over B's pending update
    await a.sync()
    await assert_converged(env, user, "cart_items", a, b)
    assert set(b.live("cart_items")) == {"f2", "f3"}


async def test_failed_pull_during_a_store_switch_still_replaces_the_catalog(env: SyncEnv) -> None:
    """The server remembers the device's store when it answers a pull; if that answer is lost
    the retry must still carry the switch, or the device keeps the old store's products."""
    user = uuid.uuid4()
    old_store, old_products = await seed_catalog(env, 2)
    new_store = uuid.uuid4()
    await env.feed(store_event(new_store))
    new_product = uuid.uuid4()
    await env.feed(*product_events(new_store, new_product))  # type: ignore[arg-type]
    device = env.device(user, "devS", store=old_store)
    await device.sync()
    assert set(device.live("products")) == {str(p) for p in old_products}
    switched = env.device(user, "devS", store=new_store)  # same install asks for the new store
    switched.tables, switched.last_pulled_at = device.tables, device.last_pulled_at
    fail_next_pull(switched, after_server=True)
    with pytest.raises(SyncFailed):
        await switched.sync()
    await switched.sync()
    assert set(switched.live("products")) == {str(new_product)}
    assert switched.diagnostics == []


async def test_edit_during_push_stays_dirty_and_syncs_next_time(env: SyncEnv) -> None:
    user = uuid.uuid4()
    a, b = env.device(user, "devA"), env.device(user, "devB")
    a.create("cart_items", "e1", store_id="s", product_id="p", quantity=1)
    a.create("cart_items", "e2", store_id="s", product_id="q", quantity=1)
    await a.sync()
    await b.sync()
    a.update("cart_items", "e1", quantity=2)
    a.create("cart_items", "e3", store_id="s", product_id="r", quantity=1)
    a.update("cart_items", "e2", quantity=4)
    real = a._push
    calls: list[dict[str, Any]] = []

    async def push(changes: dict[str, Any], cursor: int) -> None:
        calls.append(changes)
        await real(changes, cursor)  # the server committed; the answer is on its way back
        if len(calls) == 1:  # the user keeps tapping while the request is in flight
            a.update("cart_items", "e1", quantity=9)
            a.update("cart_items", "e3", added_at=33)
            a.delete("cart_items", "e2")

    a._push = push
    await a.sync()
    pushed = calls[0]["cart_items"]
    assert {r["id"]: r["quantity"] for r in pushed["updated"]} == {"e1": 2, "e2": 4}
    assert [r["id"] for r in pushed["created"]] == ["e3"]
    server = await env.server_rows(user, "cart_items")
    assert server["e1"]["quantity"] == 2 and server["e3"]["added_at"] is None
    # edited after the push was read: not marked as synced
    assert a.tables["cart_items"]["e1"]["_status"] == "updated"
    assert a.tables["cart_items"]["e3"]["_status"] == "created"
    assert a.deleted["cart_items"] == {"e2"} and a.unsynced()
    await a.sync()  # the next sync pushes them
    second = calls[1]["cart_items"]
    assert {r["id"]: r["quantity"] for r in second["updated"]} == {"e1": 9}
    # still "created" locally: pushed again as created, the server applies it as an update
    assert [(r["id"], r["added_at"]) for r in second["created"]] == [("e3", 33)]
    assert second["deleted"] == ["e2"]
    await b.sync()
    await a.sync()
    await assert_converged(env, user, "cart_items", a, b)
    assert a.live("cart_items")["e1"]["quantity"] == 9
    assert a.live("cart_items")["e3"]["added_at"] == 33 and "e2" not in a.live("cart_items")


async def test_migration_sync_adds_a_table_and_a_column(env: SyncEnv) -> None:
    favorites = TableSpec("favorites", App.CUSTOMER, Access.READ_WRITE, (
        Column("product_id", ColumnType.STRING, writable=True, max_length=64, since=2),
        Column("note", ColumnType.STRING, optional=True, writable=True, max_length=80,
               since=2),
    ), since=2)
    v2 = env.registry.extended(favorites, columns={
        "cart_items": [Column("gift", ColumnType.BOOLEAN, writable=True, since=2)],
    }, current_version=2)
    service = env.service = env.build(v2)
    user = uuid.uuid4()
    old = env.device(user, "devOld", service=service, schema_version=1)
    old.create("cart_items", "c1", store_id="s", product_id="p", quantity=1)
    await old.sync()
    first = await old.sync()
    assert "favorites" not in first["changes"]  # a v1 client does not get the new table
    new = env.device(user, "devNew", service=service, schema_version=2)
    new.schema["favorites"] = ["product_id", "note"]
    new.tables["favorites"], new.deleted["favorites"] = {}, set()
    new.schema["cart_items"].append("gift")
    await new.sync()
    new.create("favorites", "fav1", product_id="p", note="le meilleur pain")
    new.create("favorites", "fav2", product_id="q")
    new.update("cart_items", "c1", gift=True)
    await new.sync()
    # an old client pushing the new table is ignored, not refused
    await service.push(env.caller(user, "devOld"), last_pulled_at=str(old.last_pulled_at),
                       schema_version="1", body={"favorites": {
                           "created": [{"id": "fav9", "product_id": "z"}], "updated": [],
                           "deleted": []}}, body_digest="old")
    quiet = await old.sync()
    assert "favorites" not in quiet["changes"]
    assert [r["id"] for r in quiet["changes"]["cart_items"]["updated"]] == ["c1"]
    # the old device upgrades (testClone in the real client): the migration sync
    old.holder["version"] = 2  # type: ignore[attr-defined]
    old.schema["favorites"] = ["product_id", "note"]
    old.tables["favorites"], old.deleted["favorites"] = {}, set()
    old.schema["cart_items"].append("gift")
    answer = await old.sync(migration={"from": 1, "tables": ["favorites"], "columns": [
        {"table": "cart_items", "columns": ["gift"]}]})
    created = answer["changes"]["favorites"]["created"]
    assert sorted(r["id"] for r in created) == ["fav1", "fav2"]
    assert answer["changes"]["favorites"]["updated"] == []
    assert [(r["id"], r["gift"]) for r in answer["changes"]["cart_items"]["updated"]] == [
        ("c1", True)]
    assert old.live("favorites") == new.live("favorites")
    assert old.live("favorites")["fav1"]["note"] == "le meilleur pain"
    assert old.live("cart_items")["c1"]["gift"] is True
    # and now writes the new table like any v2 device
    old.update("favorites", "fav2", note="pour demain")
    await old.sync()
    await new.sync()
    assert new.live("favorites")["fav2"]["note"] == "pour demain"
    await assert_converged(env, user, "favorites", old, new)
    await assert_converged(env, user, "cart_items", old, new)
