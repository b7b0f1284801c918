"""Upstream failures: breaker, deadline, concurrency bound, retries of idempotent requests."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from okada.gateway import routes
from okada.gateway.resilience import (
    Admission,
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    UpstreamPolicy,
)
from okada.gateway.routes import Route
from tests.gateway.support import (
    FakeUpstream,
    Reply,
    Seen,
    TokenIssuer,
    build_gateway,
    client_for,
)

NO_BREAKER = BreakerPolicy(consecutive_failures=1000, min_calls=1000)


def state(breaker: CircuitBreaker) -> BreakerState:
    return breaker.state  # a call, so the type checker does not narrow across transitions


async def test_breaker_opens_fails_fast_and_a_half_open_probe_closes_it() -> None:
    identity = FakeUpstream()
    identity.default = Reply(status=503, body={"code": "unavailable"})
    policy = UpstreamPolicy(
        max_retries=0, breaker=BreakerPolicy(consecutive_failures=3, open_seconds=0.3)
    )
    app = build_gateway({"identity": identity}, upstream_policy=policy)
    async with client_for(app) as client:
        failing = [await client.get("/.well-known/jwks.json") for _ in range(3)]
        assert identity.hits == 3
        started = time.perf_counter()
        fast = await client.get("/.well-known/jwks.json", headers={"accept-language": "en"})
        elapsed = time.perf_counter() - started
        assert identity.hits == 3  # open: the upstream is left alone
        identity.default = Reply()  # the service recovers
        await asyncio.sleep(0.35)
        probe = await client.get("/.well-known/jwks.json")
        after = await client.get("/.well-known/jwks.json")
    assert [r.status_code for r in failing] == [503, 503, 503]
    assert fast.status_code == 503
    assert elapsed < 0.05, elapsed
    assert fast.json()["code"] == "unavailable"
    assert fast.headers["content-type"] == "application/problem+json"
    assert int(fast.headers["retry-after"]) >= 1
    assert probe.status_code == 200
    assert after.status_code == 200
    assert identity.hits == 5


async def test_a_failed_probe_opens_the_breaker_again() -> None:
    now = [0.0]
    breaker = CircuitBreaker(
        "x", BreakerPolicy(consecutive_failures=2, open_seconds=5), clock=lambda: now[0]
    )
    for _ in range(2):
        admission = breaker.acquire()
        breaker.record(admission, False)
    assert state(breaker) is BreakerState.OPEN
    assert breaker.acquire() is Admission.REJECTED
    assert breaker.retry_after() == 5
    now[0] = 5.0
    probe = breaker.acquire()
    assert probe is Admission.PROBE
    assert breaker.acquire() is Admission.REJECTED  # one probe at a time
    breaker.record(probe, False)
    assert state(breaker) is BreakerState.OPEN
    now[0] = 10.0
    probe = breaker.acquire()
    breaker.record(probe, True)
    assert state(breaker) is BreakerState.CLOSED


def test_breaker_opens_on_failure_ratio_and_ignores_late_outcomes() -> None:
    breaker = CircuitBreaker(
        "x", BreakerPolicy(consecutive_failures=100, failure_ratio=0.5, window=10, min_calls=10)
    )
    late = breaker.acquire()
    for i in range(10):
        admission = breaker.acquire()
        breaker.record(admission, i % 2 == 0)  # every other call fails
    assert state(breaker) is BreakerState.OPEN
    breaker.record(late, True)  # admitted while closed, finished while open: no effect
    assert state(breaker) is BreakerState.OPEN


async def test_an_upstream_slower_than_its_timeout_is_a_504_within_the_timeout() -> None:
    identity = FakeUpstream()
    identity.default = Reply(delay=5.0)
    app = build_gateway(
        {"identity": identity}, upstream_policies={"identity": UpstreamPolicy(timeout=0.3)}
    )
    async with client_for(app) as client:
        started = time.perf_counter()
        r = await client.get("/.well-known/jwks.json", headers={"accept-language": "en"})
        elapsed = time.perf_counter() - started
    assert r.status_code == 504
    assert r.json()["code"] == "upstream_timeout"
    assert 0.3 <= elapsed < 0.5, elapsed


async def test_an_unreachable_upstream_is_a_quick_503() -> None:
    identity = FakeUpstream()
    identity.connect_error = True
    app = build_gateway({"identity": identity})
    async with client_for(app) as client:
        started = time.perf_counter()
        r = await client.get("/.well-known/jwks.json")
        elapsed = time.perf_counter() - started
    assert r.status_code == 503
    assert r.json()["code"] == "unavailable"
    assert "retry-after" in r.headers
    assert identity.hits == 3  # idempotent GET: first attempt and two retries
    assert elapsed < 0.5, elapsed


async def test_requests_over_the_concurrency_bound_get_a_quick_503() -> None:
    identity = FakeUpstream()
    identity.default = Reply(delay=0.5)
    policy = UpstreamPolicy(max_concurrent=2, queue_timeout=0.05)
    app = build_gateway({"identity": identity}, upstream_policies={"identity": policy})
    async with client_for(app) as client:

        async def timed() -> tuple[int, float, str]:
            started = time.perf_counter()
            r = await client.get("/.well-known/jwks.json", headers={"accept-language": "fr"})
            code = r.json().get("code", "") if r.status_code != 200 else ""
            return r.status_code, time.perf_counter() - started, code

        results = await asyncio.gather(*(timed() for _ in range(5)))
    statuses = sorted(s for s, _, _ in results)
    assert statuses == [200, 200, 503, 503, 503]
    rejected = [(elapsed, code) for status, elapsed, code in results if status == 503]
    assert all(elapsed < 0.2 for elapsed, _ in rejected), rejected
    assert {code for _, code in rejected} == {"upstream_overloaded"}
    assert identity.hits == 2


async def test_only_idempotent_requests_are_retried_on_502_and_503() -> None:
    identity = FakeUpstream()
    issuer = TokenIssuer()
    identity.default = Reply(status=502, body={"code": "bad_gateway"})
    app = build_gateway(
        {"identity": identity},
        issuer=issuer,
        upstream_policy=UpstreamPolicy(breaker=NO_BREAKER, backoff_base=0.01),
    )
    async with client_for(app) as client:
        get = await client.get("/.well-known/jwks.json")
        after_get = identity.hits
        post = await client.post("/v1/auth/logout", headers=issuer.bearer(), json={})
        after_post = identity.hits
        keyed = await client.post(
            "/v1/auth/logout", headers={**issuer.bearer(), "idempotency-key": "k-1"}, json={}
        )
    assert get.status_code == post.status_code == keyed.status_code == 502
    assert after_get == 3  # GET: 1 + 2 retries
    assert after_post - after_get == 1  # POST without a key: never sent twice
    assert identity.hits - after_post == 3  # POST with an Idempotency-Key: retried


async def test_a_retry_that_succeeds_hides_the_blip() -> None:
    calls = {"n": 0}

    def flaky(_seen: Seen) -> Reply:
        calls["n"] += 1
        return Reply(status=503) if calls["n"] == 1 else Reply()

    identity = FakeUpstream(flaky)
    app = build_gateway({"identity": identity})
    async with client_for(app) as client:
        r = await client.get("/.well-known/jwks.json")
    assert r.status_code == 200
    assert identity.hits == 2


async def test_each_route_can_have_its_own_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = Route("/v1/slow/", "identity", ((("GET", re.compile(r"/v1/slow/.*"))),), timeout=0.2)
    monkeypatch.setattr(routes, "ROUTES", (*routes.ROUTES, slow))
    identity = FakeUpstream()
    identity.default = Reply(delay=2.0)
    app = build_gateway({"identity": identity})
    async with client_for(app) as client:
        started = time.perf_counter()
        r = await client.get("/v1/slow/thing")
        elapsed = time.perf_counter() - started
    assert r.status_code == 504
    assert elapsed < 0.4, elapsed
