"""What the identity application needs from the outside world."""

from __future__ import annotations

import datetime as dt
import uuid
from types import TracebackType
from typing import Any, Protocol, Self

from okada.contracts.base import IntegrationEvent
from okada.kernel.messages import Envelope
from okada.services.identity.application.model import (
    OtpChallenge,
    Phone,
    Place,
    RefreshToken,
    SessionInfo,
    User,
)


class SmsSender(Protocol):
    """Sends one SMS; raises :class:`okada.kernel.errors.Unavailable` when the provider fails."""

    async def send(self, *, to: str, text: str) -> None:
        """Send ``text`` to the E.164 number ``to``."""
        ...


class TokenSigner(Protocol):
    """Signs access tokens with the current key and seals secrets at rest."""

    async def sign(self, claims: dict[str, Any]) -> str:
        """Return a signed JWT for ``claims``."""
        ...

    def seal(self, secret: str) -> str:
        """Encrypt a short secret for storage."""
        ...

    def unseal(self, sealed: str) -> str:
        """Decrypt what :meth:`seal` produced."""
        ...


class PasswordHasher(Protocol):
    """Hashes staff passwords (Argon2id); slow on purpose, so callers run it off the loop."""

    def hash(self, password: str) -> str:
        """Return an encoded hash with its parameters and salt."""
        ...

    def verify(self, encoded: str, password: str) -> bool:
        """Return whether ``password`` matches ``encoded`` (False for a malformed hash)."""
        ...

    def needs_rehash(self, encoded: str) -> bool:
        """Return whether ``encoded`` uses weaker parameters than the current ones."""
        ...


class TotpAuthenticator(Protocol):
    """Time-based one-time passwords (RFC 6238: 30 s steps, 6 digits)."""

    def new_secret(self) -> str:
        """Return a fresh random base32 secret."""
        ...

    def provisioning_uri(self, secret: str, *, account: str, issuer: str) -> str:
        """Return the ``otpauth://`` URI an authenticator app scans."""
        ...

    def matching_step(self, secret: str, code: str, *, at: dt.datetime) -> int | None:
        """Return the time step ``code`` belongs to (current one or one either side), or None."""
        ...


class SigningKeys(Protocol):
    """The access-token signing keys."""

    async def rotate(self) -> str:
        """Start signing with a new key; return its ``kid``."""
        ...

    def jwks(self) -> dict[str, Any]:
        """The public keys currently published."""
        ...


class UserRepository(Protocol):
    """Users and their phones."""

    async def by_id(self, user_id: uuid.UUID) -> User | None:
        """Load a user with phones."""
        ...

    async def by_phone(self, e164: str) -> User | None:
        """Load the user owning a phone number (verified numbers only: a pending one proves
        nothing, so it must never lead to someone else's account)."""
        ...

    async def phone_claims(self, e164: str) -> list[Phone]:
        """Every attachment of ``e164``: at most one verified, any number pending."""
        ...

    async def record_totp_step(self, user_id: uuid.UUID, step: int) -> bool:
        """Store ``step`` as the last TOTP step used, only if newer; False means a replay."""
        ...

    async def set_password_hash(self, user_id: uuid.UUID, encoded: str) -> None:
        """Replace the password hash (rehash on login; not a public change, no new version)."""
        ...

    async def add(self, user: User) -> None:
        """Insert a new user with its phones."""
        ...

    async def save(self, user: User, *, expected_version: int) -> None:
        """Update a user; raise ConcurrencyConflict when the version moved."""
        ...


class OtpRepository(Protocol):
    """Login-code challenges."""

    async def void_active(self, phone: str, *, at: dt.datetime, purpose: str = "login") -> None:
        """Void every unused ``purpose`` code of ``phone`` (a resend replaces the old code)."""
        ...

    async def add(self, challenge: OtpChallenge) -> None:
        """Insert a challenge."""
        ...

    async def active(
        self, phone: str, *, at: dt.datetime, max_attempts: int, purpose: str = "login"
    ) -> OtpChallenge | None:
        """Return the newest usable ``purpose`` challenge of ``phone``."""
        ...

    async def record_miss(self, challenge_id: uuid.UUID) -> int:
        """Count a wrong code atomically; return the attempts now recorded."""
        ...

    async def consume(self, challenge_id: uuid.UUID, *, at: dt.datetime, max_attempts: int) -> bool:
        """Mark a challenge used; False if it was used, voided or locked meanwhile."""
        ...


class RefreshTokenRepository(Protocol):
    """Refresh-token families."""

    async def add(self, token: RefreshToken) -> None:
        """Insert a token."""
        ...

    async def by_hash(self, token_hash: str) -> RefreshToken | None:
        """Find a token by the hash of its value."""
        ...

    async def by_id(self, token_id: uuid.UUID) -> RefreshToken | None:
        """Find a token by id."""
        ...

    async def mark_used(
        self, token_id: uuid.UUID, *, at: dt.datetime, child_id: uuid.UUID, child_sealed: str
    ) -> bool:
        """Mark a token used (only if unused); False when another request used it first."""
        ...

    async def revoke_family(self, family_id: uuid.UUID, *, at: dt.datetime) -> None:
        """Revoke every token of a family."""
        ...

    async def revoke_user(self, user_id: uuid.UUID, *, at: dt.datetime) -> None:
        """Revoke every family of a user."""
        ...

    async def family_revoked(self, family_id: uuid.UUID) -> bool:
        """Return whether a family was revoked."""
        ...

    async def sessions(self, user_id: uuid.UUID, *, at: dt.datetime) -> list[SessionInfo]:
        """List the live families of a user."""
        ...


class PlaceRepository(Protocol):
    """Saved places (soft-deleted ones stay for history but are never listed)."""

    async def by_id(self, place_id: uuid.UUID) -> Place | None:
        """Load a live (not deleted) place."""
        ...

    async def for_user(self, user_id: uuid.UUID) -> list[Place]:
        """The user's live places, default first, then newest."""
        ...

    async def add(self, place: Place) -> None:
        """Insert a place."""
        ...

    async def save(self, place: Place, *, expected_version: int) -> None:
        """Update a place; raise ConcurrencyConflict when the version moved."""
        ...


class IdentityUnitOfWork(Protocol):
    """A transaction over the identity database."""

    users: UserRepository
    otps: OtpRepository
    tokens: RefreshTokenRepository
    places: PlaceRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def publish(self, event: IntegrationEvent, *, aggregate_id: str | None = None) -> Envelope:
        """Queue an integration event for the outbox."""
        ...

    async def commit(self) -> None:
        """Commit state and outbox together."""
        ...
