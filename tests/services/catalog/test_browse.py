"""Browsing a store: languages, sparse fields, cursors, ETags, filters, one product."""

from __future__ import annotations

import uuid

import pytest

from okada.services.catalog.application.text import normalise
from tests.services.catalog.conftest import SEED, Catalog, product, seeded_offers, store_id

pytestmark = pytest.mark.asyncio(loop_scope="module")

NDOLE = "LEG-FEUILLES-DE-NDOLE-LAVEES-SACHET-500-G"
MUTZIG = "BIE-MUTZIG-BOUTEILLE-65-CL"
AKWA_PRODUCTS = f"/v1/catalog/stores/{store_id('akwa')}/products"


def _listed_ids(slug: str) -> set[str]:
    return {o["product_id"] for o in seeded_offers(slug) if o["listed"]}


async def test_names_and_units_follow_accept_language(shared_catalog: Catalog) -> None:
    fr = await shared_catalog.gateway.get(
        AKWA_PRODUCTS, params={"q": "ndole lavees"}, headers={"accept-language": "fr"}
    )
    en = await shared_catalog.gateway.get(
        AKWA_PRODUCTS, params={"q": "ndole washed"}, headers={"accept-language": "en-GB,en"}
    )
    assert fr.status_code == en.status_code == 200
    (item_fr,) = fr.json()["data"]
    # "washed" also matches "Fresh bitterleaf (unwashed)": words match anywhere.
    assert {i["name"] for i in en.json()["data"]} == {
        "Washed bitterleaf (ndolé)",
        "Fresh bitterleaf (unwashed)",
    }
    (item_en,) = [i for i in en.json()["data"] if i["id"] == item_fr["id"]]
    assert item_fr["id"] == item_en["id"] == product(NDOLE)["id"]
    assert (item_fr["name"], item_fr["unit"]) == ("Feuilles de ndolé lavées", "sachet 500 g")
    assert (item_en["name"], item_en["unit"]) == ("Washed bitterleaf (ndolé)", "500 g bag")
    assert fr.headers["content-language"] == "fr"
    assert "accept-language" in fr.headers["vary"].lower()
    price = next(o["price_xaf"] for o in seeded_offers("akwa") if o["product_id"] == item_fr["id"])
    assert item_fr["price_xaf"] == price
    assert item_fr["in_stock"] is True  # inventory has not said otherwise yet
    assert item_fr["image_url"].endswith("/160.webp")


