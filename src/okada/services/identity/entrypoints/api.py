"""Identity HTTP API: OTP and staff password login, tokens, JWKS, the caller's sessions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from okada.infra.http.auth import CurrentPrincipal
from okada.infra.http.problems import problem_responses, request_language
from okada.services.identity.application.auth import AuthService
from okada.services.identity.application.profiles import ProfileService
from okada.services.identity.entrypoints.schemas import (
    LogoutRequest,
    OtpRequest,
    OtpRequested,
    OtpVerify,
    PasswordLogin,
    RefreshRequest,
    SessionPage,
    SessionRead,
    TokenResponse,
)


def client_ip(request: Request) -> str:
    """The caller's IP as the gateway saw it (it overwrites X-Forwarded-For)."""
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded:
        return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "unknown"


def make_router(auth: AuthService, profiles: ProfileService) -> APIRouter:
    """Build the identity routes around the application services."""
    router = APIRouter(tags=["identity"])

    @router.post(
        "/v1/auth/otp/request",
        status_code=202,
        response_model=OtpRequested,
        responses=problem_responses(400, 422, 429, 503),
    )
    async def request_otp(body: OtpRequest, request: Request) -> OtpRequested:
        """Send a 6-digit login code by SMS to a Cameroonian mobile number.

        The answer is the same whether or not the number has an account. Sends are capped
        per number, per IP and per number prefix, with a growing cooldown.
        """
        retry_after = await auth.request_otp(
            raw_phone=body.phone, ip=client_ip(request), language=request_language(request)
        )
        return OtpRequested(expires_in=auth.rules.otp_ttl, retry_after=retry_after)

    @router.post(
        "/v1/auth/otp/verify",
        response_model=TokenResponse,
        responses=problem_responses(400, 401, 403, 422, 429),
    )
    async def verify_otp(body: OtpVerify, request: Request) -> TokenResponse:
        """Exchange a login code for tokens; the customer account is created on first login."""
        pair = await auth.verify_otp(
            raw_phone=body.phone,
            code=body.code,
            device_id=body.device_id,
            language=request_language(request),
        )
        return TokenResponse(**pair.__dict__)

    @router.post(
        "/v1/auth/password/login",
        response_model=TokenResponse,
        responses=problem_responses(400, 401, 403, 422, 429, 503),
    )
    async def password_login(body: PasswordLogin) -> TokenResponse:
        """Staff login with password; operations and admin also give a TOTP code.

        Wrong password, unknown number and a missing, wrong or already used TOTP code all
        answer the same 401. Ten attempts per number within 15 minutes, then 429.
        """
        pair = await auth.password_login(
            raw_phone=body.phone, password=body.password, totp=body.totp, device_id=body.device_id
        )
        return TokenResponse(**pair.__dict__)

    @router.post(
        "/v1/auth/token/refresh",
        response_model=TokenResponse,
        responses=problem_responses(400, 401, 422),
    )
    async def refresh_token(body: RefreshRequest) -> TokenResponse:
        """Rotate a refresh token (reuse outside the 30 s grace window revokes the family)."""
        pair = await auth.refresh(refresh_token=body.refresh_token)
        return TokenResponse(**pair.__dict__)

    @router.post("/v1/auth/logout", status_code=204, responses=problem_responses(401, 422))
    async def logout(principal: CurrentPrincipal, body: LogoutRequest | None = None) -> Response:
        """End this session: its refresh-token family is revoked."""
        await auth.logout(principal, refresh_token=body.refresh_token if body else None)
        return Response(status_code=204)

    @router.post("/v1/auth/logout-all", status_code=204, responses=problem_responses(401))
    async def logout_all(principal: CurrentPrincipal) -> Response:
        """End every session of the caller on every device."""
        await auth.logout_all(principal)
        return Response(status_code=204)

    @router.get("/.well-known/jwks.json", tags=["identity"])
    async def jwks() -> dict[str, Any]:
        """Public keys that verify Okada access tokens."""
        return profiles.jwks()

    @router.get(
        "/v1/users/me/sessions", response_model=SessionPage, responses=problem_responses(401)
    )
    async def list_sessions(principal: CurrentPrincipal) -> SessionPage:
        """The caller's signed-in devices, most recently used first."""
        sessions = await auth.sessions(principal)
        data = [
            SessionRead(
                id=s.family_id,
                device_id=s.device_id,
                created_at=s.created_at,
                last_used_at=s.last_used_at,
                current=s.current,
            )
            for s in sessions
        ]
        return SessionPage(data=data, count=len(data))

    return router
