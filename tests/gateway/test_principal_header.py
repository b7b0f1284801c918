"""The signed principal header lives as long as the access token, capped at 10 minutes."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import orjson

from okada.gateway.edge import MAX_PRINCIPAL_HEADER_TTL
from tests.gateway.support import FakeUpstream, TokenIssuer, build_gateway, client_for


def header_claims(upstream: FakeUpstream, index: int = -1) -> dict[str, Any]:
    value = upstream.seen[index].header("x-okada-principal")[0]
    payload = value.rpartition(".")[0]
    padded = payload + "=" * (-len(payload) % 4)
    claims: dict[str, Any] = orjson.loads(base64.urlsafe_b64decode(padded))
    return claims


async def test_the_header_expires_with_a_short_lived_token() -> None:
    issuer, upstream = TokenIssuer(), FakeUpstream()
    now = int(time.time())
    token = issuer.token(uuid.uuid4(), issued_at=now - 540, ttl=600)  # 60 s left
    app = build_gateway({"identity": upstream}, issuer=issuer)
    async with client_for(app) as client:
        r = await client.get("/v1/users/me", headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert header_claims(upstream)["exp"] == now + 60


async def test_the_header_of_a_long_lived_token_is_capped() -> None:
    issuer, upstream = TokenIssuer(), FakeUpstream()
    token = issuer.token(uuid.uuid4(), ttl=3600)
    app = build_gateway({"identity": upstream}, issuer=issuer)
    async with client_for(app) as client:
        before = time.time()
        r = await client.get("/v1/users/me", headers={"authorization": f"Bearer {token}"})
        again = await client.get("/v1/users/me", headers={"authorization": f"Bearer {token}"})
    assert r.status_code == again.status_code == 200
    exp = header_claims(upstream, 0)["exp"]
    assert before + MAX_PRINCIPAL_HEADER_TTL - 2 <= exp <= before + MAX_PRINCIPAL_HEADER_TTL + 1
    # the same token gets the same signed bytes while they have time left (services remember
    # verified headers by value)
    assert upstream.seen[0].header("x-okada-principal") == upstream.seen[1].header(
        "x-okada-principal"
    )


async def test_different_tokens_of_one_user_get_their_own_expiry() -> None:
    issuer, upstream = TokenIssuer(), FakeUpstream()
    user = uuid.uuid4()
    now = int(time.time())
    short = issuer.token(user, issued_at=now - 500, ttl=600)
    fresh = issuer.token(user, issued_at=now, ttl=600)
    app = build_gateway({"identity": upstream}, issuer=issuer)
    async with client_for(app) as client:
        for token in (short, fresh):
            r = await client.get("/v1/users/me", headers={"authorization": f"Bearer {token}"})
            assert r.status_code == 200
    assert header_claims(upstream, 0)["exp"] == now + 100
    assert header_claims(upstream, 1)["exp"] == now + 600