async def test_every_listed_item_comes_once_across_pages(shared_catalog: Catalog) -> None:
    seen: list[dict[str, object]] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 37, **({"cursor": cursor} if cursor else {})}
        response = await shared_catalog.gateway.get(AKWA_PRODUCTS, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["data"]) <= 37
        seen.extend(page["data"])
        pages += 1
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
    ids = [item["id"] for item in seen]
    assert len(ids) == len(set(ids))
    assert set(ids) == _listed_ids("akwa")  # the one delisted offer is not shown
    assert pages == -(-len(ids) // 37)
    keys = [(normalise(str(item["name"])), item["id"]) for item in seen]
    assert [k[0] for k in keys] == sorted(k[0] for k in keys)


async def test_sparse_fieldset_and_unknown_field(shared_catalog: Catalog) -> None:
    response = await shared_catalog.gateway.get(
        AKWA_PRODUCTS, params={"fields": "name,price_xaf", "limit": 5}
    )
    assert response.status_code == 200
    assert [set(item) for item in response.json()["data"]] == [{"id", "name", "price_xaf"}] * 5
    bad = await shared_catalog.gateway.get(
        AKWA_PRODUCTS, params={"fields": "name,prix"}, headers={"accept-language": "fr"}
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    body = bad.json()
    assert body["code"] == "unknown_field"
    assert body["title"] == "Champ inconnu"
    assert "« prix »" in body["detail"]


async def test_etag_and_304_from_the_service_and_through_the_gateway(
    shared_catalog: Catalog,
) -> None:
    for client in (shared_catalog.service, shared_catalog.gateway):
        first = await client.get(AKWA_PRODUCTS, params={"limit": 10})
        etag = first.headers["etag"]
        again = await client.get(
            AKWA_PRODUCTS, params={"limit": 10}, headers={"if-none-match": etag}
        )
        assert again.status_code == 304, client.base_url
        assert again.content == b""
        other_language = await client.get(
            AKWA_PRODUCTS,
            params={"limit": 10},
            headers={"if-none-match": etag, "accept-language": "en"},
        )
        assert other_language.status_code == 200  # the English page is another entity


async def test_text_filter_ignores_case_and_accents(shared_catalog: Catalog) -> None:
    for q in ("ndole", "NDOLÉ", "Ndolé"):
        items = await shared_catalog.items("akwa", q=q, language="fr")
        assert product(NDOLE)["id"] in {i["id"] for i in items}
        assert all(
            "ndole" in normalise(str(i["name"])) or i["id"] != product(NDOLE)["id"] for i in items
        )
    mutzig = await shared_catalog.items("akwa", q="mutzig")
    assert [i["id"] for i in mutzig] == [product(MUTZIG)["id"]]
    beers = await shared_catalog.items("akwa", q="BEER")  # a tag
    expected = {p["id"] for p in SEED["products"] if "beer" in p["tags"]} & _listed_ids("akwa")
    assert {i["id"] for i in beers} == expected and len(expected) >= 10
    castel = await shared_catalog.items("akwa", q="bière castel", language="fr")  # every word
    assert {i["name"] for i in castel} == {"Castel Beer"}
    assert await shared_catalog.items("akwa", q="_") == []  # LIKE wildcards are literal


async def test_category_includes_its_sub_categories(shared_catalog: Catalog) -> None:
    parent = next(c for c in SEED["categories"] if c["slug"] == "fruits-legumes")
    children = {c["id"] for c in SEED["categories"] if c["parent_id"] == parent["id"]}
    expected = {p["id"] for p in SEED["products"] if p["category_id"] in children} & _listed_ids(
        "akwa"
    )
    by_slug = await shared_catalog.items("akwa", category="fruits-legumes")
    by_id = await shared_catalog.items("akwa", category=parent["id"])
    assert {i["id"] for i in by_slug} == {i["id"] for i in by_id} == expected
    leaf = await shared_catalog.items("akwa", category="legumes-feuilles", q="ndole")
    assert product(NDOLE)["id"] in {i["id"] for i in leaf}
    unknown = await shared_catalog.service.get(AKWA_PRODUCTS, params={"category": "vins-de-mars"})
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "unknown_category"


async def test_featured_items_are_featured_and_in_stock(shared_catalog: Catalog) -> None:
    items = await shared_catalog.items("akwa", featured="true")
    featured = {p["id"] for p in SEED["products"] if p["featured"]} & _listed_ids("akwa")
    assert {i["id"] for i in items} == featured
    assert all(i["in_stock"] for i in items)


async def test_bad_cursor_and_unknown_store(shared_catalog: Catalog) -> None:
    tampered = await shared_catalog.gateway.get(AKWA_PRODUCTS, params={"cursor": "bm90LWpzb24"})
    assert tampered.status_code == 400
    foreign = await shared_catalog.gateway.get(AKWA_PRODUCTS, params={"cursor": "eyJ4IjoxfQ"})
    assert foreign.status_code == 400
    missing = await shared_catalog.gateway.get(f"/v1/catalog/stores/{uuid.uuid4()}/products")
    assert missing.status_code == 404
    assert missing.json()["code"] == "store_not_found"


async def test_one_product_in_both_languages_with_a_stores_offer(shared_catalog: Catalog) -> None:
    entry = product(NDOLE)
    response = await shared_catalog.gateway.get(
        f"/v1/catalog/products/{entry['id']}",
        params={"store_id": str(store_id("akwa"))},
        headers={"accept-language": "en"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "Washed bitterleaf (ndolé)"
    assert body["translations"]["fr"]["name"] == "Feuilles de ndolé lavées"
    assert body["translations"]["en"]["unit"] == "500 g bag"
    assert body["description"].startswith("Bitterleaf already washed")
    assert [i["width"] for i in body["images"]] == [160, 480, 960]
    assert body["price_xaf"] == 500 and body["listed"] is True and body["in_stock"] is True
    assert body["version"] == 1
    missing = await shared_catalog.gateway.get(f"/v1/catalog/products/{uuid.uuid4()}")
    assert missing.status_code == 404


async def test_categories_as_a_tree_and_flat(shared_catalog: Catalog) -> None:
    tree = (
        await shared_catalog.gateway.get(
            "/v1/catalog/categories", headers={"accept-language": "en"}
        )
    ).json()["data"]
    flat = (
        await shared_catalog.gateway.get("/v1/catalog/categories", params={"flat": "true"})
    ).json()["data"]
    assert len(tree) == 12
    assert tree[0]["name"] == "Fruits & vegetables"
    assert [c["slug"] for c in tree[0]["children"]] == [
        "legumes",
        "legumes-feuilles",
        "tubercules-plantains",
        "fruits",
    ]
    assert len(flat) == len(SEED["categories"])
    assert flat[0]["name"] == "Fruits et légumes" and flat[0]["parent_id"] is None
    positions = {c["id"]: i for i, c in enumerate(flat)}
    assert all(positions[c["parent_id"]] < positions[c["id"]] for c in flat if c["parent_id"])
