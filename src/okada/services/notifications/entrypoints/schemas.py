"""Request and response bodies of the notifications API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceIn(_In):
    """A push token of this app install."""

    token: Annotated[str, Field(min_length=16, max_length=512)]
    platform: Literal["android", "ios", "web"]
    locale: Annotated[
        str | None, Field(max_length=16, pattern=r"^[A-Za-z]{2}([-_][A-Za-z]{2})?$")
    ] = None


class DeviceRead(BaseModel):
    """A registered push token."""

    token: str
    platform: str
    locale: str | None
    active: bool
    updated_at: dt.datetime


class PushReceiptIn(_In):
    """The app confirms it received a push (the ``message_id`` of its data)."""

    message_id: uuid.UUID


class InboxItemRead(BaseModel):
    """One message of the caller's inbox, in their language."""

    id: uuid.UUID
    kind: str
    title: str
    body: str
    order_id: uuid.UUID | None
    read: bool
    sent_at: dt.datetime


class InboxPage(BaseModel):
    """A page of the inbox, newest first."""

    data: list[InboxItemRead]
    next_cursor: str | None = None


class MessageEventRead(BaseModel):
    """An attempt or a delivery receipt."""

    at: dt.datetime
    kind: str
    provider: str | None
    outcome: str
    detail: str | None


class AdminMessageRead(BaseModel):
    """An outgoing message as operations see it (phone masked, OTP text redacted)."""

    id: uuid.UUID
    kind: str
    critical: bool
    channel: str
    status: str
    recipient_id: uuid.UUID | None
    to: str | None
    order_id: uuid.UUID | None
    language: str
    title: str
    body: str
    provider: str | None
    provider_message_id: str | None
    segments: int | None
    encoding: str | None
    attempts: int
    created_at: dt.datetime
    due_at: dt.datetime
    sent_at: dt.datetime | None
    delivered_at: dt.datetime | None
    fallback_at: dt.datetime | None
    last_error: str | None
    events: list[MessageEventRead]


class AdminMessagePage(BaseModel):
    """Messages of a user and/or an order, newest first."""

    data: list[AdminMessageRead]


class InternalSmsIn(_In):
    """An SMS asked by another service, in the shape identity's SMS sender posts."""

    to: Annotated[str, Field(pattern=r"^\+[1-9]\d{7,14}$")]
    text: Annotated[str, Field(min_length=1, max_length=480)]
    sender: Annotated[str | None, Field(max_length=11)] = None


class InternalSmsAccepted(BaseModel):
    """The SMS was accepted by a provider."""

    id: uuid.UUID
    status: str
    provider: str | None
    segments: int | None
