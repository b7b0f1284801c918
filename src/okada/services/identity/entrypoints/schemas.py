"""Request and response bodies of the identity API."""

from __future__ import annotations

import datetime as dt
import uuid

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
