"""Bulk offers as CSV: good rows applied, bad rows reported, export imports back unchanged."""

from __future__ import annotations

import csv
import io

from tests.services.catalog.conftest import SEED, Catalog, product, seeded_offers, store_id

AKWA = store_id("akwa")
IMPORT = f"/v1/merchant/stores/{AKWA}/offers/import"
EXPORT = f"/v1/merchant/stores/{AKWA}/offers/export"
MUTZIG = "BIE-MUTZIG-BOUTEILLE-65-CL"
CASTEL = "BIE-CASTEL-BEER-BOUTEILLE-65-CL"
NDOLE = "LEG-FEUILLES-DE-NDOLE-LAVEES-SACHET-500-G"
TOMATOES = "LEG-TOMATES-TAS-DE-5"


def csv_headers(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "content-type": "text/csv; charset=utf-8"}


async def offer(catalog: Catalog, sku: str) -> dict[str, object]:
    response = await catalog.service.get(
        f"/v1/merchant/stores/{AKWA}/offers/{product(sku)['id']}", headers=catalog.ops()
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_good_rows_are_applied_and_bad_rows_reported(catalog: Catalog) -> None:
    ndole_before = await offer(catalog, NDOLE)
    body = "\n".join(
        [
            "sku;price_xaf;listed",  # a French spreadsheet: semicolons
            f"{MUTZIG};700;oui",  # row 2: good
            f"{CASTEL};0;true",  # row 3: price zero
            f"{NDOLE};12.5;true",  # row 4: decimal price, the offer stays as it was
            "INCONNU-123;500;true",  # row 5: unknown product
            f"{TOMATOES};3 500;non",  # row 6: good, French grouping, delisted
            ";100;true",  # row 7: no SKU
            f"{MUTZIG};800;true",  # row 8: duplicate of row 2
            "BIE-HARP-BOUTEILLE-65-CL;abc;peut-être",  # row 9: bad price and listed: one error
            "",
        ]
    )
    response = await catalog.service.post(
        IMPORT, content=body.encode(), headers=csv_headers(catalog.staff("akwa", "fr"))
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["imported"], report["unchanged"], report["failed"]) == (2, 0, 6)
    assert [(e["row"], e["field"], e["code"]) for e in report["errors"]] == [
        (3, "price_xaf", "invalid_price"),
        (4, "price_xaf", "invalid_price"),
        (5, "sku", "unknown_product"),
        (7, "sku", "required_field"),
        (8, "sku", "duplicate_sku"),
        (9, "price_xaf", "invalid_price"),
    ]
    assert report["errors"][2]["message"] == "Aucun produit n'a la référence INCONNU-123."
    assert "ligne 2" in report["errors"][4]["message"]
    assert response.headers["content-language"] == "fr"
    mutzig, tomatoes = await offer(catalog, MUTZIG), await offer(catalog, TOMATOES)
    assert (mutzig["price_xaf"], mutzig["listed"], mutzig["version"]) == (700, True, 2)
    assert (tomatoes["price_xaf"], tomatoes["listed"]) == (3500, False)
    assert await offer(catalog, NDOLE) == ndole_before
    changes = [
        e for e in await catalog.outbox("catalog.v1.PriceChanged") if e["payload"]["version"] > 1
    ]
    assert sorted(e["payload"]["state"]["price_xaf"] for e in changes) == [700, 3500]


async def test_unreadable_files_are_refused_whole(catalog: Catalog) -> None:
    staff = catalog.staff("akwa", "en")
    malformed = await catalog.service.post(
        IMPORT, content=f'sku,price_xaf\n"{MUTZIG},700\n'.encode(), headers=csv_headers(staff)
    )
    assert malformed.status_code == 400
    assert malformed.headers["content-type"] == "application/problem+json"
    assert malformed.json()["code"] == "csv_malformed"
    assert "syntax" in malformed.json()["detail"]
    missing = await catalog.service.post(
        IMPORT, content=f"sku,prix\n{MUTZIG},700\n".encode(), headers=csv_headers(staff)
    )
    assert missing.status_code == 422
    assert missing.json()["code"] == "csv_missing_columns"
    assert "price_xaf" in missing.json()["detail"]
    json_body = await catalog.service.post(
        IMPORT, json=[{"sku": MUTZIG, "price_xaf": 700}], headers=staff
    )
    assert json_body.status_code == 415
    latin1 = await catalog.service.post(
        IMPORT, content="sku,price_xaf\nCafé,700\n".encode("latin-1"), headers=csv_headers(staff)
    )
    assert latin1.status_code == 400
    mutzig = await offer(catalog, MUTZIG)
    assert mutzig["version"] == 1


async def test_export_imports_back_unchanged(catalog: Catalog) -> None:
    await catalog.service.put(
        f"/v1/merchant/stores/{AKWA}/offers/{product(MUTZIG)['id']}",
        json={"price_xaf": 725, "listed": False},
        headers=catalog.staff("akwa"),
    )
    exported = await catalog.service.get(EXPORT, headers=catalog.staff("akwa"))
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == len(seeded_offers("akwa"))
    assert [r["sku"] for r in rows] == sorted(r["sku"] for r in rows)
    by_sku = {r["sku"]: r for r in rows}
    assert (by_sku[MUTZIG]["price_xaf"], by_sku[MUTZIG]["listed"]) == ("725", "false")
    assert by_sku[NDOLE]["name_fr"] == "Feuilles de ndolé lavées"
    versions_before = len(await catalog.outbox("catalog.v1.PriceChanged"))
    again = await catalog.service.post(
        IMPORT, content=exported.content, headers=csv_headers(catalog.staff("akwa"))
    )
    assert again.status_code == 200, again.text
    report = again.json()
    assert (report["imported"], report["unchanged"], report["failed"]) == (len(rows), len(rows), 0)
    assert len(await catalog.outbox("catalog.v1.PriceChanged")) == versions_before
    second = await catalog.service.get(EXPORT, headers=catalog.staff("akwa"))
    assert second.content == exported.content


async def test_operations_may_create_products_from_extra_columns(catalog: Catalog) -> None:
    body = (
        "sku,price_xaf,listed,name_fr,name_en,category,unit_fr,unit_en,brand,tags\n"
        "EPI-SOYA-EPICE-100G,600,true,Épices à soya,Suya spice,epices-condiments,100 g,100 g,,"
        "soya|brochettes\n"
        "EPI-MYSTERE,500,true,Mystère,Mystery,categorie-inconnue,pièce,each,,\n"
        f"{MUTZIG},650,true,,,,,,,\n"
    )
    by_staff = await catalog.service.post(
        IMPORT, content=body.encode(), headers=csv_headers(catalog.staff("akwa"))
    )
    assert by_staff.json()["created_products"] == 0
    assert {e["code"] for e in by_staff.json()["errors"]} == {"unknown_product"}
    by_ops = await catalog.service.post(
        IMPORT, content=body.encode(), headers=csv_headers(catalog.ops())
    )
    report = by_ops.json()
    assert (report["imported"], report["created_products"], report["failed"]) == (2, 1, 1)
    assert [(e["row"], e["code"]) for e in report["errors"]] == [(3, "unknown_category")]
    found = await catalog.items("akwa", q="soya", language="fr")
    assert [(i["name"], i["price_xaf"]) for i in found] == [("Épices à soya", 600)]
    category = next(c for c in SEED["categories"] if c["slug"] == "epices-condiments")
    assert found[0]["category_id"] == category["id"]
