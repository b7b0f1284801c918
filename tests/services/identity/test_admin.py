"""Operations and admin endpoints: who may create and disable whom, TOTP enrolment, key rotation."""

from __future__ import annotations

import uuid

import httpx
import jwt
import pytest

from tests.services.identity.helpers import (
    outbox_events,
    password_login,
    provision,
    staff_headers,
)
from tests.support.journeys import bearer, read_otp, sign_in

STORE = "0190f5d2-0000-7000-8000-0000000000aa"


async def test_anonymous_gets_401_and_customers_get_403_on_admin_endpoints(
    client: httpx.AsyncClient,
) -> None:
    customer = bearer(await sign_in(client, "699200001", "+237699200001"))
    some_id = str(uuid.uuid4())
    calls = [
        ("POST", "/v1/admin/users", {"phone": "699200002", "roles": ["rider"]}),
        ("GET", f"/v1/admin/users/{some_id}", None),
        ("POST", f"/v1/admin/users/{some_id}/disable", {"reason": "x"}),
        ("POST", f"/v1/admin/users/{some_id}/totp", None),
        ("POST", "/v1/admin/keys/rotate", None),
    ]
    for method, path, body in calls:
        anonymous = await client.request(method, path, json=body)
        assert anonymous.status_code == 401, (path, anonymous.text)
        as_customer = await client.request(method, path, json=body, headers=customer)
        assert as_customer.status_code == 403, (path, as_customer.text)
        assert as_customer.headers["content-type"] == "application/problem+json"


async def test_merchant_staff_cannot_create_users(client: httpx.AsyncClient) -> None:
    staff = await provision(client, "699200003", ["merchant_staff"], store_ids=[STORE])
    headers = await staff_headers(client, staff)
    response = await client.post(
        "/v1/admin/users", json={"phone": "699200004", "roles": ["rider"]}, headers=headers
    )
    assert response.status_code == 403
    assert response.json()["code"] == "role_required"


async def test_operations_create_riders_and_merchant_staff_but_not_staff(
    client: httpx.AsyncClient,
) -> None:
    ops = await provision(client, "699200005", ["operations"])
    headers = await staff_headers(client, ops)
    rider = await client.post(
        "/v1/admin/users",
        json={"phone": "6 99 20 00 06", "roles": ["rider"], "name": "Jean  Rider"},
        headers=headers,
    )
    assert rider.status_code == 201, rider.text
    body = rider.json()
    assert body["roles"] == ["rider"]
    assert body["name"] == "Jean Rider"
    assert body["phones"] == [
        {"e164": "+237699200006", "operator": "orange", "verified": True, "primary": True}
    ]
    assert body["has_password"] is False
    assert body["totp"] is None
    assert rider.headers["location"] == f"/v1/admin/users/{body['id']}"
    merchant = await client.post(
        "/v1/admin/users",
        json={
            "phone": "699200007",
            "roles": ["merchant_staff"],
            "store_ids": [STORE],
            "password": "a very long merchant passphrase",
        },
        headers=headers,
    )
    assert merchant.status_code == 201, merchant.text
    assert merchant.json()["store_ids"] == [STORE]
    for roles in (["operations"], ["admin"], ["rider", "admin"]):
        refused = await client.post(
            "/v1/admin/users",
            json={"phone": "699200008", "roles": roles, "password": "a very long passphrase"},
            headers=headers,
        )
        assert refused.status_code == 403, roles
    # the new rider signs in by SMS on the number operations entered
    rider_tokens = await sign_in(client, "699200006", "+237699200006")
    claims = jwt.decode(rider_tokens["access_token"], options={"verify_signature": False})
    assert claims["sub"] == body["id"]
    assert claims["roles"] == ["rider"]
    registered = await outbox_events(client, "identity.v1.UserRegistered")
    assert body["id"] in [e["entity_id"] for e in registered]


