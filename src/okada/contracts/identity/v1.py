"""identity.v1: users, their roles and phone numbers."""

from __future__ import annotations

import datetime as dt
import uuid

from okada.contracts.base import ContractModel, IntegrationEvent


class PhoneState(ContractModel):
    """A phone number of a user (E.164) with its operator."""

    e164: str
    operator: str | None
    verified: bool
    primary: bool


class UserState(ContractModel):
    """The public state of a user account."""

    name: str | None
    language: str
    roles: list[str]
    store_ids: list[uuid.UUID]
    phones: list[PhoneState]
    disabled: bool
    created_at: dt.datetime


class UserRegistered(IntegrationEvent, schema="identity.v1.UserRegistered"):
    """A user account was created (first OTP login, or by operations)."""

    state: UserState


class UserUpdated(IntegrationEvent, schema="identity.v1.UserUpdated"):
    """A user's profile, phones or roles changed."""

    state: UserState


class UserDisabled(IntegrationEvent, schema="identity.v1.UserDisabled"):
    """A user was disabled by operations; their sessions are revoked."""

    state: UserState
    reason: str | None = None


class PlaceState(ContractModel):
    """A saved delivery place with the Cameroonian address model."""

    user_id: uuid.UUID
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
    deleted: bool = False


class PlaceChanged(IntegrationEvent, schema="identity.v1.PlaceChanged"):
    """A saved place was created, edited or deleted (``state.deleted``)."""

    state: PlaceState
