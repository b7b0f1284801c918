"""Operators set the edge's rate limits from configuration (``GATEWAY_RATE_LIMITS``)."""

from __future__ import annotations

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import ValidationError

from okada.gateway.settings import GatewaySettings, parse_limit
from okada.infra.bus.policy import FAST_TEST_POLICY
from okada.infra.settings import Mode, PlatformSettings
from okada.runtime.embedded import create_embedded_app


def test_limits_are_read_as_limit_period_and_optional_burst() -> None:
    hourly = parse_limit("otp_ip", "200/3600")
    assert (hourly.name, hourly.limit, hourly.period_seconds, hourly.burst) == (
        "otp_ip", 200, 3600.0, None)
    bursty = parse_limit("writes", "60/60/20")
    assert (bursty.limit, bursty.period_seconds, bursty.burst) == (60, 60.0, 20)


@pytest.mark.parametrize(("name", "text", "message"), [
    ("otp_everything", "5/60", "unknown rate limit policy"),
    ("reads", "100", "expected limit/period"),
    ("reads", "100/60/5/1", "expected limit/period"),
    ("reads", "many/60", "numbers expected"),
    ("reads", "0/60", "limit must be at least 1"),
    ("reads", "10/-1", "period_seconds must be positive"),
])
def test_a_bad_limit_is_refused_with_the_reason(name: str, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_limit(name, text)


def test_the_gateway_prefix_wins_per_policy_and_a_bad_value_stops_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OKADA_RATE_LIMITS", '{"reads": "500/60", "otp_ip": "50/3600"}')
    monkeypatch.setenv("GATEWAY_RATE_LIMITS", '{"otp_ip": "200/3600"}')
    policies = GatewaySettings.for_service("gateway").rate_limit_policies()
    assert {name: p.limit for name, p in policies.items()} == {"reads": 500, "otp_ip": 200}
    monkeypatch.setenv("GATEWAY_RATE_LIMITS", '{"otp_ip": "lots/hour"}')
    with pytest.raises(ValidationError, match="numbers expected"):
        GatewaySettings.for_service("gateway")


async def test_a_configured_limit_is_what_the_edge_enforces(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("GATEWAY_RATE_LIMITS", '{"reads": "3/3600"}')
    settings = PlatformSettings(mode=Mode.EMBEDDED, data_dir=tmp_path, seed_demo_data=False)
    app = create_embedded_app(settings, policy=FAST_TEST_POLICY, configure_logs=False)
    async with LifespanManager(app, startup_timeout=120, shutdown_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=("203.0.113.9", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://okada.test") as c:
            answers = [await c.get("/.well-known/jwks.json") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["ratelimit-policy"] == '"reads";q=3;w=3600'
