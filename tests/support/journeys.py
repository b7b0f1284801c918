"""Scenario steps shared by embedded and distributed end-to-end tests."""

from __future__ import annotations

import re
from typing import Any

import httpx


async def read_otp(client: httpx.AsyncClient, e164: str) -> str:
    """Read the newest login code the SMS simulator delivered to ``e164``."""
    response = await client.get("/_sim/sms/messages", params={"to": e164})
    assert response.status_code == 200, response.text
    messages = response.json()
    assert messages, f"no SMS for {e164}"
    match = re.search(r"\b(\d{6})\b", messages[0]["text"])
    assert match, messages[0]["text"]
    return match.group(1)


async def sign_in(
    client: httpx.AsyncClient, typed_phone: str, e164: str, *, device: str = "device-1",
    ip: str | None = None,
) -> dict[str, Any]:
    """Request a code, read it from the simulator and exchange it for tokens."""
    headers = {"accept-language": "en"}
    if ip:
        headers["x-test-client-ip"] = ip
    requested = await client.post("/v1/auth/otp/request", json={"phone": typed_phone},
                                  headers=headers)
    assert requested.status_code == 202, requested.text
    code = await read_otp(client, e164)
    verified = await client.post(
        "/v1/auth/otp/verify", json={"phone": typed_phone, "code": code, "device_id": device}
    )
    assert verified.status_code == 200, verified.text
    tokens: dict[str, Any] = verified.json()
    return tokens


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    """Authorization header for an access token."""
    return {"authorization": f"Bearer {tokens['access_token']}"}


async def identity_scenario(client: httpx.AsyncClient, e164_suffix: str) -> dict[str, Any]:
    """OTP sign-up, profile read, refresh rotation, logout: the foundation's journey."""
    national = f"6{e164_suffix}"
    e164 = f"+237{national}"
    tokens = await sign_in(client, f"{national[0]} {national[1:3]} {national[3:5]} "
                                   f"{national[5:7]} {national[7:]}", e164)
    me = await client.get("/v1/users/me", headers=bearer(tokens))
    assert me.status_code == 200, me.text
    assert me.json()["phones"][0]["e164"] == e164
    assert me.json()["roles"] == ["customer"]
    rotated = await client.post("/v1/auth/token/refresh",
                                json={"refresh_token": tokens["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    new_tokens = rotated.json()
    assert new_tokens["refresh_token"] != tokens["refresh_token"]
    logout = await client.post("/v1/auth/logout", headers=bearer(new_tokens))
    assert logout.status_code == 204, logout.text
    after = await client.post("/v1/auth/token/refresh",
                              json={"refresh_token": new_tokens["refresh_token"]})
    assert after.status_code == 401, after.text
    return {"user_id": me.json()["id"], "e164": e164}
