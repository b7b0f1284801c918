"""Identity settings: ``IDENTITY_*`` first, then ``OKADA_*``."""

from __future__ import annotations

import base64
from typing import Self

from pydantic import SecretStr, model_validator

from okada.infra.settings import PlatformSettings


class IdentitySettings(PlatformSettings):
    """Token lifetimes, OTP and staff-login rules, SMS provider and the bootstrap admin.

    ``bootstrap_admin_phone``, ``bootstrap_admin_password`` and
    ``bootstrap_admin_totp_secret`` (base32, as authenticator apps take it) go together:
    when set, the first password login creates that admin if no account holds the number.
    """

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
    # Login codes go through the notifications service (provider failover, receipts); the
    # SMS gateway below is used directly when notifications cannot take them.
    otp_via_notifications: bool = True
    otp_via_notifications_timeout_seconds: float = 4.0
    sms_provider: str = "simulators"
    sms_path: str = "/_sim/sms/send"
    sms_sender_id: str = "OKADA"
    login_max_failures: int = 10
    login_failure_window_seconds: int = 900
    max_phones_per_user: int = 3
    max_places_per_user: int = 20
    bootstrap_admin_phone: str | None = None
    bootstrap_admin_password: SecretStr | None = None
    bootstrap_admin_totp_secret: SecretStr | None = None

    @model_validator(mode="after")
    def _bootstrap_admin_is_complete(self) -> Self:
        given = [
            self.bootstrap_admin_phone,
            self.bootstrap_admin_password,
            self.bootstrap_admin_totp_secret,
        ]
        if any(v is not None for v in given) and not all(v is not None for v in given):
            raise ValueError(
                "IDENTITY_BOOTSTRAP_ADMIN_PHONE, _PASSWORD and _TOTP_SECRET go together: an "
                "admin must sign in with password and TOTP"
            )
        secret = self.bootstrap_admin_totp_secret
        if secret is not None:
            value = secret.get_secret_value().replace(" ", "").upper()
            try:
                raw = base64.b32decode(value + "=" * (-len(value) % 8))
            except ValueError as exc:
                raise ValueError("IDENTITY_BOOTSTRAP_ADMIN_TOTP_SECRET is not base32") from exc
            if len(raw) < 10:
                raise ValueError("IDENTITY_BOOTSTRAP_ADMIN_TOTP_SECRET needs 80 bits or more")
        return self

    def bootstrap_admin_values(self) -> tuple[str, str, str] | None:
        """``(phone, password, totp_secret)`` of the configured first admin, if any."""
        phone = self.bootstrap_admin_phone
        password = self.bootstrap_admin_password
        secret = self.bootstrap_admin_totp_secret
        if phone is None or password is None or secret is None:
            return None
        totp = secret.get_secret_value().replace(" ", "").upper().rstrip("=")
        return phone, password.get_secret_value(), totp
