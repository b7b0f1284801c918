"""Identity records as the application sees them (plain dataclasses, no ORM)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from okada.contracts.identity.v1 import PhoneState, PlaceState, UserState
from okada.kernel.authz import STAFF_ROLES, Role


@dataclass
class Phone:
    """A phone number attached to a user."""

    id: uuid.UUID
    user_id: uuid.UUID
    e164: str
    operator: str | None
    verified: bool
    is_primary: bool
    created_at: dt.datetime


@dataclass
class User:
    """A person with an Okada account (customer, rider, merchant staff, operations, admin)."""

    id: uuid.UUID
    language: str
    roles: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int = 1
    name: str | None = None
    store_ids: list[str] = field(default_factory=list)
    disabled: bool = False
    password_hash: str | None = None
    totp_secret: bytes | None = None
    totp_last_step: int | None = None
    disabled_at: dt.datetime | None = None
    disabled_reason: str | None = None
    phones: list[Phone] = field(default_factory=list)

    def has_role(self, role: Role) -> bool:
        """Return whether the user holds ``role``."""
        return role.value in self.roles

    @property
    def is_staff(self) -> bool:
        """Operations and admin: the accounts that must sign in with password and TOTP."""
        return any(r.value in self.roles for r in STAFF_ROLES)

    @property
    def totp_enrolled(self) -> bool:
        """Whether a TOTP authenticator is enrolled (its secret is stored sealed)."""
        return self.totp_secret is not None

    @property
    def primary_phone(self) -> Phone | None:
        """The number codes and receipts go to."""
        return next((p for p in self.phones if p.is_primary), None)

    def phone(self, e164: str) -> Phone | None:
        """Return this user's phone ``e164``, if attached."""
        return next((p for p in self.phones if p.e164 == e164), None)

    def touch(self, at: dt.datetime) -> int:
        """Record a change: bump the version (optimistic concurrency); return the old one."""
        previous = self.version
        self.version += 1
        self.updated_at = at
        return previous

    def public_state(self) -> UserState:
        """The state published in identity.v1 events (no secrets)."""
        return UserState(
            name=self.name,
            language=self.language,
            roles=sorted(self.roles),
            store_ids=[uuid.UUID(s) for s in self.store_ids],
            phones=[
                PhoneState(
                    e164=p.e164, operator=p.operator, verified=p.verified, primary=p.is_primary
                )
                for p in self.phones
            ],
            disabled=self.disabled,
            created_at=self.created_at,
        )


@dataclass
class OtpChallenge:
    """A login code sent by SMS; only its hash is stored."""

    id: uuid.UUID
    phone: str
    purpose: str
    code_hash: str
    created_at: dt.datetime
    expires_at: dt.datetime
    attempts: int = 0
    consumed_at: dt.datetime | None = None
    voided_at: dt.datetime | None = None
    user_id: uuid.UUID | None = None
    """The account that asked for the code (``add_phone``); None for login codes."""


@dataclass
class RefreshToken:
    """One link of a refresh-token family (one login on one device)."""

    id: uuid.UUID
    family_id: uuid.UUID
    user_id: uuid.UUID
    device_id: str
    token_hash: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    family_expires_at: dt.datetime
    parent_id: uuid.UUID | None = None
    used_at: dt.datetime | None = None
    replaced_by: uuid.UUID | None = None
    child_token_sealed: str | None = None
    revoked_at: dt.datetime | None = None


@dataclass(frozen=True)
class TokenPair:
    """What a login or a refresh returns to the app."""

    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret


@dataclass(frozen=True)
class SessionInfo:
    """A signed-in device as the user sees it."""

    family_id: uuid.UUID
    device_id: str
    created_at: dt.datetime
    last_used_at: dt.datetime
    current: bool


@dataclass
class Place:
    """A saved delivery place: city, quartier, landmark and directions, plus an optional pin.

    In Cameroon few streets have usable names, so the address people give is a quartier and a
    landmark ("Bonamoussadi, derrière la pharmacie X, portail bleu"); the pin, when present, is
    what dispatch uses.
    """

    id: uuid.UUID
    user_id: uuid.UUID
    label: str
    city: str
    quartier: str
    created_at: dt.datetime
    updated_at: dt.datetime
    landmark: str | None = None
    directions: str | None = None
    lat: float | None = None
    lng: float | None = None
    plus_code: str | None = None
    contact_phone: str | None = None
    is_default: bool = False
    version: int = 1
    deleted_at: dt.datetime | None = None

    def touch(self, at: dt.datetime) -> int:
        """Record a change: bump the version; return the old one."""
        previous = self.version
        self.version += 1
        self.updated_at = at
        return previous

    def public_state(self) -> PlaceState:
        """The state published in ``identity.v1.PlaceChanged``."""
        return PlaceState(
            user_id=self.user_id,
            label=self.label,
            city=self.city,
            quartier=self.quartier,
            landmark=self.landmark,
            directions=self.directions,
            lat=self.lat,
            lng=self.lng,
            plus_code=self.plus_code,
            contact_phone=self.contact_phone,
            is_default=self.is_default,
            deleted=self.deleted_at is not None,
        )
