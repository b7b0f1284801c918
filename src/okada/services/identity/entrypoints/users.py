"""Identity HTTP API of the caller's own account: profile, phone numbers, saved places."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response

from okada.infra.http.auth import CurrentPrincipal
from okada.infra.http.etag import not_modified
from okada.infra.http.problems import problem_responses, request_language
from okada.services.identity.application.accounts import AccountService
from okada.services.identity.application.places import PlaceService
from okada.services.identity.entrypoints.api import client_ip
from okada.services.identity.entrypoints.schemas import (
    PhoneAdd,
    PhoneAdded,
    PhonePage,
    PhoneRead,
    PhoneVerify,
    PlaceCreate,
    PlacePage,
    PlacePatch,
    PlaceRead,
    ProfilePatch,
    UserRead,
)
from okada.services.identity.entrypoints.views import (
    etag_of,
    if_match,
    merge_patch_body,
    phone_read,
    place_read,
    read_merge_patch,
    user_read,
)

_EDIT_PROBLEMS = problem_responses(400, 401, 403, 404, 412, 415, 422, 428)


def make_users_router(accounts: AccountService, places: PlaceService) -> APIRouter:
    """Build the ``/v1/users/me`` routes."""
    router = APIRouter(tags=["identity"])

    @router.get("/v1/users/me", response_model=UserRead, responses=problem_responses(401, 403, 404))
    async def get_me(principal: CurrentPrincipal, request: Request, response: Response) -> Any:
        """The caller's profile; send its ETag in If-Match to edit it."""
        user = await accounts.me(principal)
        etag = etag_of(user)
        cached = not_modified(request, etag)
        if cached is not None:
            return cached
        response.headers["ETag"] = etag
        return user_read(user)

    @router.patch(
        "/v1/users/me",
        response_model=UserRead,
        responses=_EDIT_PROBLEMS,
        openapi_extra=merge_patch_body(ProfilePatch),
    )
    async def patch_me(principal: CurrentPrincipal, request: Request, response: Response) -> Any:
        """Edit the caller's name or language with a JSON merge patch (RFC 7396).

        Needs ``If-Match`` with the ETag of ``GET /v1/users/me`` (428 without, 412 when
        stale). ``{"name": null}`` clears the name. Roles, phones, stores and other
        fields are not editable here (422).
        """
        changes = await read_merge_patch(request, ProfilePatch)
        user = await accounts.update_profile(principal, changes, precondition=if_match(request))
        response.headers["ETag"] = etag_of(user)
        return user_read(user)

    @router.get(
        "/v1/users/me/phones", response_model=PhonePage, responses=problem_responses(401, 403)
    )
    async def list_phones(principal: CurrentPrincipal) -> PhonePage:
        """The caller's numbers, primary first; ``verified: false`` until proven by code."""
        data = [phone_read(p) for p in await accounts.phones(principal)]
        return PhonePage(data=data, count=len(data))

    @router.post(
        "/v1/users/me/phones",
        status_code=202,
        response_model=PhoneAdded,
        responses=problem_responses(400, 401, 403, 409, 422, 429, 503),
    )
    async def add_phone(
        principal: CurrentPrincipal, body: PhoneAdd, request: Request
    ) -> PhoneAdded:
        """Add a second number (unverified) and text it a code to verify it.

        409 when the number belongs to another account. Same SMS caps as login codes.
        """
        added = await accounts.add_phone(
            principal, body.phone, ip=client_ip(request), language=request_language(request)
        )
        return PhoneAdded(
            **phone_read(added.phone).model_dump(),
            expires_in=added.expires_in,
            retry_after=added.retry_after,
        )

    @router.post(
        "/v1/users/me/phones/verify",
        response_model=PhoneRead,
        responses=problem_responses(400, 401, 403, 404, 409, 422),
    )
    async def verify_phone(principal: CurrentPrincipal, body: PhoneVerify) -> PhoneRead:
        """Verify an added number with the code it received."""
        return phone_read(await accounts.verify_phone(principal, body.phone, body.code))

    @router.post(
        "/v1/users/me/phones/{e164}/primary",
        response_model=PhoneRead,
        responses=problem_responses(401, 403, 404, 422),
    )
    async def make_primary(principal: CurrentPrincipal, e164: str) -> PhoneRead:
        """Make a verified number the primary one (codes and receipts go there)."""
        return phone_read(await accounts.make_primary(principal, e164))

    @router.delete(
        "/v1/users/me/phones/{e164}",
        status_code=204,
        responses=problem_responses(401, 403, 404, 409, 422),
    )
    async def remove_phone(principal: CurrentPrincipal, e164: str) -> Response:
        """Remove a number; the primary one cannot be removed (409)."""
        await accounts.remove_phone(principal, e164)
        return Response(status_code=204)

    @router.get(
        "/v1/users/me/places", response_model=PlacePage, responses=problem_responses(401, 403)
    )
    async def list_places(principal: CurrentPrincipal) -> PlacePage:
        """The caller's saved places, the default one first."""
        data = [place_read(p) for p in await places.mine(principal)]
        return PlacePage(data=data, count=len(data))

    @router.post(
        "/v1/users/me/places",
        status_code=201,
        response_model=PlaceRead,
        responses=problem_responses(400, 401, 403, 409, 422),
    )
    async def create_place(
        principal: CurrentPrincipal, body: PlaceCreate, response: Response
    ) -> PlaceRead:
        """Save a place: city (Douala or Yaoundé), quartier, landmark, directions, pin.

        The first place becomes the default; a new default replaces the old one.
        """
        place = await places.create(principal, body.model_dump(exclude_unset=True))
        response.headers["Location"] = f"/v1/users/me/places/{place.id}"
        response.headers["ETag"] = etag_of(place)
        return place_read(place)

    @router.get(
        "/v1/users/me/places/{place_id}",
        response_model=PlaceRead,
        responses=problem_responses(401, 403, 404),
    )
    async def get_place(
        principal: CurrentPrincipal, place_id: uuid.UUID, request: Request, response: Response
    ) -> Any:
        """One saved place (404 for anyone else's)."""
        place = await places.get(principal, place_id)
        etag = etag_of(place)
        cached = not_modified(request, etag)
        if cached is not None:
            return cached
        response.headers["ETag"] = etag
        return place_read(place)

    @router.patch(
        "/v1/users/me/places/{place_id}",
        response_model=PlaceRead,
        responses=_EDIT_PROBLEMS,
        openapi_extra=merge_patch_body(PlacePatch),
    )
    async def patch_place(
        principal: CurrentPrincipal, place_id: uuid.UUID, request: Request, response: Response
    ) -> Any:
        """Edit a place with a JSON merge patch (RFC 7396) and ``If-Match``.

        ``null`` clears landmark, directions, pin, Plus Code or contact phone.
        """
        changes = await read_merge_patch(request, PlacePatch)
        place = await places.update(principal, place_id, changes, precondition=if_match(request))
        response.headers["ETag"] = etag_of(place)
        return place_read(place)

    @router.delete(
        "/v1/users/me/places/{place_id}",
        status_code=204,
        responses=problem_responses(401, 403, 404, 412),
    )
    async def delete_place(
        principal: CurrentPrincipal, place_id: uuid.UUID, request: Request
    ) -> Response:
        """Delete a place; with ``If-Match``, only if unchanged since read (412 otherwise)."""
        check = if_match(request) if request.headers.get("if-match") else _no_precondition
        await places.delete(principal, place_id, precondition=check)
        return Response(status_code=204)

    return router


def _no_precondition(_: Any) -> None:
    return None
