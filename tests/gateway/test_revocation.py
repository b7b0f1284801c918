"""Revoked access tokens: refused at the gateway and by a service called directly.

Two cut-offs (okada.infra.security.revocation): the logout deny-list (``jti-deny:<jti>``) and
the per-user "not before" marker (``user-nbf:<user_id>``) written when an account is disabled.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import APIRouter, FastAPI

from okada.infra.cache.memory import MemoryCache
from okada.infra.http.app import create_service_app
from okada.infra.http.auth import CurrentPrincipal, PrincipalResolver
from okada.infra.security.internal import PRINCIPAL_HEADER, PrincipalCodec
from okada.infra.security.revocation import deny_list_key, mark_user_not_before
from okada.kernel.authz import Principal, Role
from okada.kernel.ports import Cache
from tests.gateway.support import SECRET, FakeUpstream, TokenIssuer, build_gateway, client_for
from tests.services.identity.helpers import identity_state
from tests.support.journeys import bearer, sign_in


def service_app(issuer: TokenIssuer, cache: Cache) -> FastAPI:
    """A service built like every Okada service, with one route that needs a caller."""
    router = APIRouter()

    @router.get("/v1/users/me")
    async def me(principal: CurrentPrincipal) -> dict[str, str]:
        return {"id": str(principal.user_id)}

    return create_service_app(
        service="identity",
        routers=[router],
        resolver=PrincipalResolver(PrincipalCodec(SECRET), issuer.verifier(), cache=cache),
        readiness={},
        access_log=False,
    )


@asynccontextmanager
async def direct(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://identity.test") as c:
        yield c


def jti_of(token: str) -> str:
    import jwt

    claims = jwt.decode(token, options={"verify_signature": False})
    return str(claims["jti"])


async def test_a_logged_out_token_is_refused_by_a_service_called_directly() -> None:
    issuer, cache = TokenIssuer(), MemoryCache()
    token = issuer.token()
    async with direct(service_app(issuer, cache)) as client:
        before = await client.get("/v1/users/me", headers={"authorization": f"Bearer {token}"})
        await cache.set(deny_list_key(jti_of(token)), b"1", ttl=660)
        after = await client.get("/v1/users/me", headers={"authorization": f"Bearer {token}"})
        other = await client.get("/v1/users/me", headers=issuer.bearer())
    assert before.status_code == 200
    assert after.status_code == 401  # the verified-token memory does not skip the deny-list
    assert after.headers["content-type"] == "application/problem+json"
    assert other.status_code == 200


async def test_a_disabled_users_tokens_are_refused_at_the_gateway_and_by_services() -> None:
    issuer, cache = TokenIssuer(), MemoryCache()
    user, bystander = uuid.uuid4(), uuid.uuid4()
    now = int(time.time())
    old = issuer.token(user, issued_at=now - 5)
    upstream = FakeUpstream()
    gateway = build_gateway({"identity": upstream}, issuer=issuer, cache=cache)
    service = service_app(issuer, cache)
    async with client_for(gateway) as edge, direct(service) as svc:
        auth = {"authorization": f"Bearer {old}"}
        assert (await edge.get("/v1/users/me", headers=auth)).status_code == 200
        assert (await svc.get("/v1/users/me", headers=auth)).status_code == 200
        await mark_user_not_before(cache, user, now, ttl=660)  # what disabling writes
        at_gateway = await edge.get("/v1/users/me", headers=auth)
        at_service = await svc.get("/v1/users/me", headers=auth)
        others = await edge.get("/v1/users/me", headers=issuer.bearer(bystander))
        newer = await svc.get(
            "/v1/users/me",
            headers={"authorization": f"Bearer {issuer.token(user, issued_at=now + 1)}"},
        )
    assert at_gateway.status_code == 401
    assert at_service.status_code == 401
    assert others.status_code == 200
    assert newer.status_code == 200  # only tokens issued before the marker die
    assert upstream.hits == 2  # the refused request never went upstream


async def test_the_gateway_refuses_a_deny_listed_token_before_calling_upstream() -> None:
    issuer, cache = TokenIssuer(), MemoryCache()
    token = issuer.token()
    await cache.set(deny_list_key(jti_of(token)), b"1", ttl=660)
    upstream = FakeUpstream()
    app = build_gateway({"identity": upstream}, issuer=issuer, cache=cache)
    async with client_for(app) as client:
        r = await client.get("/v1/users/me", headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert upstream.hits == 0


async def test_the_signed_header_path_still_works_for_a_service() -> None:
    issuer, cache = TokenIssuer(), MemoryCache()
    principal = Principal(user_id=uuid.uuid4(), roles=frozenset(), token_id="t-1")
    header = PrincipalCodec(SECRET).encode(principal)
    async with direct(service_app(issuer, cache)) as client:
        r = await client.get("/v1/users/me", headers={PRINCIPAL_HEADER: header})
    assert r.status_code == 200
    assert r.json() == {"id": str(principal.user_id)}


async def test_logout_then_a_direct_call_to_identity_with_the_old_token_is_401(
    client: httpx.AsyncClient,
) -> None:
    tokens = await sign_in(client, "6 77 20 30 41", "+237677203041")
    identity_app = client.platform.state.host.runtimes["identity"].app  # type: ignore[attr-defined]
    async with direct(identity_app) as identity:
        before = await identity.get("/v1/users/me", headers=bearer(tokens))
        logout = await client.post("/v1/auth/logout", headers=bearer(tokens))
        at_service = await identity.get("/v1/users/me", headers=bearer(tokens))
    at_gateway = await client.get("/v1/users/me", headers=bearer(tokens))
    assert before.status_code == 200, before.text
    assert logout.status_code == 204, logout.text
    assert at_service.status_code == 401, at_service.text
    assert at_gateway.status_code == 401


async def test_a_disabled_account_is_cut_off_at_the_gateway_and_at_every_service(
    client: httpx.AsyncClient,
) -> None:
    tokens = await sign_in(client, "6 77 20 30 42", "+237677203042")
    me = await client.get("/v1/users/me", headers=bearer(tokens))
    assert me.status_code == 200, me.text
    user_id = uuid.UUID(me.json()["id"])
    runtimes = client.platform.state.host.runtimes  # type: ignore[attr-defined]
    async with direct(runtimes["orders"].app) as orders:
        before = await orders.get("/v1/orders", headers=bearer(tokens))
        operations = Principal(user_id=uuid.uuid4(), roles=frozenset({Role.OPERATIONS}))
        # What POST /v1/admin/users/{id}/disable does: identity writes the user's marker.
        await identity_state(client).admin.disable(operations, user_id, reason="fraud")
        at_orders = await orders.get("/v1/orders", headers=bearer(tokens))
    async with direct(runtimes["identity"].app) as identity:
        at_identity = await identity.get("/v1/users/me", headers=bearer(tokens))
    at_gateway = await client.get("/v1/users/me", headers=bearer(tokens))
    assert before.status_code == 200, before.text
    assert at_orders.status_code == 401, at_orders.text
    assert at_identity.status_code == 401, at_identity.text
    assert at_gateway.status_code == 401, at_gateway.text


async def test_logout_all_cuts_off_every_live_access_token_at_once(
    client: httpx.AsyncClient,
) -> None:
    phone = ("6 77 20 30 43", "+237677203043")
    first = await sign_in(client, *phone)
    out = await client.post("/v1/auth/logout-all", headers=bearer(first))
    assert out.status_code == 204, out.text
    runtimes = client.platform.state.host.runtimes  # type: ignore[attr-defined]
    async with direct(runtimes["orders"].app) as orders:
        at_orders = await orders.get("/v1/orders", headers=bearer(first))
    assert at_orders.status_code == 401, at_orders.text
