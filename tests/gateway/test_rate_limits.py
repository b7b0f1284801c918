"""Edge rate limits: exactness across gateway processes, keys, 429 problems, failure policy."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from okada.infra.ratelimit import (
    MemoryRateLimiter,
    RateLimitDecision,
    RateLimitPolicy,
    RedisRateLimiter,
)
from okada.kernel.errors import Unavailable
from tests.gateway.support import FakeUpstream, TokenIssuer, build_gateway, client_for
from tests.support.services import require_redis

REDIS_URL = "redis://127.0.0.1:6379/0"
HOUR = 3600.0


def reads(limit: int) -> dict[str, RateLimitPolicy]:
    return {"reads": RateLimitPolicy("reads", limit=limit, period_seconds=HOUR)}


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    require_redis()
    prefix = f"test:gw-rl:{uuid.uuid4().hex}:"
    yield prefix
    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def test_two_gateways_sharing_redis_let_exactly_the_limit_through(
    redis_prefix: str,
) -> None:
    upstream = FakeUpstream()
    limiters = [RedisRateLimiter(REDIS_URL, prefix=redis_prefix) for _ in range(2)]
    apps = [
        build_gateway({"identity": upstream}, rate_limiter=limiter, rate_limit_policies=reads(25))
        for limiter in limiters
    ]
    try:
        async with client_for(apps[0]) as first, client_for(apps[1]) as second:
            responses = await asyncio.gather(
                *(
                    (first if i % 2 else second).get("/.well-known/jwks.json")
                    for i in range(200)
                )
            )
    finally:
        for limiter in limiters:
            await limiter.aclose()
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 25
    assert statuses.count(429) == 175
    assert upstream.hits == 25


@pytest.mark.parametrize(
    ("language", "title", "detail"),
    [
        ("fr", "Trop de requêtes", r"Ralentissez et réessayez dans \d+ secondes\."),
        ("en", "Too many requests", r"Slow down and try again in \d+ seconds\."),
    ],
)
async def test_over_the_limit_is_a_429_problem_in_the_callers_language(
    language: str, title: str, detail: str
) -> None:
    upstream = FakeUpstream()
    app = build_gateway({"identity": upstream}, rate_limit_policies=reads(2))
    async with client_for(app) as client:
        headers = {"accept-language": language}
        allowed = [await client.get("/.well-known/jwks.json", headers=headers) for _ in range(2)]
        denied = await client.get("/.well-known/jwks.json", headers=headers)
    assert [r.status_code for r in allowed] == [200, 200]
    # allowed answers tell the client where it stands too
    assert allowed[0].headers["ratelimit-policy"] == '"reads";q=2;w=3600'
    assert allowed[0].headers["ratelimit"] == '"reads";r=1;t=1800'
    assert allowed[1].headers["ratelimit"] == '"reads";r=0;t=3600'
    assert denied.status_code == 429
    assert denied.headers["content-type"] == "application/problem+json"
    assert denied.headers["content-language"] == language
    assert int(denied.headers["retry-after"]) == 1800
    assert denied.headers["ratelimit-policy"] == '"reads";q=2;w=3600'
    assert re.fullmatch(r'"reads";r=0;t=\d+', denied.headers["ratelimit"])
    body = denied.json()
    assert body["code"] == "rate_limited"
    assert body["status"] == 429
    assert body["title"] == title
    assert re.fullmatch(detail, body["detail"])
    assert upstream.hits == 2


async def test_writes_and_reads_have_separate_budgets_and_principals_their_own_key() -> None:
    upstream = FakeUpstream()
    issuer = TokenIssuer()
    policies = {
        **reads(1),
        "writes": RateLimitPolicy("writes", limit=1, period_seconds=HOUR),
    }
    app = build_gateway({"identity": upstream}, issuer=issuer, rate_limit_policies=policies)
    alice, bob = issuer.bearer(uuid.uuid4()), issuer.bearer(uuid.uuid4())
    async with client_for(app) as client:
        read_alice = await client.get("/v1/users/me", headers=alice)
        write_alice = await client.patch("/v1/users/me", headers=alice, json={})
        read_alice_again = await client.get("/v1/users/me", headers=alice)
        read_bob = await client.get("/v1/users/me", headers=bob)
        # anonymous callers are counted by IP, apart from signed-in users on that IP
        read_anonymous = await client.get("/.well-known/jwks.json")
    assert read_alice.status_code == 200
    assert write_alice.status_code == 200
    assert write_alice.headers["ratelimit-policy"].startswith('"writes"')
    assert read_alice_again.status_code == 429
    assert read_bob.status_code == 200
    assert read_anonymous.status_code == 200


async def test_otp_requests_share_one_key_whatever_the_phone_format() -> None:
    identity = FakeUpstream()
    policies = {"otp_phone": RateLimitPolicy("otp_phone", limit=2, period_seconds=HOUR)}
    app = build_gateway({"identity": identity}, rate_limit_policies=policies)
    async with client_for(app) as client:
        formats = ["6 77 12 34 56", "677123456", "+237677123456", "00237 677-12-34-56"]
        results = [
            await client.post("/v1/auth/otp/request", json={"phone": phone}) for phone in formats
        ]
        other = await client.post("/v1/auth/otp/request", json={"phone": "699000001"})
    assert [r.status_code for r in results] == [200, 200, 429, 429]
    assert results[2].headers["ratelimit-policy"].startswith('"otp_phone"')
    assert other.status_code == 200
    assert identity.hits == 3


async def test_otp_requests_are_also_capped_per_ip() -> None:
    identity = FakeUpstream()
    policies = {"otp_ip": RateLimitPolicy("otp_ip", limit=3, period_seconds=HOUR)}
    app = build_gateway({"identity": identity}, rate_limit_policies=policies)
    async with client_for(app) as client:
        results = [
            await client.post("/v1/auth/otp/request", json={"phone": f"69900000{i}"})
            for i in range(5)
        ]
    assert [r.status_code for r in results] == [200, 200, 200, 429, 429]
    assert results[0].headers["ratelimit-policy"].count(";q=") == 2  # phone and IP


class BrokenLimiter:
    """A limiter whose backend is down."""

    async def hit(self, key: str, policy: RateLimitPolicy, cost: int = 1) -> RateLimitDecision:
        raise Unavailable("rate_limiter_unavailable")


async def test_otp_fails_closed_but_reads_and_writes_fail_open_when_the_limiter_is_down() -> None:
    identity = FakeUpstream()
    issuer = TokenIssuer()
    app = build_gateway({"identity": identity}, issuer=issuer, rate_limiter=BrokenLimiter())
    async with client_for(app) as client:
        otp = await client.post(
            "/v1/auth/otp/request", json={"phone": "677123456"}, headers={"accept-language": "en"}
        )
        assert identity.hits == 0  # no SMS can be sent without a working limiter
        read = await client.get("/.well-known/jwks.json")
        write = await client.patch("/v1/users/me", headers=issuer.bearer(), json={})
    assert otp.status_code == 503
    assert otp.json()["code"] == "rate_limiter_unavailable"
    assert otp.json()["title"] == "Temporarily unavailable"
    assert int(otp.headers["retry-after"]) > 0
    assert read.status_code == 200
    assert write.status_code == 200
    assert "ratelimit" not in read.headers
    assert identity.hits == 2


async def test_otp_fails_closed_when_redis_is_unreachable() -> None:
    identity = FakeUpstream()
    # nothing listens on port 1: every hit fails to connect
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", socket_timeout=0.2)
    app = build_gateway({"identity": identity}, rate_limiter=limiter)
    try:
        async with client_for(app) as client:
            otp = await client.post("/v1/auth/otp/request", json={"phone": "677123456"})
            read = await client.get("/.well-known/jwks.json")
    finally:
        await limiter.aclose()
    assert otp.status_code == 503
    assert read.status_code == 200
    assert identity.hits == 1


async def test_simulators_are_not_rate_limited() -> None:
    simulators = FakeUpstream()
    app = build_gateway(
        {"simulators": simulators},
        rate_limit_policies=reads(1),
        rate_limiter=MemoryRateLimiter(),
    )
    async with client_for(app) as client:
        results = [await client.get("/_sim/sms/messages") for _ in range(3)]
    assert [r.status_code for r in results] == [200, 200, 200]
