"""Identity HTTP API for operations and admin: accounts, disabling, TOTP, signing keys."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response

from okada.infra.http.auth import CurrentPrincipal
from okada.infra.http.etag import not_modified
from okada.infra.http.problems import problem_responses
from okada.services.identity.application.admin import AdminService
from okada.services.identity.entrypoints.schemas import (
    AdminUserCreate,
    AdminUserCreated,
    AdminUserPatch,
    AdminUserRead,
    DisableRequest,
    KeyRotated,
    TotpEnrolmentRead,
)
from okada.services.identity.entrypoints.views import (
    admin_user_read,
    etag_of,
    if_match,
    merge_patch_body,
    read_merge_patch,
)


def make_admin_router(admin: AdminService) -> APIRouter:
    """Build the ``/v1/admin`` routes of identity."""
    router = APIRouter(tags=["identity-admin"])

    @router.post(
        "/v1/admin/users",
        status_code=201,
        response_model=AdminUserCreated,
        responses=problem_responses(400, 401, 403, 409, 422),
    )
    async def create_user(
        principal: CurrentPrincipal, body: AdminUserCreate, response: Response
    ) -> AdminUserCreated:
        """Create a rider, merchant-staff, operations or admin account.

        Operations may create riders and merchant staff; only admin may create operations
        or admin accounts. Merchant staff need ``store_ids``; operations and admin need a
        password and get a TOTP authenticator, whose secret is returned this once.
        """
        user, enrolment = await admin.create_user(
            principal,
            raw_phone=body.phone,
            roles=body.roles,
            store_ids=body.store_ids,
            name=body.name,
            password=body.password,
            language=body.language,
        )
        response.headers["Location"] = f"/v1/admin/users/{user.id}"
        response.headers["Cache-Control"] = "no-store"
        return AdminUserCreated(
            **admin_user_read(user).model_dump(),
            totp=TotpEnrolmentRead(**enrolment.__dict__) if enrolment else None,
        )

    @router.get(
        "/v1/admin/users/{user_id}",
        response_model=AdminUserRead,
        responses=problem_responses(401, 403, 404),
    )
    async def get_user(
        principal: CurrentPrincipal, user_id: uuid.UUID, request: Request, response: Response
    ) -> Any:
        """Any account as operations see it (whether a password or TOTP is set, never them)."""
        user = await admin.get_user(principal, user_id)
        etag = etag_of(user)
        cached = not_modified(request, etag)
        if cached is not None:
            return cached
        response.headers["ETag"] = etag
        return admin_user_read(user)

    @router.patch(
        "/v1/admin/users/{user_id}",
        response_model=AdminUserRead,
        responses=problem_responses(400, 401, 403, 404, 412, 415, 422, 428),
        openapi_extra=merge_patch_body(AdminUserPatch),
    )
    async def patch_user(
        principal: CurrentPrincipal, user_id: uuid.UUID, request: Request, response: Response
    ) -> Any:
        """Change an account's roles, stores or name (merge patch, ``If-Match``).

        Granting or removing operations or admin, or editing staff, takes an admin.
        """
        changes = await read_merge_patch(request, AdminUserPatch)
        user = await admin.update_user(principal, user_id, changes, precondition=if_match(request))
        response.headers["ETag"] = etag_of(user)
        return admin_user_read(user)

    @router.post(
        "/v1/admin/users/{user_id}/disable",
        response_model=AdminUserRead,
        responses=problem_responses(400, 401, 403, 404, 422),
    )
    async def disable_user(
        principal: CurrentPrincipal, user_id: uuid.UUID, body: DisableRequest
    ) -> AdminUserRead:
        """Disable an account and revoke all its sessions (only admin disables staff)."""
        return admin_user_read(await admin.disable(principal, user_id, reason=body.reason))

    @router.post(
        "/v1/admin/users/{user_id}/totp",
        status_code=201,
        response_model=TotpEnrolmentRead,
        responses=problem_responses(401, 403, 404, 409),
    )
    async def enrol_totp(
        principal: CurrentPrincipal, user_id: uuid.UUID, response: Response
    ) -> TotpEnrolmentRead:
        """Enrol a TOTP authenticator (the user themself, or an admin); shown once."""
        enrolment = await admin.enrol_totp(principal, user_id)
        response.headers["Cache-Control"] = "no-store"
        return TotpEnrolmentRead(**enrolment.__dict__)

    @router.post(
        "/v1/admin/keys/rotate",
        response_model=KeyRotated,
        responses=problem_responses(401, 403),
    )
    async def rotate_keys(principal: CurrentPrincipal) -> KeyRotated:
        """Sign access tokens with a new key from now on (admin only).

        The previous key stays published for 20 minutes, so no signed-in user is affected.
        """
        kid = await admin.rotate_keys(principal)
        return KeyRotated(kid=kid, published_kids=admin.published_kids())

    return router
