"""Staff password policy: long enough, not absurdly long, not a well-known password."""

from __future__ import annotations

import unicodedata

from okada.kernel.errors import Unprocessable

MIN_LENGTH = 12
MAX_LENGTH = 128

# A deliberately small built-in list: the passwords attackers try first, including the
# French-keyboard and Cameroonian variants people here actually pick. A breached-password
# service (k-anonymity lookup) would be the next step up.
_COMMON = frozenset(
    {
        "123456789012",
        "1234567890123",
        "12345678901234",
        "123456789123",
        "111111111111",
        "000000000000",
        "password1234",
        "password12345",
        "password123456",
        "passwordpassword",
        "motdepasse123",
        "motdepasse1234",
        "motdepassemotdepasse",
        "qwertyuiop12",
        "qwertyuiopasdf",
        "qwerty123456",
        "azertyuiop12",
        "azertyuiop123",
        "azertyuiopqsdf",
        "azerty123456",
        "iloveyou1234",
        "jetaime123456",
        "administrator",
        "administrateur",
        "admin1234567",
        "welcome12345",
        "bienvenue123",
        "cameroun2024",
        "cameroun2025",
        "cameroun2026",
        "cameroon2024",
        "cameroon2025",
        "cameroon2026",
        "cameroun1234",
        "douala123456",
        "yaounde12345",
        "okada1234567",
        "okadaokada12",
        "okadaokadaokada",
        "changeme1234",
        "letmein12345",
    }
)


def normalise_password(password: str) -> str:
    """NFKC form, so the same password typed on two keyboards hashes the same."""
    return unicodedata.normalize("NFKC", password)


def check_password_policy(password: str, *, phone_digits: str | None = None) -> str:
    """Return the normalised password or raise ``Unprocessable``.

    Business rules (OWASP, ASVS V6.2): at least 12 and at most 128 characters, any
    characters allowed (spaces and accents included, nothing truncated); refused when it is a
    well-known password, a single repeated character, or contains the account's own phone
    number.
    """
    text = normalise_password(password)
    if len(text) < MIN_LENGTH:
        raise Unprocessable("password_too_short", min=MIN_LENGTH)
    if len(text) > MAX_LENGTH:
        raise Unprocessable("password_too_long", max=MAX_LENGTH)
    folded = text.casefold()
    if folded in _COMMON or len(set(folded)) == 1:
        raise Unprocessable("password_too_common")
    if phone_digits and len(phone_digits) >= 8 and phone_digits in folded:
        raise Unprocessable("password_too_common")
    return text
