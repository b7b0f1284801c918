"""One contract for every RateLimiter adapter, plus the exactness and header guarantees."""

from __future__ import annotations

import asyncio
import re
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Awaitable

import pytest

from okada.infra.cache.redis import make_client
from okada.infra.ratelimit import (
    DEFAULT_POLICIES,
    OTP_REQUEST_PER_IP,
    OTP_REQUEST_PER_PHONE,
    ROUTE_CLASS_POLICIES,
    MemoryRateLimiter,
    RateLimitDecision,
    RateLimiter,
    RateLimitPolicy,
    RedisRateLimiter,
    rate_limit_headers,
)
from okada.kernel.errors import Unavailable
from tests.support.services import require_redis

REDIS_URL = "redis://127.0.0.1:6379/0"

POLICY_HEADER = re.compile(r'^"(?P<name>[^"]+)";q=(?P<q>\d+);w=(?P<w>\d+)$')
STATE_HEADER = re.compile(r'^"(?P<name>[^"]+)";r=(?P<r>\d+);t=(?P<t>\d+)$')


async def _purge(prefix: str) -> None:
    client = make_client(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    require_redis()
    prefix = f"test:rl:{uuid.uuid4().hex}:"
    yield prefix
    await _purge(prefix)


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        yield MemoryRateLimiter()
        return
    require_redis()
    prefix = f"test:rl:{uuid.uuid4().hex}:"
    redis_limiter = RedisRateLimiter(REDIS_URL, prefix=prefix)
    try:
        yield redis_limiter
    finally:
        await redis_limiter.aclose()
        await _purge(prefix)


async def _burst(limiter: RateLimiter, key: str, policy: RateLimitPolicy, n: int) -> list[bool]:
    return [(await limiter.hit(key, policy)).allowed for _ in range(n)]


# --- sequential behaviour -------------------------------------------------------------------------


async def test_exactly_burst_requests_pass(limiter: RateLimiter) -> None:
    policy = RateLimitPolicy("burst", limit=10, period_seconds=60)
    decisions = [await limiter.hit("user-1", policy) for _ in range(12)]
    assert [d.allowed for d in decisions] == [True] * 10 + [False] * 2
    assert [d.remaining for d in decisions[:10]] == list(range(9, -1, -1))
    assert all(d.limit == 10 for d in decisions)
    assert all(d.retry_after == 0 for d in decisions[:10])


async def test_explicit_burst_smaller_than_limit(limiter: RateLimiter) -> None:
    policy = RateLimitPolicy("small-burst", limit=100, period_seconds=60, burst=3)
    assert await _burst(limiter, "k", policy, 5) == [True, True, True, False, False]


async def test_keys_and_policies_are_independent(limiter: RateLimiter) -> None:
    policy = RateLimitPolicy("iso", limit=2, period_seconds=60)
    other = RateLimitPolicy("iso-other", limit=2, period_seconds=60)
    assert await _burst(limiter, "a", policy, 3) == [True, True, False]
    assert await _burst(limiter, "b", policy, 2) == [True, True]
    assert await _burst(limiter, "a", other, 2) == [True, True]


async def test_refills_one_request_per_emission_interval(limiter: RateLimiter) -> None:
    # 5 per 2.5 s: one request comes back every 0.5 s.
    policy = RateLimitPolicy("refill", limit=5, period_seconds=2.5)
    assert await _burst(limiter, "k", policy, 5) == [True] * 5
    denied = await limiter.hit("k", policy)
    assert not denied.allowed
    assert 0 < denied.retry_after <= 0.5
    await asyncio.sleep(denied.retry_after + 0.05)
    assert (await limiter.hit("k", policy)).allowed
    assert not (await limiter.hit("k", policy)).allowed


async def test_denied_decision_reports_when_to_retry(limiter: RateLimiter) -> None:
    policy = RateLimitPolicy("retry", limit=10, period_seconds=60)  # one back every 6 s
    await _burst(limiter, "k", policy, 10)
    denied = await limiter.hit("k", policy)
    assert not denied.allowed
    assert denied.remaining == 0
    assert 5.0 < denied.retry_after <= 6.0
    assert 59.0 < denied.reset_after <= 60.0
    # A denied hit is free: the next one is told (about) the same wait.
    again = await limiter.hit("k", policy)
    assert again.retry_after == pytest.approx(denied.retry_after, abs=0.5)


async def test_reset_after_tracks_the_fill_level(limiter: RateLimiter) -> None:
    policy = RateLimitPolicy("reset", limit=10, period_seconds=60)
    first = await limiter.hit("k", policy)
    assert 5.0 < first.reset_after <= 6.0
    for _ in range(4):
        last = await limiter.hit("k", policy)
    assert 29.0 < last.reset_after <= 30.0


async def test_cost_charges_several_units(limiter: RateLimiter) -> None:
    policy = RateLimitPolicy("cost", limit=5, period_seconds=60)
    first = await limiter.hit("k", policy, cost=3)
    assert first.allowed and first.remaining == 2
    too_much = await limiter.hit("k", policy, cost=3)
    assert not too_much.allowed
    assert too_much.remaining == 2
    assert too_much.retry_after > 0
    assert (await limiter.hit("k", policy, cost=2)).allowed


async def test_cost_zero_inspects_without_charging(limiter: RateLimiter) -> None:
    policy = RateLimitPolicy("peek", limit=3, period_seconds=60)
    peek = await limiter.hit("k", policy, cost=0)
    assert peek.allowed and peek.remaining == 3
    await limiter.hit("k", policy)
    assert (await limiter.hit("k", policy, cost=0)).remaining == 2
    assert (await limiter.hit("k", policy, cost=0)).remaining == 2


async def test_impossible_cost_is_a_programming_error(limiter: RateLimiter) -> None:
    policy = RateLimitPolicy("huge", limit=5, period_seconds=60)
    with pytest.raises(ValueError, match="exceeds the burst"):
        await limiter.hit("k", policy, cost=6)
    with pytest.raises(ValueError):
        await limiter.hit("k", policy, cost=-1)


async def test_headers_from_real_decisions(limiter: RateLimiter) -> None:
    policy = RateLimitPolicy("hdr", limit=2, period_seconds=30)
    allowed = rate_limit_headers(policy, await limiter.hit("k", policy))
    assert set(allowed) == {"RateLimit-Policy", "RateLimit"}
    assert POLICY_HEADER.match(allowed["RateLimit-Policy"])
    state = STATE_HEADER.match(allowed["RateLimit"])
    assert state and state["name"] == "hdr" and state["r"] == "1" and state["t"] == "15"
    await limiter.hit("k", policy)
    denied = rate_limit_headers(policy, await limiter.hit("k", policy))
    assert denied["RateLimit-Policy"] == '"hdr";q=2;w=30'
    state = STATE_HEADER.match(denied["RateLimit"])
    assert state and state["r"] == "0" and state["t"] == "30"
    assert denied["Retry-After"] == "15"


# --- exactness under concurrency ------------------------------------------------------------------


async def test_exact_under_concurrency(limiter: RateLimiter) -> None:
    policy = RateLimitPolicy("conc", limit=37, period_seconds=3600)
    results = await asyncio.gather(*(limiter.hit("hot", policy) for _ in range(200)))
    assert sum(r.allowed for r in results) == 37


async def test_two_redis_limiters_share_one_limit(redis_prefix: str) -> None:
    # Two gateway processes in miniature: separate limiter objects, separate clients and pools.
    own_client = make_client(REDIS_URL)
    first = RedisRateLimiter(REDIS_URL, prefix=redis_prefix)
    second = RedisRateLimiter(own_client, prefix=redis_prefix)
    policy = RateLimitPolicy("shared", limit=37, period_seconds=3600)
    try:
        hits: list[Awaitable[RateLimitDecision]] = []
        for _ in range(100):
            hits += [first.hit("hot", policy), second.hit("hot", policy)]
        results = await asyncio.gather(*hits)
        assert sum(r.allowed for r in results) == 37
    finally:
        await first.aclose()
        await second.aclose()
        # A limiter given a client leaves it open for its owner.
        assert await own_client.ping()
        await own_client.aclose()


_WORKER = textwrap.dedent(
    """
    import asyncio, sys, time

    from okada.infra.ratelimit import RateLimitPolicy, RedisRateLimiter


    async def main() -> None:
        url, prefix, start_at = sys.argv[1], sys.argv[2], float(sys.argv[3])
        limiter = RedisRateLimiter(url, prefix=prefix)
        policy = RateLimitPolicy("multiprocess", limit=50, period_seconds=3600)
        # Open the pooled connections and load the script before the start, so that both
        # processes really race instead of the faster starter taking the whole quota.
        await asyncio.gather(*(limiter.hit(f"warm-up-{i}", policy) for i in range(50)))
        await asyncio.sleep(max(0.0, start_at - time.time() - 0.05))
        while time.time() < start_at:  # spin: asyncio.sleep alone drifts by milliseconds
            pass
        results = await asyncio.gather(*(limiter.hit("hot", policy) for _ in range(100)))
        await limiter.aclose()
        print(sum(r.allowed for r in results))


    asyncio.run(main())
    """
)


async def test_two_os_processes_share_one_limit(redis_prefix: str) -> None:
    start_at = time.time() + 3.0  # both workers fire at the same wall-clock moment
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _WORKER,
            REDIS_URL,
            redis_prefix,
            str(start_at),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 60)
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
    allowed = [int(out.decode().strip()) for out, _ in outputs]
    assert sum(allowed) == 50, allowed


