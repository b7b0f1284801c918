"""Identity through the gateway: OTP rules, refresh rotation, forged tokens, object level."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import re
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from tests.support.journeys import bearer, read_otp, sign_in


async def test_phone_formats_people_type_reach_the_same_account(
    client: httpx.AsyncClient,
) -> None:
    first = await sign_in(client, "6 77 12 34 56", "+237677123456", device="a")
    me_first = (await client.get("/v1/users/me", headers=bearer(first))).json()
    for typed in ("677123456", "+237 677 12 34 56", "00237677123456"):
        await client.post("/_sim/sms/_control/mode", json={"mode": "ok"})
        tokens = await _sign_in_bypassing_cooldown(client, typed, "+237677123456")
        me = (await client.get("/v1/users/me", headers=bearer(tokens))).json()
        assert me["id"] == me_first["id"]
    assert me_first["phones"][0]["operator"] == "mtn"


async def _sign_in_bypassing_cooldown(
    client: httpx.AsyncClient, typed: str, e164: str
) -> dict[str, Any]:
    cache = _platform(client).state.host.ctx.cache  # type: ignore[attr-defined]
    await cache.delete(f"otp:cooldown:{e164}")
    return await sign_in(client, typed, e164)


@pytest.mark.parametrize(
    ("phone", "code"),
    [
        ("garbage", "invalid_phone"),
        ("12", "invalid_phone"),
        ("+33 6 12 34 56 78", "phone_country_not_supported"),
        ("222 12 34 56", "phone_not_mobile"),
    ],
)
async def test_bad_phone_numbers_are_422_in_the_callers_language(
    client: httpx.AsyncClient, phone: str, code: str
) -> None:
    response = await client.post(
        "/v1/auth/otp/request", json={"phone": phone}, headers={"accept-language": "fr"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    assert response.headers["content-language"] == "fr"


@pytest.mark.parametrize("code", ["", "12345", "12a456", "1234567"])
async def test_malformed_codes_are_rejected_cleanly(client: httpx.AsyncClient, code: str) -> None:
    response = await client.post(
        "/v1/auth/otp/verify",
        json={"phone": "699000001", "code": code, "device_id": "d"},
        headers={"accept-language": "en"},
    )
    assert response.status_code == 422
    assert response.json()["status"] == 422


async def test_code_dies_after_five_wrong_attempts(client: httpx.AsyncClient) -> None:
    assert (
        await client.post("/v1/auth/otp/request", json={"phone": "699000002"})
    ).status_code == 202
    good = await read_otp(client, "+237699000002")
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    for _ in range(5):
        r = await client.post(
            "/v1/auth/otp/verify", json={"phone": "699000002", "code": wrong, "device_id": "d"}
        )
        assert r.status_code == 401
    # the right code no longer works: brute force stops at the attempt limit
    r = await client.post(
        "/v1/auth/otp/verify", json={"phone": "699000002", "code": good, "device_id": "d"}
    )
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_code"


async def test_code_is_single_use(client: httpx.AsyncClient) -> None:
    await client.post("/v1/auth/otp/request", json={"phone": "699000003"})
    code = await read_otp(client, "+237699000003")
    body = {"phone": "699000003", "code": code, "device_id": "d"}
    results = await asyncio.gather(
        *(client.post("/v1/auth/otp/verify", json=body) for _ in range(5))
    )
    assert sorted(r.status_code for r in results) == [200, 401, 401, 401, 401]


async def test_request_does_not_reveal_whether_an_account_exists(
    client: httpx.AsyncClient,
) -> None:
    await sign_in(client, "699000004", "+237699000004")
    known = await client.post("/v1/auth/otp/request", json={"phone": "699000005"})
    unknown = await client.post("/v1/auth/otp/request", json={"phone": "699000006"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()


async def test_per_phone_cap_holds_under_100_concurrent_requests(
    client: httpx.AsyncClient,
) -> None:
    results = await asyncio.gather(
        *(client.post("/v1/auth/otp/request", json={"phone": "699000007"}) for _ in range(100))
    )
    statuses = [r.status_code for r in results]
    sent = await client.get("/_sim/sms/messages", params={"to": "+237699000007"})
    # the cooldown lets exactly one SMS through; every other request is a clean 429
    assert statuses.count(202) == 1
    assert statuses.count(429) == 99
    assert len(sent.json()) == 1
    limited = next(r for r in results if r.status_code == 429)
    assert int(limited.headers["retry-after"]) > 0


async def test_login_code_goes_through_notifications_with_provider_failover(
    platform: FastAPI, client: httpx.AsyncClient
) -> None:
    # The primary SMS gateway is down: notifications fails over to the backup provider.
    await client.post("/_sim/sms/_control/mode", json={"mode": "down"})
    r = await client.post("/v1/auth/otp/request", json={"phone": "699000018"})
    assert r.status_code == 202
    backup = await client.get("/_sim/sms-backup/messages", params={"to": "+237699000018"})
    assert len(backup.json()) == 1
    assert re.search(r"\b\d{6}\b", backup.json()[0]["text"])
    import sqlalchemy as sa

    async with platform.state.host.ctx.engine("notifications").connect() as conn:
        rows = (await conn.execute(sa.text(
            "SELECT channel, status, provider, sms_text FROM messages WHERE kind = 'otp'"
        ))).all()
    assert [(row[0], row[1], row[2]) for row in rows] == [("sms", "sent", "sim-sms-backup")]
    assert not re.search(r"\d{6}", rows[0][3] or "")  # the code is never stored


async def test_login_code_goes_straight_to_the_gateway_when_notifications_is_away(
    platform: FastAPI, client: httpx.AsyncClient
) -> None:
    platform.state.host.ctx.directory._apps.pop("notifications")
    r = await client.post("/v1/auth/otp/request", json={"phone": "699000019"})
    assert r.status_code == 202
    sent = await client.get("/_sim/sms/messages", params={"to": "+237699000019"})
    assert len(sent.json()) == 1


async def test_sms_provider_down_gives_503_and_creates_nothing(
    platform: FastAPI, client: httpx.AsyncClient
) -> None:
    # Both providers behind notifications, and the gateway identity falls back to, are down.
    await client.post("/_sim/sms/_control/mode", json={"mode": "down"})
    await client.post("/_sim/sms-backup/_control/mode", json={"mode": "down"})
    r = await client.post(
        "/v1/auth/otp/request", json={"phone": "699000008"}, headers={"accept-language": "en"}
    )
    assert r.status_code == 503
    assert r.json()["code"] == "sms_unavailable"
    import sqlalchemy as sa

    async with platform.state.host.ctx.engine("identity").connect() as conn:
        count = await conn.scalar(
            sa.text("SELECT count(*) FROM otp_challenges WHERE phone = '+237699000008'")
        )
    assert count == 0


async def test_refresh_reuse_after_grace_revokes_the_family(
    platform: FastAPI, client: httpx.AsyncClient
) -> None:
    tokens = await sign_in(client, "699000009", "+237699000009")
    t1 = tokens["refresh_token"]
    t2 = (await client.post("/v1/auth/token/refresh", json={"refresh_token": t1})).json()
    # within the grace window the previous token returns the same child (lost response retry)
    again = (await client.post("/v1/auth/token/refresh", json={"refresh_token": t1})).json()
    assert again["refresh_token"] == t2["refresh_token"]
    # after the grace window, reuse of T1 revokes the whole family, T2 included
    auth = platform.state.host.runtimes["identity"].app.state.auth
    auth.rules = type(auth.rules)(**{**auth.rules.__dict__, "refresh_grace_seconds": 0})
    await asyncio.sleep(0.01)
    reused = await client.post("/v1/auth/token/refresh", json={"refresh_token": t1})
    assert reused.status_code == 401
    assert reused.json()["code"] == "refresh_token_reused"
    t2_after = await client.post(
        "/v1/auth/token/refresh", json={"refresh_token": t2["refresh_token"]}
    )
    assert t2_after.status_code == 401


async def test_concurrent_refresh_within_grace_does_not_revoke(
    client: httpx.AsyncClient,
) -> None:
    tokens = await sign_in(client, "699000010", "+237699000010")
    results = await asyncio.gather(
        *(
            client.post("/v1/auth/token/refresh", json={"refresh_token": tokens["refresh_token"]})
            for _ in range(5)
        )
    )
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    children = {r.json()["refresh_token"] for r in results}
    assert len(children) == 1  # one new token, no branches
    follow = await client.post("/v1/auth/token/refresh", json={"refresh_token": children.pop()})
    assert follow.status_code == 200


async def test_logout_all_revokes_every_session_and_sessions_are_listed(
    client: httpx.AsyncClient,
) -> None:
    a = await sign_in(client, "699000011", "+237699000011", device="phone-a")
    cache = _platform(client).state.host.ctx.cache  # type: ignore[attr-defined]
    await cache.delete("otp:cooldown:+237699000011")
    b = await sign_in(client, "699000011", "+237699000011", device="phone-b")
    sessions = (await client.get("/v1/users/me/sessions", headers=bearer(b))).json()
    assert sessions["count"] == 2
    assert {s["device_id"] for s in sessions["data"]} == {"phone-a", "phone-b"}
    assert [s["current"] for s in sessions["data"]].count(True) == 1
    assert (await client.post("/v1/auth/logout-all", headers=bearer(b))).status_code == 204
    for t in (a, b):
        r = await client.post("/v1/auth/token/refresh", json={"refresh_token": t["refresh_token"]})
        assert r.status_code == 401
    # the access token used to log out is deny-listed at once
    assert (await client.get("/v1/users/me", headers=bearer(b))).status_code == 401


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def _forged_tokens(client: httpx.AsyncClient) -> dict[str, str]:
    genuine = (await sign_in(client, "699000012", "+237699000012"))["access_token"]
    header = jwt.get_unverified_header(genuine)
    claims = jwt.decode(genuine, options={"verify_signature": False})
    jwks = (await client.get("/.well-known/jwks.json")).json()
    public_x = jwks["keys"][0]["x"]
    other_key = Ed25519PrivateKey.generate()
    now = int(time.time())

    def signed(
        c: dict[str, Any], *, key: Any = other_key, kid: str | None = None, typ: str = "at+jwt"
    ) -> str:
        return jwt.encode(
            c, key, algorithm="EdDSA", headers={"kid": kid or header["kid"], "typ": typ}
        )

    parts = genuine.split(".")
    tampered_claims = {**claims, "roles": ["admin"]}
    return {
        "alg_none": f"{_b64({'alg': 'none', 'typ': 'at+jwt', 'kid': header['kid']})}."
        f"{_b64(claims)}.",
        "hs256_with_public_key": jwt.encode(
            claims,
            base64.urlsafe_b64decode(public_x + "=="),
            algorithm="HS256",
            headers={"kid": header["kid"], "typ": "at+jwt"},
        ),
        "unknown_kid": signed(claims, kid="unknownkid123"),
        "wrong_signer": signed(claims),
        "tampered_payload": f"{parts[0]}.{_b64(tampered_claims)}.{parts[2]}",
        "expired": _resign(
            client, {**claims, "exp": now - 3600, "iat": now - 4000, "nbf": now - 4000}
        ),
        "wrong_audience": _resign(client, {**claims, "aud": "someone-else"}),
        "wrong_issuer": _resign(client, {**claims, "iss": "https://evil.example"}),
        "not_yet_valid": _resign(client, {**claims, "nbf": now + 3600}),
        "wrong_typ": _resign(client, claims, typ="JWT"),
        "garbage": "not-a-jwt",
    }


def _resign(client: httpx.AsyncClient, claims: dict[str, Any], typ: str = "at+jwt") -> str:
    """Sign with the real current key so only the claim under test is wrong."""
    keyring = _platform(client).state.host.runtimes["identity"].app.state.keyring  # type: ignore[attr-defined]
    kid, key = keyring._current
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid, "typ": typ})


async def test_forged_tokens_are_rejected_at_the_gateway(client: httpx.AsyncClient) -> None:
    forged = await _forged_tokens(client)
    for name, token in forged.items():
        r = await client.get("/v1/users/me", headers={"authorization": f"Bearer {token}"})
        assert r.status_code == 401, name
        assert r.headers["content-type"] == "application/problem+json", name


async def test_forged_tokens_are_rejected_by_the_service_itself(
    platform: FastAPI, client: httpx.AsyncClient
) -> None:
    forged = await _forged_tokens(client)
    identity_app = platform.state.host.runtimes["identity"].app
    transport = httpx.ASGITransport(app=identity_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://identity") as direct:
        for name, token in forged.items():
            r = await direct.get("/v1/users/me", headers={"authorization": f"Bearer {token}"})
            assert r.status_code == 401, name


async def test_spoofed_internal_principal_header_is_ignored(
    platform: FastAPI, client: httpx.AsyncClient
) -> None:
    victim = await sign_in(client, "699000013", "+237699000013")
    victim_id = (await client.get("/v1/users/me", headers=bearer(victim))).json()["id"]
    spoof = (
        base64.urlsafe_b64encode(
            json.dumps(
                {"sub": victim_id, "roles": ["admin"], "stores": [], "exp": time.time() + 600}
            ).encode()
        ).decode()
        + ".deadbeef"
    )
    # through the gateway: the header is stripped, so the call is anonymous
    r = await client.get("/v1/users/me", headers={"x-okada-principal": spoof})
    assert r.status_code == 401
    # straight at the service: the MAC does not verify, so it is anonymous too
    transport = httpx.ASGITransport(app=platform.state.host.runtimes["identity"].app)
    async with httpx.AsyncClient(transport=transport, base_url="http://identity") as direct:
        r = await direct.get("/v1/users/me", headers={"x-okada-principal": spoof})
    assert r.status_code == 401


async def test_a_user_only_ever_sees_their_own_profile_and_sessions(
    client: httpx.AsyncClient,
) -> None:
    a = await sign_in(client, "699000014", "+237699000014")
    b = await sign_in(client, "699000015", "+237699000015")
    me_a = (await client.get("/v1/users/me", headers=bearer(a))).json()
    me_b = (await client.get("/v1/users/me", headers=bearer(b))).json()
    assert me_a["id"] != me_b["id"]
    assert me_a["phones"][0]["e164"] == "+237699000014"
    sessions_b = (await client.get("/v1/users/me/sessions", headers=bearer(b))).json()
    assert all(s["device_id"] == "device-1" for s in sessions_b["data"])
    assert sessions_b["count"] == 1
    assert uuid.UUID(me_b["id"])
    assert dt.datetime.fromisoformat(me_b["created_at"].replace("Z", "+00:00")).tzinfo


def _platform(client: httpx.AsyncClient) -> Any:
    return client.platform  # type: ignore[attr-defined]
