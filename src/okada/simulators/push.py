"""FCM HTTP v1 simulator: ``POST /_sim/push/v1/projects/{project}/messages:send``.

Accepts any bearer token (401 without one), validates the v1 message shape (one ``token``,
string ``data`` values, 4096-byte payload) and answers like FCM: ``{"name": ...}`` or an
error body with ``status`` and ``details[].errorCode``. Tests read what a device received with
``GET /_sim/push/messages?token=`` and script failures: the whole provider
(``POST /_sim/push/_control/mode`` ``ok``/``down``) or one token
(``POST /_sim/push/_control/tokens`` ``unregistered``, ``unavailable``, ``internal``,
``quota_exceeded``, ``invalid_argument``, ``sender_id_mismatch``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import secrets
from typing import Any
from urllib.parse import urlsplit

import jwt
from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

_ERRORS: dict[str, tuple[int, str]] = {
    "unregistered": (404, "NOT_FOUND"),
    "unavailable": (503, "UNAVAILABLE"),
    "internal": (500, "INTERNAL"),
    "quota_exceeded": (429, "RESOURCE_EXHAUSTED"),
    "invalid_argument": (400, "INVALID_ARGUMENT"),
    "sender_id_mismatch": (403, "PERMISSION_DENIED"),
}
MAX_PAYLOAD = 4096


class PushMode(BaseModel):
    mode: str = Field(pattern="^(ok|down)$")


class TokenScript(BaseModel):
    token: str = Field(min_length=1, max_length=4096)
    outcome: str = Field(
        pattern="^(ok|unregistered|unavailable|internal|quota_exceeded|invalid_argument"
        "|sender_id_mismatch)$"
    )


def _error(code: str, message: str) -> JSONResponse:
    status, canonical = _ERRORS[code]
    return JSONResponse(
        status_code=status,
        content={
            "error": {
                "code": status,
                "message": message,
                "status": canonical,
                "details": [
                    {
                        "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                        "errorCode": code.upper(),
                    }
                ],
            }
        },
    )


class PushSimulator:
    """In-memory FCM: records accepted messages per token."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.mode = "ok"
        self.tokens: dict[str, str] = {}
        self.issued_access_tokens: dict[str, str] = {}  # access token -> service account
        self._ids = itertools.count(1)

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/_sim/push", tags=["simulators"])

        @router.post("/oauth2/token", response_model=None)
        async def oauth_token(request: Request) -> dict[str, Any] | JSONResponse:
            """Google's token endpoint (RFC 7523 JWT bearer grant), without key checks.

            The assertion's claims are checked as Google does (scope, audience, one-hour
            lifetime); its signature is not, since the simulator holds no public keys.
            """
            form = await request.form()
            assertion = str(form.get("assertion") or "")
            if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
                return JSONResponse(status_code=400, content={"error": "unsupported_grant_type"})
            try:
                claims = jwt.decode(assertion, options={"verify_signature": False})
            except jwt.PyJWTError:
                return JSONResponse(status_code=400, content={"error": "invalid_grant"})
            lifetime = int(claims.get("exp", 0)) - int(claims.get("iat", 0))
            scope = str(claims.get("scope", ""))
            # Google compares aud with its token URI; hosts differ in process, so the path.
            audience = urlsplit(str(claims.get("aud", ""))).path
            if (
                "firebase.messaging" not in scope
                or not claims.get("iss")
                or not 0 < lifetime <= 3600
                or audience != request.url.path
            ):
                return JSONResponse(status_code=400, content={"error": "invalid_grant"})
            token = f"ya29.sim-{secrets.token_urlsafe(24)}"
            self.issued_access_tokens[token] = str(claims["iss"])
            return {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}

        @router.post("/v1/projects/{project}/messages:send", response_model=None)
        async def send(
            project: str, request: Request, authorization: str | None = Header(default=None)
        ) -> dict[str, Any] | JSONResponse:
            scheme, _, bearer = (authorization or "").partition(" ")
            if scheme.lower() != "bearer" or not bearer.strip():
                return JSONResponse(
                    status_code=401,
                    content={"error": {"code": 401, "message": "missing OAuth token",
                                       "status": "UNAUTHENTICATED"}},
                )
            if self.mode == "down":
                return _error("unavailable", "FCM is unavailable")
            raw = await request.body()
            try:
                body = json.loads(raw)
            except ValueError:
                return _error("invalid_argument", "invalid JSON payload")
            message = body.get("message") if isinstance(body, dict) else None
            token = message.get("token") if isinstance(message, dict) else None
            if not isinstance(message, dict) or not isinstance(token, str) or not token:
                return _error("invalid_argument", "message.token is required")
            data = message.get("data") or {}
            if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
                return _error("invalid_argument", "data values must be strings")
            if len(raw) > MAX_PAYLOAD:
                return _error("invalid_argument", "message is too big")
            outcome = self.tokens.get(token, "ok")
            if outcome != "ok":
                return _error(outcome, f"scripted {outcome}")
            name = f"projects/{project}/messages/{next(self._ids)}"
            notification = message.get("notification") or {}
            self.messages.append(
                {
                    "name": name,
                    "token": token,
                    "title": notification.get("title"),
                    "body": notification.get("body"),
                    "data": data,
                    "android": message.get("android"),
                    "access_token": bearer.strip(),
                    "at": dt.datetime.now(dt.UTC).isoformat(),
                }
            )
            return {"name": name}

        @router.get("/messages")
        async def messages(token: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
            found = [m for m in reversed(self.messages) if token is None or m["token"] == token]
            return found[: max(1, min(limit, 500))]

        @router.delete("/messages", status_code=204)
        async def clear() -> None:
            self.messages.clear()

        @router.post("/_control/mode")
        async def set_mode(body: PushMode) -> dict[str, str]:
            self.mode = body.mode
            return {"mode": self.mode}

        @router.post("/_control/tokens")
        async def script_token(body: TokenScript) -> dict[str, str]:
            if body.outcome == "ok":
                self.tokens.pop(body.token, None)
            else:
                self.tokens[body.token] = body.outcome
            return {"token": body.token, "outcome": body.outcome}

        return router
