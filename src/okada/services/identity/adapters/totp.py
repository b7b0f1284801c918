"""TOTP codes (RFC 6238) with pyotp: authenticator apps for operations and admin staff."""

from __future__ import annotations

import datetime as dt
import hmac

import pyotp

STEP_SECONDS = 30
VALID_WINDOW = 1
"""One step either side (pyotp's ``valid_window=1``): tolerates 30 s of clock drift."""


class PyotpAuthenticator:
    """Six-digit SHA-1 codes on 30-second steps, the profile every authenticator app reads."""

    def new_secret(self) -> str:
        # 32 base32 characters: 160 bits, the HMAC-SHA1 block RFC 4226 recommends.
        return pyotp.random_base32(length=32)

    def provisioning_uri(self, secret: str, *, account: str, issuer: str) -> str:
        return pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(
            name=account, issuer_name=issuer
        )

    def matching_step(self, secret: str, code: str, *, at: dt.datetime) -> int | None:
        if len(code) != 6 or not code.isdigit():
            return None
        totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
        current = totp.timecode(at)
        found: int | None = None
        # Compare against every step of the window (no early exit) in constant time, so the
        # answer's timing says nothing about which step matched.
        for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
            if hmac.compare_digest(totp.generate_otp(step), code):
                found = step
        return found
