"""Gateway settings: ``GATEWAY_*`` first, then ``OKADA_*``."""

from __future__ import annotations

from pydantic import field_validator

from okada.gateway.ratelimiting import GATEWAY_POLICIES
from okada.infra.ratelimit import RateLimitPolicy
from okada.infra.settings import PlatformSettings


def parse_limit(name: str, text: str) -> RateLimitPolicy:
    """Read ``"<limit>/<period seconds>[/<burst>]"`` as the policy ``name``.

    For example ``"100/3600"`` (100 an hour) or ``"60/60/20"`` (60 a minute, 20 back to back).

    Raises:
        ValueError: The name is not a gateway policy, or the text is not of that form.
    """
    if name not in GATEWAY_POLICIES:
        raise ValueError(f"unknown rate limit policy {name!r}: one of {sorted(GATEWAY_POLICIES)}")
    parts = text.split("/")
    if len(parts) not in (2, 3):
        raise ValueError(f"rate limit {name}={text!r}: expected limit/period[/burst]")
    try:
        limit, period = int(parts[0]), float(parts[1])
        burst = int(parts[2]) if len(parts) == 3 else None
    except ValueError:
        raise ValueError(f"rate limit {name}={text!r}: numbers expected") from None
    return RateLimitPolicy(name, limit=limit, period_seconds=period, burst=burst)


class GatewaySettings(PlatformSettings):
    """What operators tune at the edge without a release."""

    rate_limits: dict[str, str] = {}
    """Policies overriding the defaults, by name, as ``limit/period[/burst]``: for example
    ``GATEWAY_RATE_LIMITS='{"otp_ip": "200/3600"}'`` for an office whose staff all sign in
    from one address. ``OKADA_RATE_LIMITS`` and ``GATEWAY_RATE_LIMITS`` merge policy by
    policy, the gateway's winning. Unknown names or malformed values stop the gateway at
    start."""

    @field_validator("rate_limits")
    @classmethod
    def _valid_limits(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            parse_limit(name, text)
        return value

    def rate_limit_policies(self) -> dict[str, RateLimitPolicy]:
        """The overriding policies, parsed."""
        return {name: parse_limit(name, text) for name, text in self.rate_limits.items()}
