"""Merchant management: store isolation, price rules, If-Match, store status, products."""

from __future__ import annotations

import uuid
from typing import Any

from okada.kernel.authz import Role
from tests.services.catalog.conftest import SEED, Catalog, product, seeded_offers, store_id

MUTZIG = "BIE-MUTZIG-BOUTEILLE-65-CL"


def offer_path(slug: str, sku: str) -> str:
    return f"/v1/merchant/stores/{store_id(slug)}/offers/{product(sku)['id']}"


def seeded_price(slug: str, sku: str) -> int:
    pid = product(sku)["id"]
    return int(next(o["price_xaf"] for o in seeded_offers(slug) if o["product_id"] == pid))


async def test_staff_reach_only_their_own_store(catalog: Catalog) -> None:
    before = await catalog.service.get(offer_path("bastos", MUTZIG), headers=catalog.ops())
    assert before.status_code == 200
    # Given staff of Akwa, a customer and nobody
    for headers, status in (
        (catalog.staff("akwa", language="fr"), 403),
        (catalog.headers(Role.CUSTOMER), 403),
        (catalog.headers(Role.RIDER), 403),
        (catalog.headers(), 401),
    ):
        # When they reprice Bastos' Mützig, export or import its offers
        put = await catalog.service.put(
            offer_path("bastos", MUTZIG), json={"price_xaf": 1, "listed": False}, headers=headers
        )
        exported = await catalog.service.get(
            f"/v1/merchant/stores/{store_id('bastos')}/offers/export", headers=headers
        )
        imported = await catalog.service.post(
            f"/v1/merchant/stores/{store_id('bastos')}/offers/import",
            content=f"sku,price_xaf\n{MUTZIG},1\n",
            headers={**headers, "content-type": "text/csv"},
        )
        # Then every call is refused
        assert (put.status_code, exported.status_code, imported.status_code) == (status,) * 3
        assert put.headers["content-type"] == "application/problem+json"
    assert put.json()["code"] == "unauthenticated"
    forbidden = await catalog.service.put(
        offer_path("bastos", MUTZIG), json={"price_xaf": 1}, headers=catalog.staff("akwa", "fr")
    )
    assert forbidden.json()["code"] == "store_access_denied"
    assert forbidden.headers["content-language"] == "fr"
    # And nothing changed
    after = await catalog.service.get(offer_path("bastos", MUTZIG), headers=catalog.ops())
    assert after.json() == before.json()
    assert after.json()["price_xaf"] == seeded_price("bastos", MUTZIG)
    # While Akwa's staff manage Akwa
    own = await catalog.service.put(
        offer_path("akwa", MUTZIG),
        json={"price_xaf": 700, "listed": True},
        headers=catalog.staff("akwa"),
    )
    assert own.status_code == 200, own.text
    assert own.json()["price_xaf"] == 700 and own.json()["version"] == 2


async def test_prices_must_be_positive_whole_francs(catalog: Catalog) -> None:
    path = offer_path("akwa", MUTZIG)
    cases: list[tuple[Any, str]] = [
        (0, "invalid_price"),
        (-5, "invalid_price"),
        (12.5, "validation_failed"),
        ("abc", "validation_failed"),
        ("650", "validation_failed"),  # a string is not a number, even a numeric one
        (None, "validation_failed"),
    ]
    for value, code in cases:
        for language in ("fr", "en"):
            response = await catalog.service.put(
                path,
                json={"price_xaf": value, "listed": True},
                headers=catalog.staff("akwa", language),
            )
            assert response.status_code == 422, (value, response.text)
            body = response.json()
            assert body["code"] == code
            assert response.headers["content-language"] == language
            assert "price_xaf" in body["detail"] or any(
                e["field"] == "price_xaf" for e in body.get("errors", [])
            )
    french = await catalog.service.put(
        path, json={"price_xaf": 0}, headers=catalog.staff("akwa", "fr")
    )
    assert french.json()["title"] == "Prix invalide"
    unchanged = await catalog.service.get(path, headers=catalog.ops())
    assert unchanged.json()["price_xaf"] == seeded_price("akwa", MUTZIG)
    assert unchanged.json()["version"] == 1


async def test_if_match_is_optional_but_must_be_current(catalog: Catalog) -> None:
    path = offer_path("akwa", MUTZIG)
    current = await catalog.service.get(path, headers=catalog.staff("akwa"))
    etag = current.headers["etag"]
    first = await catalog.service.put(
        path,
        json={"price_xaf": 675, "listed": True},
        headers={**catalog.staff("akwa"), "if-match": etag},
    )
    assert first.status_code == 200
    assert first.headers["etag"] != etag
    stale = await catalog.service.put(
        path,
        json={"price_xaf": 600, "listed": True},
        headers={**catalog.staff("akwa"), "if-match": etag},
    )
    assert stale.status_code == 412
    assert stale.json()["code"] == "precondition_failed"
    without = await catalog.service.put(
        path, json={"price_xaf": 625}, headers=catalog.staff("akwa")
    )
    assert without.status_code == 200 and without.json()["version"] == 3
    same = await catalog.service.put(path, json={"price_xaf": 625}, headers=catalog.staff("akwa"))
    assert same.json()["version"] == 3  # nothing changed, nothing published


