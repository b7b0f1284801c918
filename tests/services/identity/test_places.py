"""Saved places: Cameroonian address model, one default, merge patch, soft delete, events."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.services.identity.helpers import identity_engine, outbox_events, provision, staff_headers
from tests.support.journeys import bearer, sign_in

MERGE = {"content-type": "application/merge-patch+json"}
HOME = {
    "label": "Maison",
    "city": "douala",
    "quartier": "bonamoussadi",
    "landmark": "derrière la pharmacie du Carrefour",
    "directions": "portail bleu, 2e étage",
    "lat": 4.0901,
    "lng": 9.7452,
    "contact_phone": "6 77 12 34 56",
}


async def _create(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    response = await client.post("/v1/users/me/places", json={**HOME, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/v1/users/me/places/{response.json()['id']}"
    body: dict[str, Any] = response.json()
    body["_etag"] = response.headers["etag"]
    return body


async def test_a_place_is_normalised_and_the_first_is_the_default(
    client: httpx.AsyncClient,
) -> None:
    headers = bearer(await sign_in(client, "699400001", "+237699400001"))
    place = await _create(client, headers, is_default=False)
    assert place["city"] == "Douala"
    assert place["quartier"] == "Bonamoussadi"
    assert place["contact_phone"] == "+237677123456"
    assert place["is_default"] is True  # the first place is the default whatever was asked
    assert place["version"] == 1
    yaounde = await _create(
        client,
        headers,
        label="Bureau",
        city="YAOUNDE",
        quartier="elig essono",
        lat=3.878,
        lng=11.52,
        contact_phone=None,
    )
    assert yaounde["city"] == "Yaoundé"
    assert yaounde["quartier"] == "Elig-Essono"
    assert yaounde["is_default"] is False
    unknown_quartier = await _create(client, headers, label="Chez Tata", quartier="Ndog-Passi 3")
    assert unknown_quartier["quartier"] == "Ndog-Passi 3"  # kept as typed
    listed = (await client.get("/v1/users/me/places", headers=headers)).json()
    assert listed["count"] == 3
    assert listed["data"][0]["id"] == place["id"]  # the default first


async def test_exactly_one_default(client: httpx.AsyncClient) -> None:
    headers = bearer(await sign_in(client, "699400002", "+237699400002"))
    first = await _create(client, headers)
    second = await _create(client, headers, label="Bureau", is_default=True)
    listed = (await client.get("/v1/users/me/places", headers=headers)).json()["data"]
    assert [(p["id"], p["is_default"]) for p in listed] == [
        (second["id"], True),
        (first["id"], False),
    ]
    # switching back by PATCH demotes the other one
    current = await client.get(f"/v1/users/me/places/{first['id']}", headers=headers)
    patched = await client.patch(
        f"/v1/users/me/places/{first['id']}",
        json={"is_default": True},
        headers={**headers, **MERGE, "if-match": current.headers["etag"]},
    )
    assert patched.status_code == 200, patched.text
    listed = (await client.get("/v1/users/me/places", headers=headers)).json()["data"]
    assert [p["is_default"] for p in listed] == [True, False]
    # un-defaulting the default is refused: pick another one instead
    refused = await client.patch(
        f"/v1/users/me/places/{first['id']}",
        json={"is_default": False},
        headers={**headers, **MERGE, "if-match": patched.headers["etag"]},
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "default_place_required"
    # deleting the default hands it to the newest remaining place
    deleted = await client.delete(f"/v1/users/me/places/{first['id']}", headers=headers)
    assert deleted.status_code == 204
    listed = (await client.get("/v1/users/me/places", headers=headers)).json()["data"]
    assert [(p["id"], p["is_default"]) for p in listed] == [(second["id"], True)]


async def test_place_patch_if_match_and_merge_semantics(client: httpx.AsyncClient) -> None:
    headers = bearer(await sign_in(client, "699400003", "+237699400003"))
    place = await _create(client, headers)
    url = f"/v1/users/me/places/{place['id']}"
    missing = await client.patch(url, json={"label": "Chez moi"}, headers={**headers, **MERGE})
    assert missing.status_code == 428
    stale = await client.patch(
        url, json={"label": "Chez moi"}, headers={**headers, **MERGE, "if-match": '"nope"'}
    )
    assert stale.status_code == 412
    patched = await client.patch(
        url,
        json={"label": "Chez moi", "landmark": None, "lat": None, "lng": None},
        headers={**headers, **MERGE, "if-match": place["_etag"]},
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["label"] == "Chez moi"
    assert body["landmark"] is None
    assert (body["lat"], body["lng"]) == (None, None)
    assert body["directions"] == HOME["directions"]  # absent: unchanged
    assert body["version"] == 2
    assert patched.headers["etag"] != place["_etag"]
    for bad in ({"label": None}, {"city": None}, {"quartier": None}, {"is_default": None}):
        response = await client.patch(
            url, json=bad, headers={**headers, **MERGE, "if-match": patched.headers["etag"]}
        )
        assert response.status_code == 422, bad
    for protected in (
        {"id": place["id"]},
        {"user_id": place["id"]},
        {"version": 7},
        {"deleted_at": None},
        {"created_at": "2020-01-01T00:00:00Z"},
    ):
        response = await client.patch(
            url, json=protected, headers={**headers, **MERGE, "if-match": patched.headers["etag"]}
        )
        assert response.status_code == 422, protected
        assert response.json()["code"] == "field_not_editable"
    # deleting with a stale ETag is refused, with the current one it works
    old = await client.delete(url, headers={**headers, "if-match": place["_etag"]})
    assert old.status_code == 412
    gone = await client.delete(url, headers={**headers, "if-match": patched.headers["etag"]})
    assert gone.status_code == 204
    assert (await client.get(url, headers=headers)).status_code == 404


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"city": "Paris"}, "city_not_served"),
        ({"city": "Bafoussam"}, "city_not_served"),
        ({"lat": 48.85, "lng": 2.35}, "location_outside_cameroon"),
        ({"lat": 4.05, "lng": None}, "coordinates_incomplete"),
        ({"plus_code": "not-a-code"}, "invalid_plus_code"),
        ({"plus_code": "8FW4V75V+8Q", "lat": None, "lng": None}, "location_outside_cameroon"),
        ({"plus_code": "6FPF0000+"}, "invalid_plus_code"),
        ({"contact_phone": "+33612345678"}, "phone_country_not_supported"),
        ({"label": "   "}, "validation_failed"),
        ({"owner": "me"}, "validation_failed"),
    ],
)
async def test_invalid_addresses_are_422(
    client: httpx.AsyncClient, fields: dict[str, Any], code: str
) -> None:
    headers = bearer(await sign_in(client, "699400004", "+237699400004"))
    response = await client.post("/v1/users/me/places", json={**HOME, **fields}, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code


async def test_plus_codes_full_and_short(client: httpx.AsyncClient) -> None:
    headers = bearer(await sign_in(client, "699400005", "+237699400005"))
    # a short code is recovered next to the city centre and fills the missing pin
    short = await _create(client, headers, plus_code="3PRW+23 Douala", lat=None, lng=None)
    assert short["plus_code"] == "6FPF3PRW+23"
    assert 4.0 < short["lat"] < 4.1
    assert 9.6 < short["lng"] < 9.8
    full = await _create(client, headers, plus_code="6fpf3prw+23")
    assert full["plus_code"] == "6FPF3PRW+23"
    assert (full["lat"], full["lng"]) == (HOME["lat"], HOME["lng"])  # the pin wins


async def test_other_peoples_places_are_404(client: httpx.AsyncClient) -> None:
    owner = bearer(await sign_in(client, "699400006", "+237699400006"))
    intruder = bearer(await sign_in(client, "699400007", "+237699400007"))
    place = await _create(client, owner)
    url = f"/v1/users/me/places/{place['id']}"
    assert (await client.get(url, headers=intruder)).status_code == 404
    patch = await client.patch(
        url, json={"label": "mine"}, headers={**intruder, **MERGE, "if-match": place["_etag"]}
    )
    assert patch.status_code == 404
    assert (await client.delete(url, headers=intruder)).status_code == 404
    assert (await client.get("/v1/users/me/places", headers=intruder)).json()["count"] == 0
    assert (await client.get(url, headers=owner)).status_code == 200
    # anonymous callers are stopped at the gateway
    assert (await client.get(url)).status_code == 401
    assert (await client.get("/v1/users/me/places")).status_code == 401
    # operations may read it (support, pin corrections)
    ops = await provision(client, "699400008", ["operations"])
    assert (await client.get(url, headers=await staff_headers(client, ops))).status_code == 200


async def test_place_events_and_soft_delete(client: httpx.AsyncClient) -> None:
    headers = bearer(await sign_in(client, "699400009", "+237699400009"))
    place = await _create(client, headers)
    url = f"/v1/users/me/places/{place['id']}"
    patched = await client.patch(
        url, json={"quartier": "Makepe"}, headers={**headers, **MERGE, "if-match": place["_etag"]}
    )
    assert patched.status_code == 200
    assert (await client.delete(url, headers=headers)).status_code == 204
    events = [
        e
        for e in await outbox_events(client, "identity.v1.PlaceChanged")
        if e["entity_id"] == place["id"]
    ]
    assert [(e["version"], e["state"]["quartier"], e["state"]["deleted"]) for e in events] == [
        (1, "Bonamoussadi", False),
        (2, "Makepe", False),
        (3, "Makepe", True),
    ]
    assert events[0]["state"]["city"] == "Douala"
    async with identity_engine(client).connect() as conn:
        row = (
            await conn.execute(
                sa.text("SELECT deleted_at, is_default FROM places WHERE id = :id"),
                {"id": place["id"].replace("-", "")},
            )
        ).one()
    assert row.deleted_at is not None  # kept for order history, never listed
    assert (await client.get("/v1/users/me/places", headers=headers)).json()["count"] == 0


async def test_place_count_is_capped(client: httpx.AsyncClient) -> None:
    headers = bearer(await sign_in(client, "699400010", "+237699400010"))
    places = client.platform.state.host.runtimes["identity"].app.state.places  # type: ignore[attr-defined]
    places._max_places = 2
    await _create(client, headers)
    await _create(client, headers, label="Bureau")
    third = await client.post("/v1/users/me/places", json=HOME, headers=headers)
    assert third.status_code == 422
    assert third.json()["code"] == "too_many_places"
