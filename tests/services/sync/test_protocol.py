"""WatermelonDB protocol scenarios (offline-sync.md section 7) against the sync application.

Devices are :class:`tests.services.sync.device.Device`, a re-implementation of WatermelonDB
0.28's ``synchronize()``; its diagnostics are the client's ``[Sync]`` complaints.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from okada.contracts.catalog.v1 import (
    OfferState,
    PriceChanged,
    ProductState,
    ProductUpserted,
    StoreState,
    StoreUpdated,
    Text,
    offer_id,
)
from okada.contracts.inventory.v1 import StockLevelChanged, StockState
from okada.contracts.notifications.v1 import InboxItemChanged, InboxItemState
from okada.contracts.orders.v1 import (
    DeliveryAddressState,
    OrderConfirmed,
    OrderPaymentState,
    OrderPlaced,
    OrderState,
)
from okada.kernel.authz import Role
from okada.services.sync.domain.errors import BadCursor, MalformedSync, SyncConflict
from okada.services.sync.domain.schema import Column, ColumnType
from tests.services.sync.conftest import SyncEnv
from tests.services.sync.device import SyncFailed

NOW = dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)


def store_event(store: uuid.UUID, version: int = 1) -> StoreUpdated:
    return StoreUpdated(entity_id=store, version=version, state=StoreState(
        name="Okada Akwa", kind="dark_store", city="Douala", quartier="Akwa", landmark=None,
        lat=4.05, lng=9.70, delivery_radius_m=5000, delivery_polygon=None, opening_hours=[],
        status="open", prep_minutes=10))


def product_events(store: uuid.UUID, product: uuid.UUID, price: int = 500,
                   version: int = 1) -> list[object]:
    return [
        ProductUpserted(entity_id=product, version=1, state=ProductState(
            sku="SKU", category_id=uuid.uuid5(uuid.NAMESPACE_DNS, "cat"),
            name=Text(fr="Pain", en="Bread"), description=None, brand=None,
            unit=Text(fr="pièce", en="piece"), barcode=None, images=[], tags=[],
            sold_by_weight=False)),
        PriceChanged(entity_id=offer_id(store, product), version=version, state=OfferState(
            store_id=store, product_id=product, price_xaf=price, listed=True)),
    ]


async def seed_catalog(env: SyncEnv, count: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    store = uuid.uuid4()
    await env.feed(store_event(store))
    products = [uuid.uuid4() for _ in range(count)]
    for product in products:
        await env.feed(*product_events(store, product))  # type: ignore[arg-type]
    return store, products


async def test_first_sync_empty_and_populated(env: SyncEnv) -> None:
    user = uuid.uuid4()
    empty = await env.device(user, "devA").sync()
    assert empty["timestamp"] > 0
    assert all(v == {"created": [], "updated": [], "deleted": []}
               for v in empty["changes"].values())
    assert set(empty["changes"]) == {"places", "cart_items", "products", "orders",
                                     "notifications"}
    store, products = await seed_catalog(env, 3)
    device = env.device(user, "devB", store=store)
    answer = await device.sync()
    created = answer["changes"]["products"]["created"]
    assert {r["id"] for r in created} == {str(p) for p in products}
    assert created[0]["name"] == "Bread" and created[0]["price"] == 500
    assert created[0]["in_stock"] is False
    assert all(not v["deleted"] and not v["updated"] for v in answer["changes"].values())
    assert not any(k.startswith("_") for r in created for k in r)


async def test_echo_and_incremental_pull(env: SyncEnv) -> None:
    user = uuid.uuid4()
    a, b = env.device(user, "devA"), env.device(user, "devB")
    await a.sync()
    await b.sync()
    a.create("cart_items", "item1", store_id="s", product_id="p", quantity=2, added_at=1)
    await a.sync()
    answer_b = await b.sync()
    assert [r["id"] for r in answer_b["changes"]["cart_items"]["created"]] == ["item1"]
    answer_a = await a.sync()  # A's own push comes back as an echo: updated, never created
    assert answer_a["changes"]["cart_items"]["created"] == []
    assert [r["id"] for r in answer_a["changes"]["cart_items"]["updated"]] == ["item1"]
    quiet = await a.sync()
    assert quiet["changes"]["cart_items"] == {"created": [], "updated": [], "deleted": []}
    assert a.diagnostics == [] and b.diagnostics == []
    assert b.live("cart_items")["item1"]["quantity"] == 2


async def test_push_created_updated_deleted_and_resurrection(env: SyncEnv) -> None:
    user = uuid.uuid4()
    a, b = env.device(user, "devA"), env.device(user, "devB")
    await a.sync()
    await b.sync()
    a.create("cart_items", "x1", store_id="s", product_id="p1", quantity=1)
    a.create("cart_items", "x2", store_id="s", product_id="p2", quantity=1)
    await a.sync()
    await b.sync()
    a.update("cart_items", "x1", quantity=5)
    a.delete("cart_items", "x2")
    await a.sync()
    await b.sync()
    await a.sync()
    assert set(b.live("cart_items")) == {"x1"} and b.live("cart_items")["x1"]["quantity"] == 5
    assert set(a.live("cart_items")) == {"x1"}
    server = await env.server_rows(user, "cart_items")
    assert server == {"x1": b.live("cart_items")["x1"]}
    assert not a.unsynced() and not b.unsynced()
    assert a.diagnostics == [] and b.diagnostics == []


async def test_different_and_same_columns_last_sync_wins(env: SyncEnv) -> None:
    user = uuid.uuid4()
    a, b = env.device(user, "devA"), env.device(user, "devB")
    a.create("cart_items", "c1", store_id="s", product_id="p", quantity=1, added_at=10)
    await a.sync()
    await b.sync()
    a.update("cart_items", "c1", quantity=3)
    b.update("cart_items", "c1", added_at=99)
    await a.sync()
    await b.sync()
    await a.sync()
    assert a.live("cart_items")["c1"]["quantity"] == 3
    assert a.live("cart_items")["c1"]["added_at"] == 99
    assert b.live("cart_items") == a.live("cart_items")
    a.update("cart_items", "c1", quantity=7)
    b.update("cart_items", "c1", quantity=8)
    await a.sync()
    await b.sync()
    await a.sync()
    assert a.live("cart_items")["c1"]["quantity"] == 8 == b.live("cart_items")["c1"]["quantity"]


async def test_conflict_rejects_whole_push_and_retry_converges(env: SyncEnv) -> None:
    user = uuid.uuid4()
    a, b = env.device(user, "devA"), env.device(user, "devB")
    a.create("cart_items", "k1", store_id="s", product_id="p", quantity=1)
    await a.sync()
    await b.sync()
    cursor = a.last_pulled_at
    assert cursor is not None
    b.update("cart_items", "k1", quantity=4)
    await b.sync()
    a.update("cart_items", "k1", added_at=5)
    a.create("cart_items", "k2", store_id="s", product_id="q", quantity=1)
    caller = env.caller(user, "devA")
    with pytest.raises(SyncConflict) as info:
        await env.service.push(caller, last_pulled_at=str(cursor), schema_version="1",
                               body=a._local_changes(), body_digest="x")
    assert info.value.conflicts == {"cart_items": ["k1"]}
    assert "k2" not in await env.server_rows(user, "cart_items")  # nothing applied
    await a.sync()  # pulls B's edit, merges, re-pushes
    await b.sync()
    assert a.live("cart_items") == b.live("cart_items")
    assert a.live("cart_items")["k1"]["quantity"] == 4
    assert a.live("cart_items")["k1"]["added_at"] == 5
    assert set(a.live("cart_items")) == {"k1", "k2"}


async def test_update_vs_delete_both_orders(env: SyncEnv) -> None:
    user = uuid.uuid4()
    a, b = env.device(user, "devA"), env.device(user, "devB")
    a.create("cart_items", "d1", store_id="s", product_id="p", quantity=1)
    await a.sync()
    await b.sync()
    a.delete("cart_items", "d1")
    b.update("cart_items", "d1", quantity=9)
    await a.sync()  # deletion first
    await b.sync()  # B pulls the deletion: its local update goes with the record
    await a.sync()
    assert "d1" not in a.live("cart_items") and "d1" not in b.live("cart_items")
    assert not b.unsynced()
    a.create("cart_items", "d2", store_id="s", product_id="p", quantity=1)
    await a.sync()
    await b.sync()
    b.delete("cart_items", "d2")
    a.update("cart_items", "d2", quantity=3)
    await b.sync()  # deletion first again
    await a.sync()
    await b.sync()
    assert "d2" not in a.live("cart_items") and "d2" not in b.live("cart_items")
    assert not a.unsynced() and not b.unsynced()


async def test_retried_push_after_lost_answer_is_harmless(env: SyncEnv) -> None:
    user = uuid.uuid4()
    a = env.device(user, "devA")
    await a.sync()
    a.create("cart_items", "r1", store_id="s", product_id="p", quantity=2)
    caller = env.caller(user, "devA")
    body = a._local_changes()
    cursor = str(a.last_pulled_at)
    await env.service.push(caller, last_pulled_at=cursor, schema_version="1", body=body,
                           body_digest="same")
    # the answer was lost: the client syncs again (pull shows the echo as updated, then push)
    answer = await a.sync()
    assert [r["id"] for r in answer["changes"]["cart_items"]["updated"]] == ["r1"]
    assert not a.unsynced() and a.diagnostics == []
    assert list(await env.server_rows(user, "cart_items")) == ["r1"]


async def test_created_but_existing_is_update_and_delete_missing_ignored(env: SyncEnv) -> None:
    user = uuid.uuid4()
    caller = env.caller(user, "devA")
    await env.service.pull(caller, last_pulled_at="null", schema_version="1", migration=None)
    row = {"id": "e1", "store_id": "s", "product_id": "p", "quantity": 1, "_status": "created",
           "_changed": ""}
    async with env.uow() as uow:
        cursor = await uow.records.current_seq()
    body = {"cart_items": {"created": [row], "updated": [], "deleted": ["ghost"]}}
    await env.service.push(caller, last_pulled_at=str(cursor), schema_version="1", body=body,
                           body_digest="1")
    async with env.uow() as uow:
        cursor = await uow.records.current_seq()
    row2 = {**row, "quantity": 4}
    await env.service.push(caller, last_pulled_at=str(cursor), schema_version="1",
                           body={"cart_items": {"created": [row2], "updated": [],
                                                "deleted": []}}, body_digest="2")
    rows = await env.server_rows(user, "cart_items")
    assert rows["e1"]["quantity"] == 4 and "ghost" not in rows


async def test_sanitized_values_unknown_names_and_bad_input(env: SyncEnv) -> None:
    user = uuid.uuid4()
    caller = env.caller(user, "devA")
    async with env.uow() as uow:
        cursor = str(await uow.records.current_seq())
    body = {"cart_items": {"created": [{"id": "s1", "store_id": 12, "product_id": "p" * 400,
                                        "quantity": "1000", "added_at": -5, "bogus": 1,
                                        "_status": "created", "_changed": ""}],
                           "updated": [], "deleted": []},
            "future_table": {"created": [{"id": "z"}], "updated": [], "deleted": []}}
    assert await env.service.push(caller, last_pulled_at=cursor, schema_version="1", body=body,
                                  body_digest="s") == {}
    row = (await env.server_rows(user, "cart_items"))["s1"]
    assert row == {"id": "s1", "store_id": "12", "product_id": "p" * 64, "quantity": 99,
                   "added_at": 0}
    bad = [
        {"cart_items": {"created": [{"id": "bad id!"}], "updated": [], "deleted": []}},
        {"__proto__": {"created": [], "updated": [], "deleted": []}},
        {"cart_items": {"created": [{"id": "ok", "__proto__": 1}]}},
        ["not", "an", "object"],
    ]
    for payload in bad:
        with pytest.raises(MalformedSync):
            await env.service.push(caller, last_pulled_at=cursor, schema_version="1",
                                   body=payload, body_digest="b")
    for cursor_value in ("0", "-3", "null", "abc"):
        with pytest.raises(MalformedSync):
            await env.service.push(caller, last_pulled_at=cursor_value, schema_version="1",
                                   body={}, body_digest="c")
    with pytest.raises(BadCursor):
        await env.service.push(caller, last_pulled_at="999999", schema_version="1", body={},
                               body_digest="d")


async def test_server_owned_edits_are_reverted_by_next_pull(env: SyncEnv) -> None:
    user = uuid.uuid4()
    order = uuid.uuid4()
    await env.feed(order_event(user, order, OrderPlaced, 1, "PENDING_PAYMENT"))
    a = env.device(user, "devA")
    await a.sync()
    assert a.live("orders")[str(order)]["status"] == "PENDING_PAYMENT"
    a.update("orders", str(order), status="DELIVERED", total=1)
    await a.sync()
    await a.sync()
    assert a.live("orders")[str(order)]["status"] == "PENDING_PAYMENT"
    assert a.live("orders")[str(order)]["total"] == 2500
    await env.feed(order_event(user, order, OrderConfirmed, 2, "CONFIRMED"),
                   order_event(user, order, OrderPlaced, 1, "PENDING_PAYMENT"))  # stale: no-op
    await a.sync()
    assert a.live("orders")[str(order)]["status"] == "CONFIRMED"


def order_event(user: uuid.UUID, order: uuid.UUID, cls: type, version: int,
                status: str) -> object:
    return cls(entity_id=order, version=version, state=OrderState(
        customer_id=user, store_id=uuid.uuid4(), status=status, lines=[], subtotal_xaf=2000,
        delivery_fee_xaf=500, total_xaf=2500, payable_xaf=2500,
        payment=OrderPaymentState(method="mtn_momo"),
        address=DeliveryAddressState(city="Douala", quartier="Akwa"), placed_at=NOW,
        updated_at=NOW))


async def test_per_user_isolation_and_foreign_ids(env: SyncEnv) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    await env.feed(order_event(alice, uuid.uuid4(), OrderPlaced, 1, "CONFIRMED"),  # type: ignore[arg-type]
                   InboxItemChanged(entity_id=uuid.uuid4(), version=1, state=InboxItemState(
                       user_id=alice, kind="order_confirmed", title="t", body="b",
                       order_id=None, read=False, sent_at=NOW)))
    a = env.device(alice, "devA")
    a.create("cart_items", "alice1", store_id="s", product_id="p", quantity=1)
    await a.sync()
    b = env.device(bob, "devB")
    answer = await b.sync()
    assert all(not v["created"] for v in answer["changes"].values())
    b.create("cart_items", "alice1", store_id="s", product_id="p", quantity=9)
    with pytest.raises(SyncFailed, match="sync_foreign_record"):
        await b.sync()
    assert (await env.server_rows(alice, "cart_items"))["alice1"]["quantity"] == 1


async def test_tombstone_retention_and_replacement_sync(env: SyncEnv) -> None:
    user = uuid.uuid4()
    a, b = env.device(user, "devA"), env.device(user, "devB")
    for i in range(3):
        a.create("cart_items", f"t{i}", store_id="s", product_id=str(i), quantity=1)
    await a.sync()
    await b.sync()
    a.delete("cart_items", "t0")
    await a.sync()
    b.create("cart_items", "local", store_id="s", product_id="new", quantity=1)
    env.clock.advance(days=100)
    assert await env.service.purge_tombstones(env.clock.now() - dt.timedelta(days=90)) == 1
    answer = await b.sync(with_push=False)
    assert answer["experimentalStrategy"] == "replacement"
    assert answer["changes"]["cart_items"]["deleted"] == []
    assert set(b.live("cart_items")) == {"t1", "t2", "local"}  # unpushed creation survives
    await b.sync()
    await a.sync()
    assert set(a.live("cart_items")) == {"t1", "t2", "local"}
    assert b.diagnostics == [] and a.diagnostics == []
    assert "experimentalStrategy" not in (await b.sync())


async def test_pagination_has_more_equals_unpaged(env: SyncEnv) -> None:
    store, products = await seed_catalog(env, 12)
    user = uuid.uuid4()
    paged_service = env.build(env.registry, page_size=5)
    paged = env.device(user, "devP", service=paged_service, store=store)
    whole = env.device(user, "devW", store=store)
    pages = 0
    while True:
        answer = await paged.sync(with_push=False)
        pages += 1
        # edits between pages reach the device later, never lost
        if pages == 1:
            await env.feed(PriceChanged(entity_id=offer_id(store, products[0]), version=2,
                                        state=OfferState(store_id=store,
                                                         product_id=products[0],
                                                         price_xaf=650, listed=True)))
        if not answer.get("hasMore"):
            break
    await paged.sync()
    await whole.sync()
    assert pages >= 3
    assert paged.live("products") == whole.live("products")
    assert paged.live("products")[str(products[0])]["price"] == 650
    for answer in paged.extra[:-2]:
        assert answer.get("hasMore") is True


async def test_products_follow_stock_and_delisting(env: SyncEnv) -> None:
    store, (p1, p2) = await seed_catalog(env, 2)
    user = uuid.uuid4()
    a = env.device(user, "devA", store=store)
    await a.sync()
    await env.feed(StockLevelChanged(entity_id=offer_id(store, p1), version=3, state=StockState(
        store_id=store, product_id=p1, on_hand=5, reserved=0, available=5,
        low_stock_threshold=1), reason="receipt"),
        PriceChanged(entity_id=offer_id(store, p2), version=2, state=OfferState(
            store_id=store, product_id=p2, price_xaf=500, listed=False)))
    answer = await a.sync()
    assert [r["id"] for r in answer["changes"]["products"]["updated"]] == [str(p1)]
    assert answer["changes"]["products"]["deleted"] == [str(p2)]
    assert a.live("products")[str(p1)]["in_stock"] is True
    assert set(a.live("products")) == {str(p1)}


async def test_migration_sync_and_old_client_writes(env: SyncEnv) -> None:
    v2 = env.registry.extended(columns={
        "orders": [Column("payable", ColumnType.NUMBER, since=2, integer=True)],
        "cart_items": [Column("note", ColumnType.STRING, optional=True, writable=True,
                              since=2)],
    }, current_version=2)
    service = env.build(v2)
    user, order = uuid.uuid4(), uuid.uuid4()
    await env.feed(order_event(user, order, OrderPlaced, 1, "CONFIRMED"))  # type: ignore[arg-type]
    old = env.device(user, "devOld", service=service, schema_version=1)
    await old.sync()
    assert "payable" not in old.schema["orders"]
    new = env.device(user, "devNew", service=service, schema_version=2)
    new.schema["orders"].append("payable")
    new.schema["cart_items"].append("note")
    await new.sync()
    new.create("cart_items", "n1", store_id="s", product_id="p", quantity=1, note="sans sel")
    await new.sync()
    await old.sync()
    old.update("cart_items", "n1", quantity=2)
    old.tables["cart_items"]["n1"]["note"] = None  # a v1 row cannot hold the v2 column
    await old.sync()
    rows = await env.server_rows(user, "cart_items")
    assert rows["n1"]["quantity"] == 2  # the v1 write landed
    async with env.uow() as uow:
        record = await uow.records.get("cart_items", f"u:{user}", "n1")
    assert record is not None and record.data["note"] == "sans sel"  # v2 column kept
    # the old device upgrades: the migration sync fills the new column of existing rows
    old.holder["version"] = 2  # type: ignore[attr-defined]
    old.schema["orders"].append("payable")
    answer = await old.sync(migration={"from": 1, "tables": [],
                                       "columns": [{"table": "orders",
                                                    "columns": ["payable"]}]})
    assert [r["payable"] for r in answer["changes"]["orders"]["updated"]] == [2500]
    assert old.live("orders")[str(order)]["payable"] == 2500
    assert old.diagnostics == []


async def test_schema_version_retired_and_client_id_required(env: SyncEnv) -> None:
    from okada.kernel.authz import Principal
    from okada.services.sync.application.sync import caller_of
    from okada.services.sync.domain.errors import ClientIdRequired, SchemaRetired
    service = env.build(type(env.registry)(env.registry.tables, current_version=3,
                                           min_version=2))
    with pytest.raises(SchemaRetired):
        await service.pull(env.caller(uuid.uuid4(), "c1"), last_pulled_at=None,
                           schema_version="1", migration=None)
    with pytest.raises(ClientIdRequired):
        caller_of(Principal(user_id=uuid.uuid4(), roles=frozenset({Role.CUSTOMER})), None, "fr")


async def test_rider_tables(env: SyncEnv) -> None:
    from okada.contracts.delivery.v1 import DeliveryPickedUp, DeliveryState, RiderAssigned
    rider, other = uuid.uuid4(), uuid.uuid4()
    delivery = uuid.uuid4()

    def state(rider_id: uuid.UUID, status: str) -> DeliveryState:
        return DeliveryState(order_id=uuid.uuid4(), store_id=uuid.uuid4(),
                             customer_id=uuid.uuid4(), rider_id=rider_id, status=status,
                             store_name="Okada Akwa", store_lat=4.05, store_lng=9.7,
                             drop_lat=4.06, drop_lng=9.71, drop_landmark="pharmacie",
                             customer_phone_masked="+2376****4321", cash_to_collect_xaf=2500,
                             updated_at=NOW)

    await env.feed(RiderAssigned(entity_id=delivery, version=1, state=state(rider, "ASSIGNED")))
    device = env.device(rider, "rid1", Role.RIDER)
    answer = await device.sync()
    assert set(answer["changes"]) == {"deliveries", "delivery_updates"}
    row = device.live("deliveries")[str(delivery)]
    assert row["cash_to_collect"] == 2500 and row["customer_phone_masked"] == "+2376****4321"
    late = int((NOW - dt.timedelta(minutes=30)).timestamp() * 1000)
    device.create("delivery_updates", "u1", delivery_id=str(delivery), status="PICKED_UP",
                  lat=4.05, lng=9.7, at=late, pin=None)
    await device.sync()
    assert env.owners.statuses == [(delivery, "PICKED_UP", NOW - dt.timedelta(minutes=30))]
    device.update("delivery_updates", "u1", status="DELIVERED")  # create only: ignored
    await device.sync()
    await device.sync()
    assert device.live("delivery_updates")["u1"]["status"] == "PICKED_UP"
    assert len(env.owners.statuses) == 1
    # reassigned to another rider: it leaves this device
    await env.feed(DeliveryPickedUp(entity_id=delivery, version=2,
                                    state=state(other, "ASSIGNED")))
    answer = await device.sync()
    assert answer["changes"]["deliveries"]["deleted"] == [str(delivery)]
    assert device.live("deliveries") == {}
    assert device.diagnostics == []


async def test_notifications_read_is_the_only_writable_column(env: SyncEnv) -> None:
    user = uuid.uuid4()
    message = uuid.uuid4()
    await env.feed(InboxItemChanged(entity_id=message, version=1, state=InboxItemState(
        user_id=user, kind="order_confirmed", title="Commande confirmée", body="…",
        order_id=None, read=False, sent_at=NOW)))
    a = env.device(user, "devA")
    await a.sync()
    a.update("notifications", str(message), read=True, title="hacked")
    await a.sync()
    await a.sync()
    assert env.owners.read == [message]
    row = a.live("notifications")[str(message)]
    assert row["read"] is True and row["title"] == "Commande confirmée"


async def test_owner_down_applies_nothing(env: SyncEnv) -> None:
    user = uuid.uuid4()
    a = env.device(user, "devA")
    await a.sync()
    a.create("places", "home", label="Maison", city="Douala", quartier="Akwa",
             is_default=True)
    a.create("cart_items", "c1", store_id="s", product_id="p", quantity=1)
    env.owners.down = True
    with pytest.raises(SyncFailed, match="sync_owner_unavailable"):
        await a.sync()
    assert await env.server_rows(user, "cart_items") == {}
    env.owners.down = False
    await a.sync()
    assert set(await env.server_rows(user, "places")) == {"home"}
    assert not a.unsynced()


async def test_owner_events_landing_before_the_push_commits_are_not_conflicts(
        env: SyncEnv) -> None:
    """identity's PlaceChanged and notifications' InboxItemChanged about this very push may be
    applied before the push's own transaction: the push still succeeds."""
    from okada.contracts.identity.v1 import PlaceChanged, PlaceState
    user, message = uuid.uuid4(), uuid.uuid4()
    inbox = InboxItemState(user_id=user, kind="k", title="t", body="b", order_id=None,
                           read=False, sent_at=NOW)
    await env.feed(InboxItemChanged(entity_id=message, version=1, state=inbox))
    a = env.device(user, "devA")
    a.create("places", "home", label="Maison", city="Douala", quartier="Akwa",
             is_default=True)
    await a.sync()
    place_id = env.owners.created_keys[(user, "home")]

    async def echo(kind: str, entity: uuid.UUID) -> None:
        if kind == "delete_place":
            await env.feed(PlaceChanged(entity_id=entity, version=2, state=PlaceState(
                user_id=user, label="Maison", city="Douala", quartier="Akwa", landmark=None,
                directions=None, lat=None, lng=None, plus_code=None, contact_phone=None,
                is_default=True, deleted=True)))
        else:
            await env.feed(InboxItemChanged(entity_id=entity, version=2,
                                            state=inbox.model_copy(update={"read": True})))

    env.owners.echo = echo
    a.delete("places", "home")
    a.update("notifications", str(message), read=True)
    await a.sync()  # no 409 although both records changed after the pull
    await a.sync()
    assert env.owners.deleted == [place_id] and env.owners.read == [message]
    assert a.live("places") == {} and a.live("notifications")[str(message)]["read"] is True
    assert not a.unsynced() and a.diagnostics == []