async def test_a_store_can_start_selling_a_product(catalog: Catalog) -> None:
    # The Bonapriso partner shop does not sell every product.
    offered = {o["product_id"] for o in seeded_offers("chez-tata-ngo-bonapriso")}
    sku = next(p["sku"] for p in SEED["products"] if p["id"] not in offered)
    path = offer_path("chez-tata-ngo-bonapriso", sku)
    assert (await catalog.service.get(path, headers=catalog.ops())).status_code == 404
    created = await catalog.service.put(
        path, json={"price_xaf": 1_250}, headers=catalog.staff("chez-tata-ngo-bonapriso")
    )
    assert created.status_code == 201, created.text
    assert created.json()["listed"] is True and created.json()["in_stock"] is True
    items = await catalog.items("chez-tata-ngo-bonapriso")
    assert {i["id"]: i["price_xaf"] for i in items}[product(sku)["id"]] == 1_250
    unknown = await catalog.service.put(
        f"/v1/merchant/stores/{store_id('akwa')}/offers/{uuid.uuid4()}",
        json={"price_xaf": 100},
        headers=catalog.staff("akwa"),
    )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "product_not_found"


async def test_staff_set_status_and_prep_time_operations_the_rest(catalog: Catalog) -> None:
    path = f"/v1/merchant/stores/{store_id('akwa')}"
    busy = await catalog.service.patch(
        path, json={"status": "closed", "prep_minutes": 25}, headers=catalog.staff("akwa")
    )
    assert busy.status_code == 200, busy.text
    assert (busy.json()["status"], busy.json()["open_now"], busy.json()["prep_minutes"]) == (
        "closed",
        False,
        25,
    )
    public = await catalog.service.get(f"/v1/catalog/stores/{store_id('akwa')}")
    assert public.json()["open_now"] is False and public.json()["version"] == 2
    renamed = await catalog.service.patch(
        path, json={"name": "Okada Akwa Nord"}, headers=catalog.staff("akwa")
    )
    assert renamed.status_code == 403
    assert renamed.json()["code"] == "role_required"
    other = await catalog.service.patch(
        f"/v1/merchant/stores/{store_id('bastos')}",
        json={"status": "busy"},
        headers=catalog.staff("akwa"),
    )
    assert other.status_code == 403
    by_ops = await catalog.service.patch(
        path, json={"name": "Okada Akwa Nord", "delivery_radius_m": 5000}, headers=catalog.ops()
    )
    assert by_ops.status_code == 200 and by_ops.json()["name"] == "Okada Akwa Nord"
    bad_hours = await catalog.service.patch(
        path,
        json={"opening_hours": [{"weekday": 0, "opens": "25:00", "closes": "22:00"}]},
        headers=catalog.staff("akwa"),
    )
    assert bad_hours.status_code == 422
    assert bad_hours.json()["code"] == "invalid_catalog_field"
    events = await catalog.outbox("catalog.v1.StoreUpdated")
    akwa_events = [e for e in events if e["payload"]["entity_id"] == str(store_id("akwa"))]
    assert [e["payload"]["version"] for e in akwa_events] == [1, 2, 3]
    assert akwa_events[-1]["payload"]["state"]["status"] == "closed"
    assert akwa_events[-1]["payload"]["state"]["delivery_radius_m"] == 5000


async def test_operations_manage_products_and_merchants_cannot(catalog: Catalog) -> None:
    category = await catalog.service.post(
        "/v1/merchant/categories",
        json={
            "slug": "produits-locaux",
            "name": {"fr": "Produits locaux", "en": "Local goods"},
            "parent_id": None,
            "position": 20,
        },
        headers=catalog.ops(),
    )
    assert category.status_code == 201, category.text
    body = {
        "sku": "LOC-POIVRE-PENJA-ROUGE-50G",
        "category_id": category.json()["id"],
        "name": {"fr": "Poivre rouge de Penja", "en": "Penja red pepper"},
        "unit": {"fr": "50 g", "en": "50 g"},
        "brand": None,
        "tags": ["poivre", "IGP"],
        "images": [{"url": "https://cdn.okada.cm/img/p/penja/160.webp", "width": 160}],
    }
    refused = await catalog.service.post(
        "/v1/merchant/products", json=body, headers=catalog.staff("akwa")
    )
    assert refused.status_code == 403
    created = await catalog.service.post("/v1/merchant/products", json=body, headers=catalog.ops())
    assert created.status_code == 201, created.text
    product_id = created.json()["id"]
    duplicate = await catalog.service.post(
        "/v1/merchant/products", json=body, headers=catalog.ops()
    )
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "sku_taken"
    patched = await catalog.service.patch(
        f"/v1/merchant/products/{product_id}",
        json={"name": {"fr": "Poivre rouge de Penja IGP", "en": "Penja red pepper PGI"}},
        headers={**catalog.ops(), "if-match": created.headers["etag"]},
    )
    assert patched.status_code == 200 and patched.json()["version"] == 2
    offer = await catalog.service.put(
        f"/v1/merchant/stores/{store_id('akwa')}/offers/{product_id}",
        json={"price_xaf": 2_000},
        headers=catalog.staff("akwa"),
    )
    assert offer.status_code == 201
    found = await catalog.items("akwa", q="penja rouge", language="fr")
    assert [i["name"] for i in found] == ["Poivre rouge de Penja IGP"]
    removed = await catalog.service.delete(
        f"/v1/merchant/products/{product_id}", headers=catalog.ops()
    )
    assert removed.status_code == 204
    assert await catalog.items("akwa", q="penja rouge", language="fr") == []
    gone = await catalog.service.get(f"/v1/catalog/products/{product_id}")
    assert gone.status_code == 404
    events = [
        (e["schema"], e["payload"]["version"], e["payload"]["state"]["deleted"])
        for e in await catalog.outbox()
        if e["payload"]["entity_id"] == product_id
    ]
    assert events == [
        ("catalog.v1.ProductUpserted", 1, False),
        ("catalog.v1.ProductUpserted", 2, False),
        ("catalog.v1.ProductRemoved", 3, True),
    ]