# --- adapter specifics ----------------------------------------------------------------------------


async def test_memory_limiter_with_injected_clock() -> None:
    now = [1000.0]
    limiter = MemoryRateLimiter(clock=lambda: now[0])
    policy = RateLimitPolicy("clock", limit=10, period_seconds=60)  # one every 6 s
    assert await _burst(limiter, "k", policy, 10) == [True] * 10
    denied = await limiter.hit("k", policy)
    assert denied == RateLimitDecision(
        allowed=False, limit=10, remaining=0, reset_after=60.0, retry_after=6.0
    )
    now[0] += 5.999
    assert not (await limiter.hit("k", policy)).allowed
    now[0] += 0.001
    assert (await limiter.hit("k", policy)).allowed
    now[0] += 60
    full = await limiter.hit("k", policy)
    assert full.allowed and full.remaining == 9


async def test_memory_limiter_forgets_idle_keys() -> None:
    now = [0.0]
    limiter = MemoryRateLimiter(clock=lambda: now[0], sweep_every=10)
    policy = RateLimitPolicy("sweep", limit=1, period_seconds=1)
    for i in range(9):
        await limiter.hit(f"k{i}", policy)
    now[0] += 2
    await limiter.hit("last", policy)  # the 10th hit sweeps
    assert list(limiter._tats) == ["sweep:last"]


