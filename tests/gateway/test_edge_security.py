"""Edge hygiene: spoofed internal headers, principal signing, routing, CORS, docs."""

from __future__ import annotations

import uuid

import httpx

from okada.infra.security.internal import PrincipalCodec
from tests.gateway.support import (
    CLIENT_IP,
    SECRET,
    FakeUpstream,
    TokenIssuer,
    build_gateway,
    client_for,
)

SPOOFED = {
    "x-okada-principal": "eyJzdWIiOiJhZG1pbiJ9.deadbeef",
    "x-okada-internal": "1",
    "x-forwarded-for": "10.0.0.1",
    "x-real-ip": "10.0.0.2",
    "forwarded": "for=10.0.0.3",
    "x-forwarded-host": "internal.okada",
}


async def test_spoofed_internal_headers_never_reach_the_upstream() -> None:
    identity = FakeUpstream()
    app = build_gateway({"identity": identity})
    async with client_for(app) as client:
        r = await client.get("/.well-known/jwks.json", headers=SPOOFED)
    assert r.status_code == 200
    seen = identity.seen[0]
    assert seen.header("x-okada-principal") == []
    assert seen.header("x-okada-internal") == []
    assert seen.header("x-real-ip") == []
    assert seen.header("forwarded") == []
    assert seen.header("x-forwarded-host") == []
    # the client address is the one the gateway saw, set once
    assert seen.header("x-forwarded-for") == [CLIENT_IP]


async def test_authenticated_call_carries_only_the_gateways_signed_principal() -> None:
    identity = FakeUpstream()
    issuer = TokenIssuer()
    app = build_gateway({"identity": identity}, issuer=issuer)
    user = uuid.uuid4()
    async with client_for(app) as client:
        r = await client.get("/v1/users/me", headers={**SPOOFED, **issuer.bearer(user)})
    assert r.status_code == 200
    [header] = identity.seen[0].header("x-okada-principal")
    principal = PrincipalCodec(SECRET).decode(header)
    assert principal is not None
    assert principal.user_id == user
    assert identity.seen[0].header("x-okada-internal") == []


async def test_protected_route_without_token_is_401_and_never_forwarded() -> None:
    identity = FakeUpstream()
    app = build_gateway({"identity": identity})
    async with client_for(app) as client:
        r = await client.get("/v1/users/me", headers={"accept-language": "en"})
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert identity.hits == 0


async def test_route_of_a_service_not_hosted_is_404_problem() -> None:
    app = build_gateway({}, hosted=[])
    async with client_for(app) as client:
        r = await client.get("/v1/catalog/categories", headers={"accept-language": "en"})
        unknown = await client.get("/nowhere")
    assert r.status_code == 404
    assert r.json()["code"] == "route_not_found"
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "route_not_found"


async def test_request_id_and_security_headers_are_set_once() -> None:
    identity = FakeUpstream()
    app = build_gateway({"identity": identity})
    async with client_for(app) as client:
        r = await client.get(
            "/.well-known/jwks.json", headers={"x-request-id": "req-123456789"}
        )
    assert r.headers.get_list("x-request-id") == ["req-123456789"]
    assert len(r.headers.get_list("traceparent")) == 1
    assert r.headers["x-content-type-options"] == "nosniff"
    assert identity.seen[0].header("x-request-id") == ["req-123456789"]


async def test_oversized_body_is_413() -> None:
    identity = FakeUpstream()
    app = build_gateway({"identity": identity}, max_body_bytes=1000)
    async with client_for(app) as client:
        r = await client.post("/v1/auth/otp/verify", content=b"x" * 5000)
    assert r.status_code == 413
    assert identity.hits == 0


async def test_cors_allows_listed_origins_only_and_never_a_wildcard_with_credentials() -> None:
    app = build_gateway({"identity": FakeUpstream()}, cors_origins=["https://admin.okada.cm"])
    preflight = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, idempotency-key",
    }
    async with client_for(app) as client:
        ok = await client.options(
            "/v1/users/me", headers={"origin": "https://admin.okada.cm", **preflight}
        )
        evil = await client.options(
            "/v1/users/me", headers={"origin": "https://evil.example", **preflight}
        )
        simple = await client.get(
            "/.well-known/jwks.json", headers={"origin": "https://admin.okada.cm"}
        )
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://admin.okada.cm"
    assert ok.headers["access-control-allow-credentials"] == "true"
    assert "access-control-allow-origin" not in evil.headers
    assert simple.headers["access-control-allow-origin"] == "https://admin.okada.cm"
    assert "ratelimit" in simple.headers["access-control-expose-headers"].lower()

    wildcard = build_gateway({"identity": FakeUpstream()}, cors_origins=["*"])
    async with client_for(wildcard) as client:
        r = await client.get("/.well-known/jwks.json", headers={"origin": "https://x.example"})
    assert r.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in r.headers


async def test_merged_openapi_documents_the_home_aggregate(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    assert "/v1/app/home" in doc["paths"]
    assert "/v1/auth/otp/request" in doc["paths"]
    assert "HomeRead" in doc["components"]["schemas"]


async def test_a_cookie_set_by_an_upstream_never_reaches_another_caller() -> None:
    identity = FakeUpstream()
    app = build_gateway({"identity": identity})
    async with client_for(app) as alice:
        identity.default.headers = [("set-cookie", "session=alice-secret; Path=/")]
        first = await alice.get("/.well-known/jwks.json")
        identity.default.headers = []
        alice.cookies.clear()  # the next caller is someone else, with no cookies of their own
        await alice.get("/.well-known/jwks.json")
    assert first.headers["set-cookie"].startswith("session=alice-secret")  # relayed to its owner
    assert identity.seen[1].header("cookie") == []
