"""Distributed edge: the rate limit and the revocation reads share one Redis round trip."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from okada.infra.cache.redis import RedisCache
from okada.infra.ratelimit import RateLimitPolicy, RedisRateLimiter
from okada.infra.security.revocation import deny_list_key, mark_user_not_before
from tests.gateway.support import FakeUpstream, TokenIssuer, build_gateway, client_for
from tests.support.services import require_redis

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    require_redis()
    value = f"test:gw-one-rtt:{uuid.uuid4().hex}:"
    yield value
    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=value + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def test_revoked_tokens_are_refused_through_the_combined_call(prefix: str) -> None:
    issuer = TokenIssuer()
    cache = RedisCache(REDIS_URL, prefix=prefix)
    limiter = RedisRateLimiter(REDIS_URL, prefix=prefix + "rl:")
    upstream = FakeUpstream()
    app = build_gateway({"identity": upstream}, issuer=issuer, cache=cache, rate_limiter=limiter)
    assert app.state.limits._together is not None  # one EVALSHA per request
    user, logged_out_jti = uuid.uuid4(), uuid.uuid4().hex
    now = int(time.time())
    good = issuer.token(user, issued_at=now)
    logged_out = issuer.token(uuid.uuid4(), jti=logged_out_jti)
    before_disable = issuer.token(user, issued_at=now - 10)
    try:
        await cache.set(deny_list_key(logged_out_jti), b"1", ttl=60)
        await mark_user_not_before(cache, user, now - 5, ttl=60)
        async with client_for(app) as client:
            ok = await client.get("/v1/users/me", headers={"authorization": f"Bearer {good}"})
            out = await client.get(
                "/v1/users/me", headers={"authorization": f"Bearer {logged_out}"}
            )
            old = await client.get(
                "/v1/users/me", headers={"authorization": f"Bearer {before_disable}"}
            )
    finally:
        await limiter.aclose()
        await cache.aclose()
    assert ok.status_code == 200
    assert ok.headers["ratelimit-policy"].startswith('"reads"')
    assert out.status_code == 401
    assert old.status_code == 401
    assert upstream.hits == 1


async def test_combined_and_plain_gateways_share_one_exact_limit(prefix: str) -> None:
    issuer = TokenIssuer()
    upstream = FakeUpstream()
    policies = {"reads": RateLimitPolicy("reads", limit=25, period_seconds=3600)}
    combined_cache = RedisCache(REDIS_URL, prefix=prefix)
    limiters = [RedisRateLimiter(REDIS_URL, prefix=prefix + "rl:") for _ in range(2)]
    combined = build_gateway({"identity": upstream}, issuer=issuer, cache=combined_cache,
                             rate_limiter=limiters[0], rate_limit_policies=policies)
    plain = build_gateway({"identity": upstream}, issuer=issuer,
                          rate_limiter=limiters[1], rate_limit_policies=policies)
    assert combined.state.limits._together is not None
    assert plain.state.limits._together is None
    bearer = issuer.bearer(uuid.uuid4())
    try:
        async with client_for(combined) as first, client_for(plain) as second:
            responses = await asyncio.gather(
                *((first if i % 2 else second).get("/v1/users/me", headers=bearer)
                  for i in range(120))
            )
    finally:
        for limiter in limiters:
            await limiter.aclose()
        await combined_cache.aclose()
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 25
    assert statuses.count(429) == 95
    assert upstream.hits == 25