async def test_redis_key_expires_once_the_bucket_is_full(redis_prefix: str) -> None:
    limiter = RedisRateLimiter(REDIS_URL, prefix=redis_prefix)
    client = make_client(REDIS_URL)
    policy = RateLimitPolicy("ttl", limit=2, period_seconds=0.4)  # one every 0.2 s
    try:
        decision = await limiter.hit("k", policy)
        pttl = await client.pttl(f"{redis_prefix}ttl:k")
        assert 0 < pttl <= decision.reset_after * 1000 + 1
        await asyncio.sleep(0.3)
        assert await client.exists(f"{redis_prefix}ttl:k") == 0
    finally:
        await limiter.aclose()
        await client.aclose()


async def test_redis_down_raises_unavailable() -> None:
    # Port 1 never runs Redis: the limiter must say so instead of allowing or denying.
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", socket_timeout=0.5)
    try:
        started = time.monotonic()
        with pytest.raises(Unavailable) as caught:
            await limiter.hit("k", OTP_REQUEST_PER_PHONE)
        assert caught.value.code == "rate_limiter_unavailable"
        assert time.monotonic() - started < 3.0
    finally:
        await limiter.aclose()


async def test_redis_script_survives_script_flush(redis_prefix: str) -> None:
    limiter = RedisRateLimiter(REDIS_URL, prefix=redis_prefix)
    client = make_client(REDIS_URL)
    policy = RateLimitPolicy("flush", limit=3, period_seconds=60)
    try:
        assert (await limiter.hit("k", policy)).allowed
        await client.script_flush()  # e.g. a Redis restart: EVALSHA gets NOSCRIPT
        assert (await limiter.hit("k", policy)).remaining == 1
    finally:
        await limiter.aclose()
        await client.aclose()


