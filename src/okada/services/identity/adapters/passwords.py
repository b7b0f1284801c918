"""Argon2id password hashing (argon2-cffi) for staff logins."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Argon2PasswordHasher:
    """Argon2id with argon2-cffi's default parameters: RFC 9106's low-memory profile.

    t = 3 passes, m = 64 MiB, p = 4 lanes, 16-byte salt, 32-byte hash: above OWASP's minimum
    (19 MiB, t = 2) and ASVS's (46 MiB, t = 1). Budget about 64 MiB of RAM per login in flight.
    Hashes carry their parameters (``$argon2id$v=19$m=65536,t=3,p=4$...``), so raising them
    later only makes :meth:`needs_rehash` true for older hashes, which are upgraded at login.
    """

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, encoded: str, password: str) -> bool:
        try:
            return self._hasher.verify(encoded, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, encoded: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(encoded)
        except (InvalidHashError, ValueError):
            return True
