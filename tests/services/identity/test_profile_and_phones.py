"""The caller's profile (merge patch, If-Match) and phone numbers (add, verify, primary, remove)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.services.identity.helpers import outbox_events
from tests.support.journeys import bearer, read_otp, sign_in

MERGE = {"content-type": "application/merge-patch+json"}


async def _me(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    response = await client.get("/v1/users/me", headers=headers)
    assert response.status_code == 200, response.text
    return response


async def test_profile_edit_needs_if_match(client: httpx.AsyncClient) -> None:
    headers = bearer(await sign_in(client, "699300001", "+237699300001"))
    etag = (await _me(client, headers)).headers["etag"]
    missing = await client.patch("/v1/users/me", json={"name": "Awa"}, headers={**headers, **MERGE})
    assert missing.status_code == 428
    assert missing.json()["code"] == "precondition_required"
    stale = await client.patch(
        "/v1/users/me", json={"name": "Awa"}, headers={**headers, **MERGE, "if-match": '"stale"'}
    )
    assert stale.status_code == 412
    ok = await client.patch(
        "/v1/users/me",
        json={"name": " Awa  Ndiaye "},
        headers={**headers, **MERGE, "if-match": etag},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["name"] == "Awa Ndiaye"
    assert ok.json()["version"] == 2
    assert ok.headers["etag"] != etag
    # the old ETag is stale now
    reused = await client.patch(
        "/v1/users/me", json={"language": "en"}, headers={**headers, **MERGE, "if-match": etag}
    )
    assert reused.status_code == 412
    # conditional GET
    cached = await client.get(
        "/v1/users/me", headers={**headers, "if-none-match": ok.headers["etag"]}
    )
    assert cached.status_code == 304


async def test_merge_patch_null_clears_and_absent_keeps(client: httpx.AsyncClient) -> None:
    headers = bearer(await sign_in(client, "699300002", "+237699300002"))
    etag = (await _me(client, headers)).headers["etag"]
    named = await client.patch(
        "/v1/users/me",
        json={"name": "Paul", "language": "en"},
        headers={**headers, **MERGE, "if-match": etag},
    )
    assert named.json()["name"] == "Paul"
    cleared = await client.patch(
        "/v1/users/me",
        json={"name": None},
        headers={**headers, "content-type": "application/json", "if-match": named.headers["etag"]},
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["name"] is None
    assert cleared.json()["language"] == "en"  # absent: unchanged
    # clearing the language is not allowed (it is fr or en)
    refused = await client.patch(
        "/v1/users/me",
        json={"language": None},
        headers={**headers, **MERGE, "if-match": cleared.headers["etag"]},
    )
    assert refused.status_code == 422
    # an empty patch changes nothing: no new version
    same = await client.patch(
        "/v1/users/me", json={}, headers={**headers, **MERGE, "if-match": cleared.headers["etag"]}
    )
    assert same.status_code == 200
    assert same.json()["version"] == cleared.json()["version"]
    events = await outbox_events(client, "identity.v1.UserUpdated")
    assert [(e["version"], e["state"]["name"]) for e in events] == [(2, "Paul"), (3, None)]


@pytest.mark.parametrize(
    "patch",
    [
        {"roles": ["admin"]},
        {"id": "0190f5d2-0000-7000-8000-000000000000"},
        {"phones": []},
        {"disabled": True},
        {"store_ids": ["0190f5d2-0000-7000-8000-000000000000"]},
        {"version": 9},
        {"name": "ok", "roles": ["operations"]},
        {"nickname": "x"},
    ],
)
async def test_protected_and_unknown_profile_fields_are_422(
    client: httpx.AsyncClient, patch: dict[str, Any]
) -> None:
    headers = bearer(await sign_in(client, "699300003", "+237699300003"))
    etag = (await _me(client, headers)).headers["etag"]
    response = await client.patch(
        "/v1/users/me", json=patch, headers={**headers, **MERGE, "if-match": etag}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "field_not_editable"
    me = (await _me(client, headers)).json()
    assert me["roles"] == ["customer"]
    assert me["version"] == 1


async def test_profile_patch_rejects_bad_bodies(client: httpx.AsyncClient) -> None:
    headers = bearer(await sign_in(client, "699300004", "+237699300004"))
    etag = (await _me(client, headers)).headers["etag"]
    base = {**headers, "if-match": etag}
    wrong_type = await client.patch(
        "/v1/users/me", content=b'{"name": "x"}', headers={**base, "content-type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    malformed = await client.patch("/v1/users/me", content=b"{nope", headers={**base, **MERGE})
    assert malformed.status_code == 400
    not_object = await client.patch("/v1/users/me", content=b"[1]", headers={**base, **MERGE})
    assert not_object.status_code == 422
    bad_language = await client.patch(
        "/v1/users/me", json={"language": "de"}, headers={**base, **MERGE}
    )
    assert bad_language.status_code == 422
    too_long = await client.patch(
        "/v1/users/me", json={"name": "x" * 121}, headers={**base, **MERGE}
    )
    assert too_long.status_code == 422
    blank = await client.patch("/v1/users/me", json={"name": "   "}, headers={**base, **MERGE})
    assert blank.status_code == 422
    assert blank.json()["code"] == "invalid_name"


async def _add_and_verify(
    client: httpx.AsyncClient, headers: dict[str, str], national: str
) -> httpx.Response:
    added = await client.post("/v1/users/me/phones", json={"phone": national}, headers=headers)
    assert added.status_code == 202, added.text
    code = await read_otp(client, f"+237{national}")
    return await client.post(
        "/v1/users/me/phones/verify", json={"phone": national, "code": code}, headers=headers
    )


async def test_second_number_add_verify_primary_remove(client: httpx.AsyncClient) -> None:
    headers = bearer(await sign_in(client, "699300005", "+237699300005"))
    added = await client.post("/v1/users/me/phones", json={"phone": "677300005"}, headers=headers)
    assert added.status_code == 202, added.text
    assert added.json()["verified"] is False
    assert added.json()["primary"] is False
    assert added.json()["retry_after"] > 0
    sms = (await client.get("/_sim/sms/messages", params={"to": "+237677300005"})).json()
    assert "ajouter ce numero" in sms[0]["text"]  # GSM-7: accents transliterated
    listed = (await client.get("/v1/users/me/phones", headers=headers)).json()
    assert [(p["e164"], p["verified"], p["primary"]) for p in listed["data"]] == [
        ("+237699300005", True, True),
        ("+237677300005", False, False),
    ]
    # an unverified number can be neither primary nor used to sign in
    early = await client.post("/v1/users/me/phones/677300005/primary", headers=headers)
    assert early.status_code == 422
    assert early.json()["code"] == "phone_not_verified"
    wrong = await client.post(
        "/v1/users/me/phones/verify",
        json={"phone": "677300005", "code": "000000"},
        headers=headers,
    )
    assert wrong.status_code == 422
    assert wrong.json()["code"] == "invalid_code"
    code = await read_otp(client, "+237677300005")
    verified = await client.post(
        "/v1/users/me/phones/verify", json={"phone": "677300005", "code": code}, headers=headers
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["verified"] is True
    primary = await client.post("/v1/users/me/phones/+237677300005/primary", headers=headers)
    assert primary.status_code == 200, primary.text
    assert primary.json()["primary"] is True
    cannot = await client.delete("/v1/users/me/phones/677300005", headers=headers)
    assert cannot.status_code == 409
    assert cannot.json()["code"] == "primary_phone_required"
    removed = await client.delete("/v1/users/me/phones/699300005", headers=headers)
    assert removed.status_code == 204
    me = (await _me(client, headers)).json()
    assert me["phones"] == [
        {"e164": "+237677300005", "operator": "mtn", "verified": True, "primary": True}
    ]
    # each change published the user's new state with its version
    events = await outbox_events(client, "identity.v1.UserUpdated")
    assert [e["version"] for e in events] == [2, 3, 4, 5]
    assert events[-1]["state"]["phones"] == [
        {"e164": "+237677300005", "operator": "mtn", "verified": True, "primary": True}
    ]
    missing = await client.delete("/v1/users/me/phones/699300005", headers=headers)
    assert missing.status_code == 404


async def test_a_number_verified_elsewhere_is_409(client: httpx.AsyncClient) -> None:
    await sign_in(client, "699300006", "+237699300006")
    other = bearer(await sign_in(client, "699300007", "+237699300007"))
    response = await client.post("/v1/users/me/phones", json={"phone": "699300006"}, headers=other)
    assert response.status_code == 409
    assert response.json()["code"] == "phone_taken"
    sms = (await client.get("/_sim/sms/messages", params={"to": "+237699300006"})).json()
    assert len(sms) == 1  # only the owner's login code: no SMS for the refused claim
    mine = await client.post("/v1/users/me/phones", json={"phone": "699300007"}, headers=other)
    assert mine.status_code == 409
    assert mine.json()["code"] == "phone_already_added"


async def test_a_pending_claim_never_leads_into_the_claimers_account(
    client: httpx.AsyncClient,
) -> None:
    claimer = bearer(await sign_in(client, "699300008", "+237699300008"))
    claimer_id = (await _me(client, claimer)).json()["id"]
    added = await client.post("/v1/users/me/phones", json={"phone": "677300009"}, headers=claimer)
    assert added.status_code == 202
    # the real holder of the number signs in: a new account, not the claimer's
    cache = client.platform.state.host.ctx.cache  # type: ignore[attr-defined]
    await cache.delete("otp:cooldown:+237677300009")
    holder = bearer(await sign_in(client, "677300009", "+237677300009"))
    holder_me = (await _me(client, holder)).json()
    assert holder_me["id"] != claimer_id
    assert holder_me["phones"][0]["verified"] is True
    # and the unproven claim is gone from the claimer's account
    phones = (await client.get("/v1/users/me/phones", headers=claimer)).json()
    assert [p["e164"] for p in phones["data"]] == ["+237699300008"]
    # the code the claimer received is useless now
    stolen = await read_otp(client, "+237677300009")
    late = await client.post(
        "/v1/users/me/phones/verify",
        json={"phone": "677300009", "code": stolen},
        headers=claimer,
    )
    assert late.status_code == 404


async def test_add_phone_codes_are_bound_to_the_account_that_asked(
    client: httpx.AsyncClient,
) -> None:
    a = bearer(await sign_in(client, "699300010", "+237699300010"))
    b = bearer(await sign_in(client, "699300011", "+237699300011"))
    assert (
        await client.post("/v1/users/me/phones", json={"phone": "677300012"}, headers=a)
    ).status_code == 202
    code = await read_otp(client, "+237677300012")
    # B claims the same number but cannot use A's code
    await client.platform.state.host.ctx.cache.delete(  # type: ignore[attr-defined]
        "otp:cooldown:+237677300012"
    )
    assert (
        await client.post("/v1/users/me/phones", json={"phone": "677300012"}, headers=b)
    ).status_code == 202
    b_code = await read_otp(client, "+237677300012")
    stolen = await client.post(
        "/v1/users/me/phones/verify", json={"phone": "677300012", "code": code}, headers=b
    )
    assert stolen.status_code == 422 or code == b_code
    # B proves it with B's own code: A's pending claim is dropped, A cannot verify any more
    ok = await client.post(
        "/v1/users/me/phones/verify", json={"phone": "677300012", "code": b_code}, headers=b
    )
    assert ok.status_code == 200, ok.text
    a_phones = (await client.get("/v1/users/me/phones", headers=a)).json()
    assert [p["e164"] for p in a_phones["data"]] == ["+237699300010"]
    # phones of B are B's only
    b_phones = (await client.get("/v1/users/me/phones", headers=b)).json()
    assert {p["e164"] for p in b_phones["data"]} == {"+237699300011", "+237677300012"}


async def test_phone_count_is_capped(client: httpx.AsyncClient) -> None:
    headers = bearer(await sign_in(client, "699300013", "+237699300013"))
    for national in ("677300014", "677300015"):
        assert (
            await client.post("/v1/users/me/phones", json={"phone": national}, headers=headers)
        ).status_code == 202
    fourth = await client.post("/v1/users/me/phones", json={"phone": "677300016"}, headers=headers)
    assert fourth.status_code == 422
    assert fourth.json()["code"] == "too_many_phones"


async def test_phone_endpoints_need_a_caller(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/v1/users/me/phones"),
        ("POST", "/v1/users/me/phones"),
        ("POST", "/v1/users/me/phones/verify"),
        ("POST", "/v1/users/me/phones/699300017/primary"),
        ("DELETE", "/v1/users/me/phones/699300017"),
        ("PATCH", "/v1/users/me"),
    ]:
        response = await client.request(method, path)
        assert response.status_code == 401, path