# --- headers and policies (pure) ------------------------------------------------------------------


def test_headers_when_allowed() -> None:
    policy = RateLimitPolicy("reads", limit=600, period_seconds=60)
    decision = RateLimitDecision(
        allowed=True, limit=600, remaining=599, reset_after=0.1, retry_after=0
    )
    assert rate_limit_headers(policy, decision) == {
        "RateLimit-Policy": '"reads";q=600;w=60',
        "RateLimit": '"reads";r=599;t=1',
    }


@pytest.mark.parametrize(
    ("retry_after", "header"), [(0.2, "1"), (6.0, "6"), (5.0001, "6"), (0.0, "1")]
)
def test_retry_after_is_whole_seconds_rounded_up(retry_after: float, header: str) -> None:
    policy = RateLimitPolicy("otp", limit=5, period_seconds=3600)
    decision = RateLimitDecision(
        allowed=False, limit=5, remaining=0, reset_after=3600, retry_after=retry_after
    )
    headers = rate_limit_headers(policy, decision)
    assert headers["Retry-After"] == header
    assert headers["RateLimit"] == '"otp";r=0;t=3600'


def test_header_policy_name_is_a_structured_field_string() -> None:
    decision = RateLimitDecision(allowed=True, limit=1, remaining=0, reset_after=1, retry_after=0)
    quoted = RateLimitPolicy('a"b\\c', limit=1, period_seconds=0.5)
    assert rate_limit_headers(quoted, decision)["RateLimit-Policy"] == '"a\\"b\\\\c";q=1;w=1'
    with pytest.raises(ValueError):
        rate_limit_headers(RateLimitPolicy("café", limit=1, period_seconds=1), decision)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "", "limit": 1, "period_seconds": 1},
        {"name": "x", "limit": 0, "period_seconds": 1},
        {"name": "x", "limit": 1, "period_seconds": 0},
        {"name": "x", "limit": 1, "period_seconds": 1, "burst": 0},
    ],
)
def test_invalid_policies_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RateLimitPolicy(**kwargs)  # type: ignore[arg-type]


def test_default_policies() -> None:
    assert OTP_REQUEST_PER_PHONE.limit == 5 and OTP_REQUEST_PER_PHONE.period_seconds == 3600
    assert OTP_REQUEST_PER_IP.limit == 20 and OTP_REQUEST_PER_IP.period_seconds == 3600
    assert set(DEFAULT_POLICIES) == {"otp_phone", "otp_ip", "writes", "reads", "callbacks"}
    assert set(ROUTE_CLASS_POLICIES) == {"otp_request", "write", "read", "callback"}
    per_minute = {name: p.limit * 60 / p.period_seconds for name, p in DEFAULT_POLICIES.items()}
    assert per_minute["reads"] > per_minute["writes"] > per_minute["otp_ip"]
    assert per_minute["callbacks"] > per_minute["writes"]
