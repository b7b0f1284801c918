"""Stores serving a point, nearest first, open or not in Douala time (clock: Friday 22:30)."""

from __future__ import annotations

import uuid

import pytest

from tests.services.catalog.conftest import Catalog, store_id

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _serving(catalog: Catalog, lat: float, lng: float) -> list[dict[str, object]]:
    response = await catalog.gateway.get("/v1/catalog/stores", params={"lat": lat, "lng": lng})
    assert response.status_code == 200, response.text
    stores: list[dict[str, object]] = response.json()["data"]
    return stores


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        # Between Essos and Bastos, both radii: Essos is 1.0 km away, Bastos 2.4 km.
        ((3.876, 11.530), ["essos", "bastos"]),
        # Inside the Bonapriso partner's polygon and Akwa's 4 km radius: partner first.
        ((4.035, 9.697), ["chez-tata-ngo-bonapriso", "akwa"]),
        # South of the polygon, still inside Akwa's radius (3.7 km).
        ((4.015, 9.695), ["akwa"]),
        # 3.5 km north of Akwa: inside its radius, outside every other area.
        ((4.080, 9.699), ["akwa"]),
        # 4.06 km north of Akwa: just beyond its 4 km radius.
        ((4.085, 9.699), []),
        # Bafoussam road, far from every store.
        ((5.470, 10.420), []),
    ],
)
async def test_stores_serving_a_point_nearest_first(
    shared_catalog: Catalog, point: tuple[float, float], expected: list[str]
) -> None:
    stores = await _serving(shared_catalog, *point)
    assert [s["slug"] for s in stores] == expected
    distances = [s["distance_m"] for s in stores]
    assert distances == sorted(distances)  # type: ignore[type-var]


async def test_open_now_is_computed_in_douala_time(shared_catalog: Catalog) -> None:
    # Friday 22:30 in Douala: Akwa stays open until 01:00 on Friday nights; the partner
    # closed at 20:00; Yaoundé stores at 22:00.
    douala = {s["slug"]: s for s in await _serving(shared_catalog, 4.035, 9.697)}
    assert douala["akwa"]["open_now"] is True
    assert douala["chez-tata-ngo-bonapriso"]["open_now"] is False
    yaounde = await _serving(shared_catalog, 3.876, 11.530)
    assert [s["open_now"] for s in yaounde] == [False, False]
    akwa = douala["akwa"]
    assert akwa["status"] == "open"
    assert akwa["timezone"] == "Africa/Douala"
    assert akwa["delivery_radius_m"] == 4000
    assert {"weekday": 4, "opens": "07:00", "closes": "01:00"} in akwa["opening_hours"]


async def test_one_store_and_unknown_store(shared_catalog: Catalog) -> None:
    response = await shared_catalog.gateway.get(f"/v1/catalog/stores/{store_id('bastos')}")
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["city"], body["quartier"]) == ("Okada Bastos", "Yaoundé", "Bastos")
    assert body["open_now"] is False
    missing = await shared_catalog.gateway.get(
        f"/v1/catalog/stores/{uuid.uuid4()}", headers={"accept-language": "fr"}
    )
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "store_not_found"
    assert missing.json()["title"] == "Magasin introuvable"


async def test_all_stores_without_a_point_and_half_a_point_is_422(shared_catalog: Catalog) -> None:
    every = await shared_catalog.gateway.get("/v1/catalog/stores")
    assert every.status_code == 200
    assert len(every.json()["data"]) == 7
    assert all("distance_m" not in s for s in every.json()["data"])
    half = await shared_catalog.gateway.get("/v1/catalog/stores", params={"lat": 4.05})
    assert half.status_code == 422
    assert half.json()["code"] == "validation_failed"


async def test_store_list_answers_304_to_its_etag(shared_catalog: Catalog) -> None:
    params = {"lat": 4.035, "lng": 9.697}
    first = await shared_catalog.service.get("/v1/catalog/stores", params=params)
    etag = first.headers["etag"]
    again = await shared_catalog.service.get(
        "/v1/catalog/stores", params=params, headers={"if-none-match": etag}
    )
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
