"""Staff password login: Argon2id, TOTP for staff, replay, throttle, no enumeration."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import jwt
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST

from tests.services.identity.helpers import (
    STAFF_PASSWORD,
    identity_engine,
    password_login,
    provision,
    totp_code,
)
from tests.support.journeys import bearer, read_otp, sign_in


async def test_admin_signs_in_with_password_and_totp(client: httpx.AsyncClient) -> None:
    admin = await provision(client, "699100001", ["admin"])
    response = await password_login(client, admin)
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["token_type"] == "Bearer"
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["roles"] == ["admin"]
    me = await client.get("/v1/users/me", headers=bearer(tokens))
    assert me.status_code == 200
    assert me.json()["id"] == admin["id"]
    # the refresh token rotates like any other session
    rotated = await client.post(
        "/v1/auth/token/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert rotated.status_code == 200


async def test_wrong_password_unknown_phone_and_missing_totp_look_the_same(
    client: httpx.AsyncClient,
) -> None:
    ops = await provision(client, "699100002", ["operations"])
    customer = await sign_in(client, "699100003", "+237699100003")
    assert customer["access_token"]
    attempts = {
        "wrong_password": await password_login(client, ops, password="not the right one!!"),
        "missing_totp": await client.post(
            "/v1/auth/password/login",
            json={"phone": ops["phone"], "password": STAFF_PASSWORD},
        ),
        "wrong_totp": await password_login(client, ops, totp="000000"),
        "unknown_phone": await client.post(
            "/v1/auth/password/login",
            json={"phone": "699100099", "password": STAFF_PASSWORD, "totp": "123456"},
        ),
        "account_without_password": await client.post(
            "/v1/auth/password/login",
            json={"phone": "699100003", "password": STAFF_PASSWORD},
        ),
    }
    bodies = set()
    for name, response in attempts.items():
        assert response.status_code == 401, (name, response.text)
        body = response.json()
        assert body["code"] == "invalid_credentials", name
        bodies.add((body["title"], body["detail"]))
    assert len(bodies) == 1


async def test_a_used_totp_code_cannot_be_replayed(client: httpx.AsyncClient) -> None:
    ops = await provision(client, "699100004", ["operations"])
    code = totp_code(ops["totp_secret"])
    first = await password_login(client, ops, totp=code)
    assert first.status_code == 200, first.text
    replayed = await password_login(client, ops, totp=code)
    assert replayed.status_code == 401
    assert replayed.json()["code"] == "invalid_credentials"
    # the next step's code (inside the one-step window) still works
    later = await password_login(client, ops, steps_ahead=1)
    assert later.status_code == 200, later.text
    # and an older step than the last one used is refused too
    older = await password_login(client, ops, totp=code)
    assert older.status_code == 401


async def test_merchant_staff_without_authenticator_needs_no_totp(
    client: httpx.AsyncClient,
) -> None:
    staff = await provision(
        client, "699100005", ["merchant_staff"], store_ids=["0190f5d2-0000-7000-8000-000000000001"]
    )
    assert staff["totp_secret"] is None
    response = await password_login(client, staff)
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["roles"] == ["merchant_staff"]
    assert claims["stores"] == ["0190f5d2-0000-7000-8000-000000000001"]


async def test_merchant_staff_with_an_authenticator_must_use_it(client: httpx.AsyncClient) -> None:
    staff = await provision(
        client,
        "699100006",
        ["merchant_staff"],
        store_ids=["0190f5d2-0000-7000-8000-000000000002"],
        totp=True,
    )
    without = await client.post(
        "/v1/auth/password/login", json={"phone": staff["phone"], "password": STAFF_PASSWORD}
    )
    assert without.status_code == 401
    assert (await password_login(client, staff)).status_code == 200


async def test_password_hash_is_argon2id_with_owasp_parameters_and_totp_is_sealed(
    client: httpx.AsyncClient,
) -> None:
    admin = await provision(client, "699100007", ["admin"])
    async with identity_engine(client).connect() as conn:
        row = (
            await conn.execute(
                sa.text("SELECT password_hash, totp_secret FROM users WHERE id = :id"),
                {"id": admin["id"].replace("-", "")},
            )
        ).one()
    match = re.fullmatch(r"\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[^$]+\$[^$]+", row[0])
    assert match, row[0]
    memory, passes, _ = (int(g) for g in match.groups())
    assert (memory >= 19456 and passes >= 2) or (memory >= 47104 and passes >= 1)
    assert STAFF_PASSWORD not in row[0]
    sealed = bytes(row[1])
    assert admin["totp_secret"].encode() not in sealed
    assert sealed.startswith(b"gAAAA")  # a Fernet token, not the base32 secret


async def test_weak_hash_is_upgraded_at_login(client: httpx.AsyncClient) -> None:
    staff = await provision(
        client, "699100008", ["merchant_staff"], store_ids=["0190f5d2-0000-7000-8000-000000000003"]
    )
    weak = PasswordHasher.from_parameters(CHEAPEST).hash(STAFF_PASSWORD)
    engine = identity_engine(client)
    user_id = staff["id"].replace("-", "")
    async with engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE users SET password_hash = :h WHERE id = :id"),
            {"h": weak, "id": user_id},
        )
    assert (await password_login(client, staff)).status_code == 200
    async with engine.connect() as conn:
        upgraded = await conn.scalar(
            sa.text("SELECT password_hash FROM users WHERE id = :id"), {"id": user_id}
        )
    assert upgraded != weak
    assert upgraded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert (await password_login(client, staff)).status_code == 200


async def test_failed_logins_are_throttled_per_number(client: httpx.AsyncClient) -> None:
    staff = await provision(
        client, "699100009", ["merchant_staff"], store_ids=["0190f5d2-0000-7000-8000-000000000004"]
    )
    for _ in range(10):
        response = await password_login(client, staff, password="wrong password again")
        assert response.status_code == 401
    blocked = await password_login(client, staff)  # even the right password now
    assert blocked.status_code == 429
    assert blocked.json()["code"] == "login_throttled"
    assert int(blocked.headers["retry-after"]) > 0
    # another number is not affected
    other = await provision(
        client, "699100010", ["merchant_staff"], store_ids=["0190f5d2-0000-7000-8000-000000000004"]
    )
    assert (await password_login(client, other)).status_code == 200


async def test_operations_staff_cannot_sign_in_by_sms(client: httpx.AsyncClient) -> None:
    ops = await provision(client, "699100011", ["operations"])
    assert (
        await client.post("/v1/auth/otp/request", json={"phone": ops["phone"]})
    ).status_code == 202
    code = await read_otp(client, ops["e164"])
    response = await client.post(
        "/v1/auth/otp/verify", json={"phone": ops["phone"], "code": code, "device_id": "d"}
    )
    assert response.status_code == 403
    assert response.json()["code"] == "password_login_required"


async def test_disabled_staff_cannot_sign_in(client: httpx.AsyncClient) -> None:
    admin = await provision(client, "699100012", ["admin"])
    staff = await provision(
        client, "699100013", ["merchant_staff"], store_ids=["0190f5d2-0000-7000-8000-000000000005"]
    )
    headers = bearer((await password_login(client, admin)).json())
    disabled = await client.post(
        f"/v1/admin/users/{staff['id']}/disable", json={"reason": "left"}, headers=headers
    )
    assert disabled.status_code == 200, disabled.text
    response = await password_login(client, staff)
    assert response.status_code == 403
    assert response.json()["code"] == "account_disabled"


BOOTSTRAP_TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture
def bootstrap_admin_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"phone": "699100014", "password": "bootstrap admin passphrase"}
    monkeypatch.setenv("IDENTITY_BOOTSTRAP_ADMIN_PHONE", values["phone"])
    monkeypatch.setenv("IDENTITY_BOOTSTRAP_ADMIN_PASSWORD", values["password"])
    monkeypatch.setenv("IDENTITY_BOOTSTRAP_ADMIN_TOTP_SECRET", BOOTSTRAP_TOTP)
    return values


async def test_configured_bootstrap_admin_can_sign_in(
    bootstrap_admin_env: dict[str, str], client: httpx.AsyncClient, tmp_path: Path
) -> None:
    account = {**bootstrap_admin_env, "totp_secret": BOOTSTRAP_TOTP}
    response = await password_login(client, account)
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["roles"] == ["admin"]
    # the bootstrap admin can then create operations staff
    created = await client.post(
        "/v1/admin/users",
        json={"phone": "699100015", "roles": ["operations"], "password": "another long passphrase"},
        headers=bearer(response.json()),
    )
    assert created.status_code == 201, created.text
