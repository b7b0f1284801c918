"""The same catalog on PostgreSQL: browsing, a merchant edit, the delta feed, availability."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest

from okada.contracts.catalog.v1 import offer_id
from okada.contracts.inventory.v1 import StockLevelChanged, StockState
from okada.kernel.messages import Envelope
from tests.services.catalog.conftest import Catalog, product, running_catalog, store_id
from tests.support.services import require_postgres

pytestmark = pytest.mark.distributed
MUTZIG = "BIE-MUTZIG-BOUTEILLE-65-CL"
AKWA = store_id("akwa")


@pytest.fixture
async def pg_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Catalog]:
    require_postgres()
    name = f"okada_test_catalog_{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv(
        "CATALOG_DATABASE_URL", f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    )
    try:
        async with running_catalog(tmp_path) as running:
            yield running
    finally:
        conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres", timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def test_catalog_journey_on_postgresql(pg_catalog: Catalog) -> None:
    catalog = pg_catalog
    assert catalog.host.ctx.engine("catalog").dialect.name == "postgresql"
    stores = await catalog.gateway.get("/v1/catalog/stores", params={"lat": 4.035, "lng": 9.697})
    assert [s["slug"] for s in stores.json()["data"]] == ["chez-tata-ngo-bonapriso", "akwa"]
    tree = (await catalog.gateway.get("/v1/catalog/categories")).json()["data"]
    assert len(tree) == 12
    first = await catalog.service.get(f"/v1/catalog/stores/{AKWA}/changes", params={"limit": 500})
    cursor = first.json()["next"]
    items = await catalog.items("akwa", q="mutzig")
    assert [i["id"] for i in items] == [product(MUTZIG)["id"]]
    put = await catalog.service.put(
        f"/v1/merchant/stores/{AKWA}/offers/{product(MUTZIG)['id']}",
        json={"price_xaf": 700, "listed": True},
        headers=catalog.staff("akwa"),
    )
    assert put.status_code == 200, put.text
    pid = uuid.UUID(product(MUTZIG)["id"])
    event = StockLevelChanged(
        entity_id=offer_id(AKWA, pid),
        version=3,
        state=StockState(
            store_id=AKWA,
            product_id=pid,
            on_hand=0,
            reserved=0,
            available=0,
            low_stock_threshold=5,
        ),
        reason="count",
    )
    await catalog.host.ctx.bus.publish(
        [Envelope(schema=event.schema_name, payload=event.to_payload(), producer="inventory")]
    )
    feed = await catalog.service.get(f"/v1/catalog/stores/{AKWA}/changes", params={"since": cursor})
    assert [(c["price_xaf"], c["in_stock"]) for c in feed.json()["changes"]] == [(700, False)]
    exported = await catalog.service.get(
        f"/v1/merchant/stores/{AKWA}/offers/export", headers=catalog.staff("akwa")
    )
    again = await catalog.service.post(
        f"/v1/merchant/stores/{AKWA}/offers/import",
        content=exported.content,
        headers={**catalog.staff("akwa"), "content-type": "text/csv"},
    )
    assert again.json()["failed"] == 0 and again.json()["unchanged"] == again.json()["imported"]