async def test_create_user_validation(client: httpx.AsyncClient) -> None:
    admin = await provision(client, "699200009", ["admin"])
    headers = await staff_headers(client, admin)
    cases = [
        ({"phone": "699200010", "roles": ["merchant_staff"]}, 422, "store_ids_required"),
        (
            {"phone": "699200010", "roles": ["rider"], "store_ids": [STORE]},
            422,
            "store_ids_not_allowed",
        ),
        ({"phone": "699200010", "roles": ["operations"]}, 422, "password_required"),
        (
            {"phone": "699200010", "roles": ["operations"], "password": "short"},
            422,
            "password_too_short",
        ),
        (
            {"phone": "699200010", "roles": ["operations"], "password": "Password1234"},
            422,
            "password_too_common",
        ),
        (
            {"phone": "699200010", "roles": ["operations"], "password": "x" * 129},
            422,
            "password_too_long",
        ),
        (
            {"phone": "699200010", "roles": ["operations"], "password": "my number 699200010!"},
            422,
            "password_too_common",
        ),
        ({"phone": "699200010", "roles": ["wizard"]}, 422, "invalid_roles"),
        ({"phone": "699200009", "roles": ["rider"]}, 409, "phone_taken"),
        ({"phone": "+33612345678", "roles": ["rider"]}, 422, "phone_country_not_supported"),
    ]
    for body, status, code in cases:
        response = await client.post("/v1/admin/users", json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        assert response.json()["code"] == code, body


async def test_admin_creates_operations_with_a_one_time_totp_enrolment(
    client: httpx.AsyncClient,
) -> None:
    admin = await provision(client, "699200011", ["admin"])
    headers = await staff_headers(client, admin)
    created = await client.post(
        "/v1/admin/users",
        json={"phone": "699200012", "roles": ["operations"], "password": "ops team passphrase"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["cache-control"] == "no-store"
    assert body["totp"]["provisioning_uri"].startswith("otpauth://totp/Okada:")
    assert body["has_password"] is True
    assert body["totp_enrolled"] is True
    ops = {
        "phone": "699200012",
        "password": "ops team passphrase",
        "totp_secret": body["totp"]["secret"],
    }
    assert (await password_login(client, ops)).status_code == 200
    # the secret is never shown again
    read = await client.get(f"/v1/admin/users/{body['id']}", headers=headers)
    assert read.status_code == 200
    assert "totp" not in read.json()
    assert body["totp"]["secret"] not in read.text


async def test_disabling_a_user_revokes_sessions_and_blocks_login(
    client: httpx.AsyncClient,
) -> None:
    ops = await provision(client, "699200013", ["operations"])
    headers = await staff_headers(client, ops)
    victim = await sign_in(client, "699200014", "+237699200014")
    victim_id = (await client.get("/v1/users/me", headers=bearer(victim))).json()["id"]
    response = await client.post(
        f"/v1/admin/users/{victim_id}/disable", json={"reason": "fraud  report"}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["disabled"] is True
    assert response.json()["disabled_reason"] == "fraud report"
    # refresh fails: every family was revoked
    refreshed = await client.post(
        "/v1/auth/token/refresh", json={"refresh_token": victim["refresh_token"]}
    )
    assert refreshed.status_code == 401
    # The live access token is refused at once everywhere (the "not before" marker): 401, so
    # the app signs in again, and that login is refused with 403 account_disabled below.
    assert (await client.get("/v1/users/me", headers=bearer(victim))).status_code == 401
    assert (await client.get("/v1/users/me/places", headers=bearer(victim))).status_code == 401
    assert (await client.get("/v1/users/me/phones", headers=bearer(victim))).status_code == 401
    # a new login fails
    cache = client.platform.state.host.ctx.cache  # type: ignore[attr-defined]
    await cache.delete("otp:cooldown:+237699200014")
    await client.post("/v1/auth/otp/request", json={"phone": "699200014"})
    code = await read_otp(client, "+237699200014")
    login = await client.post(
        "/v1/auth/otp/verify", json={"phone": "699200014", "code": code, "device_id": "d"}
    )
    assert login.status_code == 403
    assert login.json()["code"] == "account_disabled"
    # disabling twice changes nothing and publishes once
    again = await client.post(
        f"/v1/admin/users/{victim_id}/disable", json={"reason": "again"}, headers=headers
    )
    assert again.status_code == 200
    events = [
        e
        for e in await outbox_events(client, "identity.v1.UserDisabled")
        if e["entity_id"] == victim_id
    ]
    assert len(events) == 1
    assert events[0]["reason"] == "fraud report"
    assert events[0]["state"]["disabled"] is True
    assert events[0]["version"] == 2


async def test_only_admin_disables_staff_and_nobody_disables_themselves(
    client: httpx.AsyncClient,
) -> None:
    ops = await provision(client, "699200015", ["operations"])
    other_ops = await provision(client, "699200016", ["operations"])
    admin = await provision(client, "699200017", ["admin"])
    ops_headers = await staff_headers(client, ops)
    refused = await client.post(
        f"/v1/admin/users/{other_ops['id']}/disable", json={"reason": "x"}, headers=ops_headers
    )
    assert refused.status_code == 403
    refused = await client.post(
        f"/v1/admin/users/{admin['id']}/disable", json={"reason": "x"}, headers=ops_headers
    )
    assert refused.status_code == 403
    myself = await client.post(
        f"/v1/admin/users/{ops['id']}/disable", json={"reason": "x"}, headers=ops_headers
    )
    assert myself.status_code == 422
    assert myself.json()["code"] == "cannot_disable_self"
    admin_headers = await staff_headers(client, admin)
    done = await client.post(
        f"/v1/admin/users/{other_ops['id']}/disable", json={"reason": "x"}, headers=admin_headers
    )
    assert done.status_code == 200
    missing = await client.post(
        f"/v1/admin/users/{uuid.uuid4()}/disable", json={"reason": "x"}, headers=admin_headers
    )
    assert missing.status_code == 404


async def test_totp_enrolment_by_the_user_or_an_admin(client: httpx.AsyncClient) -> None:
    staff = await provision(client, "699200018", ["merchant_staff"], store_ids=[STORE])
    staff_auth = await staff_headers(client, staff)
    own = await client.post(f"/v1/admin/users/{staff['id']}/totp", headers=staff_auth)
    assert own.status_code == 201, own.text
    assert own.json()["provisioning_uri"].startswith("otpauth://totp/")
    # from now on the password alone is not enough
    assert (await password_login(client, staff)).status_code == 401
    enrolled = {**staff, "totp_secret": own.json()["secret"]}
    assert (await password_login(client, enrolled)).status_code == 200
    # replacing it takes an admin
    again = await client.post(f"/v1/admin/users/{staff['id']}/totp", headers=staff_auth)
    assert again.status_code == 409
    # and nobody but an admin enrols someone else
    other = await provision(client, "699200019", ["merchant_staff"], store_ids=[STORE])
    refused = await client.post(f"/v1/admin/users/{other['id']}/totp", headers=staff_auth)
    assert refused.status_code == 403
    admin = await provision(client, "699200020", ["admin"])
    replaced = await client.post(
        f"/v1/admin/users/{staff['id']}/totp", headers=await staff_headers(client, admin)
    )
    assert replaced.status_code == 201
    new = {**staff, "totp_secret": replaced.json()["secret"]}
    assert (await password_login(client, new, steps_ahead=1)).status_code == 200


async def test_key_rotation_keeps_old_tokens_valid_and_new_ones_verify(
    client: httpx.AsyncClient,
) -> None:
    admin = await provision(client, "699200021", ["admin"])
    customer_before = await sign_in(client, "699200022", "+237699200022")
    assert (await client.get("/v1/users/me", headers=bearer(customer_before))).status_code == 200
    old_kid = jwt.get_unverified_header(customer_before["access_token"])["kid"]
    admin_headers = await staff_headers(client, admin)
    rotated = await client.post("/v1/admin/keys/rotate", headers=admin_headers)
    assert rotated.status_code == 200, rotated.text
    new_kid = rotated.json()["kid"]
    assert new_kid != old_kid
    assert set(rotated.json()["published_kids"]) == {old_kid, new_kid}
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert {k["kid"] for k in jwks["keys"]} == {old_kid, new_kid}
    # The gateway refetches the JWKS on an unknown kid at most every 10 s; act as if that
    # much time had passed since its last fetch (a few milliseconds ago in this test).
    gateway_keys = client.platform.state.host.ctx.token_verifier.jwks  # type: ignore[attr-defined]
    gateway_keys._fetched_at -= 11
    customer_after = await sign_in(client, "699200023", "+237699200023")
    assert jwt.get_unverified_header(customer_after["access_token"])["kid"] == new_kid
    for tokens in (customer_before, customer_after):
        me = await client.get("/v1/users/me", headers=bearer(tokens))
        assert me.status_code == 200, me.text
    # operations may not rotate keys
    ops = await provision(client, "699200024", ["operations"])
    refused = await client.post("/v1/admin/keys/rotate", headers=await staff_headers(client, ops))
    assert refused.status_code == 403


@pytest.mark.parametrize("path_suffix", ["", "/disable", "/totp"])
async def test_admin_user_ids_are_validated(client: httpx.AsyncClient, path_suffix: str) -> None:
    admin = await provision(client, "699200025", ["admin"])
    headers = await staff_headers(client, admin)
    method = "GET" if not path_suffix else "POST"
    body = {"reason": "x"} if path_suffix == "/disable" else None
    response = await client.request(
        method, f"/v1/admin/users/not-a-uuid{path_suffix}", json=body, headers=headers
    )
    assert response.status_code == 422


async def test_roles_change_with_merge_patch_and_if_match(client: httpx.AsyncClient) -> None:
    ops = await provision(client, "699200026", ["operations"])
    headers = await staff_headers(client, ops)
    customer = await sign_in(client, "699200027", "+237699200027")
    user_id = (await client.get("/v1/users/me", headers=bearer(customer))).json()["id"]
    url = f"/v1/admin/users/{user_id}"
    read = await client.get(url, headers=headers)
    etag = read.headers["etag"]
    merge = {**headers, "content-type": "application/merge-patch+json"}
    assert (await client.patch(url, json={"roles": ["rider"]}, headers=merge)).status_code == 428
    stale = await client.patch(url, json={"roles": ["rider"]}, headers={**merge, "if-match": '"x"'})
    assert stale.status_code == 412
    promoted = await client.patch(
        url,
        json={"roles": ["customer", "merchant_staff"], "store_ids": [STORE]},
        headers={**merge, "if-match": etag},
    )
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["roles"] == ["customer", "merchant_staff"]
    assert promoted.json()["store_ids"] == [STORE]
    # the new roles reach the access token at the next refresh
    refreshed = await client.post(
        "/v1/auth/token/refresh", json={"refresh_token": customer["refresh_token"]}
    )
    claims = jwt.decode(refreshed.json()["access_token"], options={"verify_signature": False})
    assert claims["roles"] == ["customer", "merchant_staff"]
    assert claims["stores"] == [STORE]
    events = [
        e
        for e in await outbox_events(client, "identity.v1.UserUpdated")
        if e["entity_id"] == user_id
    ]
    assert [(e["version"], e["state"]["roles"]) for e in events] == [
        (2, ["customer", "merchant_staff"])
    ]
    next_etag = promoted.headers["etag"]
    cases = [
        ({"roles": ["operations"]}, 403),  # operations cannot grant staff roles
        ({"roles": ["customer", "merchant_staff"], "store_ids": []}, 422),
        ({"roles": None}, 422),
        ({"disabled": True}, 422),
        ({"phones": []}, 422),
    ]
    for patch, status in cases:
        response = await client.patch(url, json=patch, headers={**merge, "if-match": next_etag})
        assert response.status_code == status, (patch, response.text)
    own = await client.patch(
        f"/v1/admin/users/{ops['id']}",
        json={"roles": ["admin"]},
        headers={**merge, "if-match": '"whatever"'},
    )
    assert own.status_code == 422
    assert own.json()["code"] == "cannot_change_own_roles"
    # a customer cannot touch anyone's roles
    as_customer = await client.patch(
        url,
        json={"roles": ["admin"]},
        headers={
            **bearer(customer),
            "content-type": "application/merge-patch+json",
            "if-match": next_etag,
        },
    )
    assert as_customer.status_code == 403
