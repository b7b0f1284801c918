"""Identity settings: ``IDENTITY_*`` first, then ``OKADA_*``."""

from __future__ import annotations

from okada.infra.settings import PlatformSettings


class IdentitySettings(PlatformSettings):
    """Token lifetimes, OTP rules and SMS provider settings."""

    access_token_ttl_seconds: int = 600
    refresh_idle_days: int = 30
    refresh_absolute_days: int = 90
    refresh_grace_seconds: int = 30
    otp_ttl_seconds: int = 300
    otp_max_attempts: int = 5
    otp_per_phone_per_hour: int = 5
    otp_per_ip_per_hour: int = 20
    otp_per_prefix_per_day: int = 200
    otp_first_cooldown_seconds: int = 60
    allowed_phone_regions: list[str] = ["CM"]
    sms_provider: str = "simulators"
    sms_path: str = "/_sim/sms/send"
    sms_sender_id: str = "OKADA"
