"""The money rate class: placing or cancelling orders and starting payments, per principal."""

from __future__ import annotations

import re
import uuid

import pytest

from okada.gateway.ratelimiting import MONEY_POLICY
from okada.gateway.routes import CALLBACK, MONEY, match_route
from okada.infra.ratelimit import RateLimitPolicy
from tests.gateway.support import FakeUpstream, TokenIssuer, build_gateway, client_for


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/v1/orders", MONEY),
        ("POST", "/v1/orders/0192f000-0000-7000-8000-000000000001/cancel", MONEY),
        ("GET", "/v1/orders/0192f000-0000-7000-8000-000000000001", "api"),
        ("POST", "/v1/orders/0192f000-0000-7000-8000-000000000001/rating", "api"),
        ("POST", "/v1/payments", MONEY),
        ("POST", "/v1/payments/mtn-momo", MONEY),
        ("GET", "/v1/payments/0192f000-0000-7000-8000-000000000001", "api"),
        ("POST", "/v1/payments/callbacks/mtn", CALLBACK),
        ("POST", "/v1/users/me/places", "api"),
    ],
)
def test_which_requests_are_money(method: str, path: str, expected: str) -> None:
    route = match_route(path)
    assert route is not None
    assert route.rate_class(method, path) == expected


def test_money_is_stricter_than_ordinary_writes() -> None:
    from okada.infra.ratelimit import WRITES

    assert MONEY_POLICY.limit / MONEY_POLICY.period_seconds < WRITES.limit / WRITES.period_seconds
    assert MONEY_POLICY.capacity == 10


async def test_an_eleventh_order_in_a_burst_is_a_429_with_retry_after_and_ratelimit() -> None:
    orders, identity = FakeUpstream(), FakeUpstream()
    issuer = TokenIssuer()
    app = build_gateway({"orders": orders, "identity": identity}, issuer=issuer)
    alice, bob = issuer.bearer(uuid.uuid4()), issuer.bearer(uuid.uuid4())
    async with client_for(app) as client:
        placed = [await client.post("/v1/orders", json={}, headers=alice) for _ in range(5)]
        cancelled = [
            await client.post(f"/v1/orders/{uuid.uuid4()}/cancel", headers=alice)
            for _ in range(5)
        ]
        english = {**alice, "accept-language": "en"}
        denied = await client.post("/v1/orders", json={}, headers=english)
        ordinary_write = await client.post("/v1/users/me/places", json={}, headers=alice)
        read = await client.get(f"/v1/orders/{uuid.uuid4()}", headers=alice)
        bobs = await client.post("/v1/orders", json={}, headers=bob)
    assert [r.status_code for r in placed + cancelled] == [200] * 10
    assert placed[0].headers["ratelimit-policy"] == '"money";q=30;w=60'
    assert placed[0].headers["ratelimit"].startswith('"money";r=9;')
    assert denied.status_code == 429
    assert denied.headers["content-type"] == "application/problem+json"
    assert denied.json()["code"] == "rate_limited"
    assert int(denied.headers["retry-after"]) == 2  # one emission interval: 60 s / 30
    assert denied.headers["ratelimit-policy"] == '"money";q=30;w=60'
    assert re.fullmatch(r'"money";r=0;t=\d+', denied.headers["ratelimit"])
    assert orders.hits == 12  # ten of alice's, her read and bob's order; not the refused one
    assert ordinary_write.status_code == 200
    assert ordinary_write.headers["ratelimit-policy"].startswith('"writes"')
    assert read.status_code == 200
    assert read.headers["ratelimit-policy"].startswith('"reads"')
    assert bobs.status_code == 200  # per principal


async def test_benchmarks_can_raise_the_money_limit() -> None:
    orders = FakeUpstream()
    issuer = TokenIssuer()
    big = {"money": RateLimitPolicy("money", limit=1_000_000, period_seconds=1)}
    app = build_gateway({"orders": orders}, issuer=issuer, rate_limit_policies=big)
    alice = issuer.bearer(uuid.uuid4())
    async with client_for(app) as client:
        results = [await client.post("/v1/orders", json={}, headers=alice) for _ in range(15)]
    assert [r.status_code for r in results] == [200] * 15
    assert app.state.limits.policies["money"].limit == 1_000_000
