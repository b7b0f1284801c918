"""Request and response bodies of the identity API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """Unknown fields are refused so typos and mass assignment fail loudly."""

    model_config = ConfigDict(extra="forbid")


class OtpRequest(Strict):
    phone: str = Field(min_length=1, max_length=32, examples=["6 77 12 34 56"])


class OtpRequested(BaseModel):
    status: str = "sent"
    expires_in: int
    retry_after: int


class OtpVerify(Strict):
    phone: str = Field(min_length=1, max_length=32)
    code: str = Field(min_length=1, max_length=12, examples=["123456"])
    device_id: str = Field(min_length=1, max_length=100)


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int


class RefreshRequest(Strict):
    refresh_token: str = Field(min_length=1, max_length=200)


class LogoutRequest(Strict):
    refresh_token: str | None = Field(default=None, max_length=200)


class PhoneRead(BaseModel):
    e164: str
    operator: str | None
    verified: bool
    primary: bool


class UserRead(BaseModel):
    id: uuid.UUID
    name: str | None
    language: str
    roles: list[str]
    store_ids: list[str]
    phones: list[PhoneRead]
    created_at: dt.datetime
    version: int


class SessionRead(BaseModel):
    id: uuid.UUID
    device_id: str
    created_at: dt.datetime
    last_used_at: dt.datetime
    current: bool


class SessionPage(BaseModel):
    data: list[SessionRead]
    count: int


class PasswordLogin(Strict):
    phone: str = Field(min_length=1, max_length=32, examples=["6 99 00 00 01"])
    password: str = Field(min_length=1, max_length=256)
    totp: str | None = Field(default=None, max_length=10, examples=["123456"])
    device_id: str = Field(default="web", min_length=1, max_length=100)


class ProfilePatch(Strict):
    """Merge patch of the caller's profile: a field set to null is cleared."""

    name: str | None = Field(default=None, max_length=120)
    language: Literal["fr", "en"] | None = None


class PhonePage(BaseModel):
    data: list[PhoneRead]
    count: int


class PhoneAdd(Strict):
    phone: str = Field(min_length=1, max_length=32, examples=["6 55 12 34 56"])


class PhoneAdded(PhoneRead):
    expires_in: int
    retry_after: int


class PhoneVerify(Strict):
    phone: str = Field(min_length=1, max_length=32)
    code: str = Field(min_length=1, max_length=12, examples=["123456"])


class PlaceCreate(Strict):
    label: str = Field(min_length=1, max_length=60, examples=["Maison"])
    city: str = Field(min_length=1, max_length=40, examples=["Douala"])
    quartier: str = Field(min_length=1, max_length=80, examples=["Bonamoussadi"])
    landmark: str | None = Field(
        default=None, max_length=160, examples=["derrière la pharmacie du Carrefour"]
    )
    directions: str | None = Field(default=None, max_length=500, examples=["portail bleu"])
    lat: float | None = Field(default=None, ge=-90, le=90, examples=[4.09])
    lng: float | None = Field(default=None, ge=-180, le=180, examples=[9.745])
    plus_code: str | None = Field(default=None, max_length=40, examples=["6FPF3PRW+23"])
    contact_phone: str | None = Field(default=None, max_length=32)
    is_default: bool = False


class PlacePatch(Strict):
    """Merge patch of a place: a field set to null is cleared (optional fields only)."""

    label: str | None = Field(default=None, min_length=1, max_length=60)
    city: str | None = Field(default=None, min_length=1, max_length=40)
    quartier: str | None = Field(default=None, min_length=1, max_length=80)
    landmark: str | None = Field(default=None, max_length=160)
    directions: str | None = Field(default=None, max_length=500)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)
    plus_code: str | None = Field(default=None, max_length=40)
    contact_phone: str | None = Field(default=None, max_length=32)
    is_default: bool | None = None


class PlaceRead(BaseModel):
    id: uuid.UUID
    label: str
    city: str
    quartier: str
    landmark: str | None
    directions: str | None
    lat: float | None
    lng: float | None
    plus_code: str | None
    contact_phone: str | None
    is_default: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class PlacePage(BaseModel):
    data: list[PlaceRead]
    count: int


class AdminUserCreate(Strict):
    phone: str = Field(min_length=1, max_length=32)
    roles: list[str] = Field(min_length=1, max_length=5, examples=[["rider"]])
    store_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    name: str | None = Field(default=None, max_length=120)
    password: str | None = Field(default=None, max_length=256)
    language: Literal["fr", "en"] = "fr"


class AdminUserPatch(Strict):
    """Merge patch of an account by operations: roles, stores, name."""

    roles: list[str] | None = Field(default=None, min_length=1, max_length=5)
    store_ids: list[uuid.UUID] | None = Field(default=None, max_length=50)
    name: str | None = Field(default=None, max_length=120)


class TotpEnrolmentRead(BaseModel):
    secret: str
    provisioning_uri: str


class AdminUserRead(UserRead):
    disabled: bool
    disabled_at: dt.datetime | None
    disabled_reason: str | None
    has_password: bool
    totp_enrolled: bool
    updated_at: dt.datetime


class AdminUserCreated(AdminUserRead):
    totp: TotpEnrolmentRead | None = None


class DisableRequest(Strict):
    reason: str = Field(min_length=1, max_length=500)


class KeyRotated(BaseModel):
    kid: str
    published_kids: list[str]
