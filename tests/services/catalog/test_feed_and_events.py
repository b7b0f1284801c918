"""Delta feed, published events with versions, availability from inventory, the seed."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson

from okada.contracts.catalog.v1 import offer_id
from okada.contracts.inventory.v1 import StockLevelChanged, StockState
from okada.kernel.messages import Envelope
from tests.services.catalog.conftest import SEED, Catalog, product, seeded_offers, store_id

ROOT = Path(__file__).resolve().parents[3]
AKWA = store_id("akwa")
CHANGES = f"/v1/catalog/stores/{AKWA}/changes"
MUTZIG = "BIE-MUTZIG-BOUTEILLE-65-CL"
CASTEL = "BIE-CASTEL-BEER-BOUTEILLE-65-CL"
NDOLE = "LEG-FEUILLES-DE-NDOLE-LAVEES-SACHET-500-G"


async def follow(
    client: httpx.AsyncClient, since: str | None, limit: int = 100
) -> tuple[list[dict[str, Any]], list[str], str]:
    """Read the feed from ``since`` until ``has_more`` is false."""
    changes: list[dict[str, Any]] = []
    deleted: list[str] = []
    while True:
        params: dict[str, Any] = {"limit": limit, **({"since": since} if since else {})}
        response = await client.get(CHANGES, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        changes.extend(page["changes"])
        deleted.extend(page["deleted"])
        since = page["next"]
        if not page["has_more"]:
            assert since is not None
            return changes, deleted, since


def stock_event(sku: str, version: int, available: int) -> Envelope:
    pid = uuid.UUID(product(sku)["id"])
    event = StockLevelChanged(
        entity_id=offer_id(AKWA, pid),
        version=version,
        state=StockState(
            store_id=AKWA,
            product_id=pid,
            on_hand=available + 2,
            reserved=2,
            available=available,
            low_stock_threshold=5,
        ),
        reason="count",
    )
    return Envelope(schema=event.schema_name, payload=event.to_payload(), producer="inventory")


async def test_delta_feed_sends_updates_and_deletions_after_the_cursor(catalog: Catalog) -> None:
    # Given a client that synced the whole store
    changes, deleted, cursor = await follow(catalog.service, None, limit=70)
    listed = {o["product_id"] for o in seeded_offers("akwa") if o["listed"]}
    assert {c["id"] for c in changes} == listed and len(changes) == len(listed)
    assert deleted == []  # a first sync never sends deletions
    # When Mützig is repriced, Castel delisted and the ndolé product withdrawn
    staff = catalog.staff("akwa")
    for sku, body in ((MUTZIG, {"price_xaf": 700}), (CASTEL, {"price_xaf": 650, "listed": False})):
        response = await catalog.service.put(
            f"/v1/merchant/stores/{AKWA}/offers/{product(sku)['id']}", json=body, headers=staff
        )
        assert response.status_code == 200, response.text
    removed = await catalog.service.delete(
        f"/v1/merchant/products/{product(NDOLE)['id']}", headers=catalog.ops()
    )
    assert removed.status_code == 204
    # Then the feed after the cursor has exactly those
    changes, deleted, later = await follow(catalog.service, cursor, limit=1)
    assert [(c["id"], c["price_xaf"]) for c in changes] == [(product(MUTZIG)["id"], 700)]
    assert sorted(deleted) == sorted([product(CASTEL)["id"], product(NDOLE)["id"]])
    # And nothing more once caught up
    assert await follow(catalog.service, later) == ([], [], later)
    # A product rename reaches every store's feed, as an update
    renamed = await catalog.service.patch(
        f"/v1/merchant/products/{product(MUTZIG)['id']}",
        json={"name": {"fr": "Mützig Original", "en": "Mützig Original"}},
        headers=catalog.ops(),
    )
    assert renamed.status_code == 200
    changes, deleted, _ = await follow(catalog.service, later)
    assert [c["name"] for c in changes] == ["Mützig Original"] and deleted == []
    bastos = await catalog.service.get(
        f"/v1/catalog/stores/{store_id('bastos')}/changes", params={"limit": 500}
    )
    assert "Mützig Original" in {c["name"] for c in bastos.json()["changes"]}


async def test_a_delisting_while_a_first_sync_pages_still_reaches_the_client(
    catalog: Catalog,
) -> None:
    first = (await catalog.service.get(CHANGES, params={"limit": 50})).json()
    sent = first["changes"][0]
    assert first["has_more"] and first["deleted"] == []
    delisted = await catalog.service.put(
        f"/v1/merchant/stores/{AKWA}/offers/{sent['id']}",
        json={"price_xaf": sent["price_xaf"], "listed": False},
        headers=catalog.ops(),
    )
    assert delisted.status_code == 200
    changes, deleted, _ = await follow(catalog.service, first["next"], limit=50)
    assert deleted == [sent["id"]]  # the seeded delisted offer was never sent: not listed
    assert sent["id"] not in {c["id"] for c in changes}


async def test_writes_publish_full_state_with_the_new_version(catalog: Catalog) -> None:
    path = f"/v1/merchant/stores/{AKWA}/offers/{product(MUTZIG)['id']}"
    for price in (700, 725):
        await catalog.service.put(path, json={"price_xaf": price}, headers=catalog.staff("akwa"))
    oid = str(offer_id(AKWA, uuid.UUID(product(MUTZIG)["id"])))
    events = [
        e
        for e in await catalog.outbox("catalog.v1.PriceChanged")
        if e["payload"]["entity_id"] == oid
    ]
    assert [e["payload"]["version"] for e in events] == [1, 2, 3]
    last = events[-1]
    assert last["producer"] == "catalog"
    assert last["payload"]["state"] == {
        "store_id": str(AKWA),
        "product_id": product(MUTZIG)["id"],
        "price_xaf": 725,
        "listed": True,
    }
    assert last["payload"]["previous_price_xaf"] == 700


async def test_availability_follows_inventory_and_ignores_stale_versions(
    catalog: Catalog,
) -> None:
    bus = catalog.host.ctx.bus
    _, _, cursor = await follow(catalog.service, None, limit=500)

    async def mutzig() -> dict[str, Any]:
        items = await catalog.items("akwa", q="mutzig")
        assert len(items) == 1
        return items[0]

    assert (await mutzig())["in_stock"] is True  # never reported: in stock
    # Sold out at version 5: delivered through the bus like inventory's relay would
    await bus.publish([stock_event(MUTZIG, version=5, available=0)])
    assert (await mutzig())["in_stock"] is False
    changes, _, cursor = await follow(catalog.service, cursor)
    assert [(c["id"], c["in_stock"]) for c in changes] == [(product(MUTZIG)["id"], False)]
    # A late, older level (version 4) changes nothing; nor does a redelivery
    late = stock_event(MUTZIG, version=4, available=30)
    await bus.publish([late])
    await bus.publish([late])
    assert (await mutzig())["in_stock"] is False
    # A newer level does
    await bus.publish([stock_event(MUTZIG, version=6, available=3)])
    assert (await mutzig())["in_stock"] is True
    # A level for a product the store does not sell yet applies to its offer once created
    offered = {o["product_id"] for o in seeded_offers("akwa")}
    sku = next(p["sku"] for p in SEED["products"] if p["id"] not in offered)
    await bus.publish([stock_event(sku, version=1, available=0)])
    created = await catalog.service.put(
        f"/v1/merchant/stores/{AKWA}/offers/{product(sku)['id']}",
        json={"price_xaf": 900},
        headers=catalog.staff("akwa"),
    )
    assert created.status_code == 201 and created.json()["in_stock"] is False
    # Every delivery was recorded once in the inbox
    inbox = catalog.runtime.metadata.tables["inbox"]
    async with catalog.host.ctx.engine("catalog").connect() as conn:
        rows = (await conn.execute(inbox.select())).all()
    assert sorted(r.schema for r in rows) == ["inventory.v1.StockLevelChanged"] * 4


async def test_seed_is_complete_realistic_and_loaded_once(catalog: Catalog) -> None:
    stores = (await catalog.gateway.get("/v1/catalog/stores")).json()["data"]
    categories = (
        await catalog.gateway.get("/v1/catalog/categories", params={"flat": "true"})
    ).json()["data"]
    assert len(stores) >= 4 and len(categories) >= 12
    assert {s["city"] for s in stores} == {"Douala", "Yaoundé"}
    assert len(SEED["products"]) >= 300
    product_events = await catalog.outbox("catalog.v1.ProductUpserted")
    assert len({e["payload"]["entity_id"] for e in product_events}) == len(SEED["products"])
    offers_before = len(await catalog.outbox())
    assert offers_before == (
        len(SEED["stores"]) + len(SEED["categories"]) + len(SEED["products"]) + len(SEED["offers"])
    )
    beer = (await catalog.items("akwa", q="33 export"))[0]
    assert beer["price_xaf"] == 650 and beer["unit"] == "65 cl bottle"
    # Seeding again does nothing
    assert await catalog.runtime.seed() == 0
    assert len(await catalog.outbox()) == offers_before


def test_seed_files_are_generated_and_agree() -> None:
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts/make_seed.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    stock = orjson.loads((ROOT / "src/okada/services/inventory/seed/stock.json").read_bytes())
    offers = {(o["store_id"], o["product_id"]) for o in SEED["offers"]}
    assert {(r["store_id"], r["product_id"]) for r in stock} == offers
    assert any(r["on_hand"] == 0 for r in stock)
    assert any(0 < r["on_hand"] <= r["low_stock_threshold"] for r in stock)
    for path in (
        "src/okada/services/catalog/seed/catalog.json",
        "src/okada/services/inventory/seed/stock.json",
    ):
        assert (ROOT / path).stat().st_size < 1_000_000
