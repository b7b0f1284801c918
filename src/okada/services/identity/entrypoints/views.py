"""HTTP helpers of the identity API: response views, merge-patch bodies, If-Match checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from okada.infra.http.etag import require_if_match, version_etag
from okada.kernel.errors import OkadaError, Unprocessable
from okada.services.identity.application.model import Phone, Place, User
from okada.services.identity.entrypoints.schemas import (
    AdminUserRead,
    PhoneRead,
    PlaceRead,
    UserRead,
)

MERGE_PATCH = "application/merge-patch+json"
_PATCH_TYPES = (MERGE_PATCH, "application/json")


class Versioned(Protocol):
    """Anything with an id and a version: users and places."""

    @property
    def id(self) -> Any: ...

    @property
    def version(self) -> int: ...


def etag_of(entity: Versioned) -> str:
    """The ETag of an entity's current version."""
    return version_etag(entity.id, entity.version)


def if_match(request: Request) -> Callable[[Versioned], None]:
    """The precondition of an edit: 428 without ``If-Match``, 412 when it is stale."""

    def check(entity: Versioned) -> None:
        require_if_match(request, etag_of(entity))

    return check


def merge_patch_body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for a merge-patch endpoint (also accepting plain JSON)."""
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {media: {"schema": schema} for media in _PATCH_TYPES},
        }
    }


async def read_merge_patch(request: Request, model: type[BaseModel]) -> dict[str, Any]:
    """Parse a JSON merge patch (RFC 7396) against ``model``; return the members present.

    A member set to ``null`` is kept (it means "clear"); members the model does not list are
    refused as not editable (422), before any value is looked at.
    """
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in _PATCH_TYPES:
        raise HTTPException(status_code=415)
    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise OkadaError("malformed_json") from exc
    if not isinstance(data, dict):
        raise Unprocessable("validation_failed", fields="body")
    not_editable = sorted(set(data) - set(model.model_fields))
    if not_editable:
        raise Unprocessable("field_not_editable", fields=", ".join(not_editable))
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from exc
    return {name: getattr(parsed, name) for name in data}


def phone_read(phone: Phone) -> PhoneRead:
    """Public view of a phone number."""
    return PhoneRead(
        e164=phone.e164, operator=phone.operator, verified=phone.verified, primary=phone.is_primary
    )


def user_read(user: User) -> UserRead:
    """Public view of a user."""
    return UserRead(
        id=user.id,
        name=user.name,
        language=user.language,
        roles=sorted(user.roles),
        store_ids=sorted(user.store_ids),
        phones=[phone_read(p) for p in user.phones],
        created_at=user.created_at,
        version=user.version,
    )


def admin_user_read(user: User) -> AdminUserRead:
    """What operations see of an account (never a secret, only whether one is set)."""
    return AdminUserRead(
        **user_read(user).model_dump(),
        disabled=user.disabled,
        disabled_at=user.disabled_at,
        disabled_reason=user.disabled_reason,
        has_password=user.password_hash is not None,
        totp_enrolled=user.totp_enrolled,
        updated_at=user.updated_at,
    )


def place_read(place: Place) -> PlaceRead:
    """Public view of a saved place."""
    return PlaceRead(
        id=place.id,
        label=place.label,
        city=place.city,
        quartier=place.quartier,
        landmark=place.landmark,
        directions=place.directions,
        lat=place.lat,
        lng=place.lng,
        plus_code=place.plus_code,
        contact_phone=place.contact_phone,
        is_default=place.is_default,
        created_at=place.created_at,
        updated_at=place.updated_at,
        version=place.version,
    )
