"""Identity test helpers: provision staff through the application, log in, read the outbox.

Staff accounts are created with ``AdminService.provision`` taken from the identity app's
state (``app.state.admin``, set in ``bootstrap.py``): the same code path as the configured
bootstrap admin, with no HTTP caller to authorise. Everything after that goes through the
gateway like a real client.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pyotp
import sqlalchemy as sa

from tests.support.journeys import bearer

STAFF_PASSWORD = "correct horse battery staple"


def identity_state(client: httpx.AsyncClient) -> Any:
    """The identity app's state (application services)."""
    return client.platform.state.host.runtimes["identity"].app.state  # type: ignore[attr-defined]


def identity_engine(client: httpx.AsyncClient) -> Any:
    """The identity database engine."""
    return client.platform.state.host.ctx.engine("identity")  # type: ignore[attr-defined]


async def provision(
    client: httpx.AsyncClient,
    national: str,
    roles: list[str],
    *,
    password: str | None = STAFF_PASSWORD,
    store_ids: list[Any] | None = None,
    totp: bool | None = None,
) -> dict[str, Any]:
    """Create an account directly; return its id, E.164 number and TOTP secret (if any)."""
    secret = pyotp.random_base32() if totp else None
    user, enrolment = await identity_state(client).admin.provision(
        raw_phone=national,
        roles=roles,
        password=password,
        store_ids=store_ids or [],
        totp_secret=secret,
    )
    return {
        "id": str(user.id),
        "phone": national,
        "e164": user.phones[0].e164,
        "password": password,
        "totp_secret": enrolment.secret if enrolment else None,
    }


def totp_code(secret: str, *, steps_ahead: int = 0) -> str:
    """The TOTP code of the current step (or one step ahead, still inside the window)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


async def password_login(
    client: httpx.AsyncClient,
    account: dict[str, Any],
    *,
    password: str | None = None,
    totp: str | None = None,
    steps_ahead: int = 0,
) -> httpx.Response:
    """POST /v1/auth/password/login for ``account`` (TOTP from its secret unless given)."""
    body: dict[str, Any] = {
        "phone": account["phone"],
        "password": password or account["password"],
        "device_id": "console",
    }
    if totp is not None:
        body["totp"] = totp
    elif account.get("totp_secret"):
        body["totp"] = totp_code(account["totp_secret"], steps_ahead=steps_ahead)
    return await client.post("/v1/auth/password/login", json=body)


async def staff_headers(
    client: httpx.AsyncClient, account: dict[str, Any], *, steps_ahead: int = 0
) -> dict[str, str]:
    """Log a staff member in and return their Authorization header."""
    response = await password_login(client, account, steps_ahead=steps_ahead)
    assert response.status_code == 200, response.text
    return bearer(response.json())


async def outbox_events(client: httpx.AsyncClient, schema: str) -> list[dict[str, Any]]:
    """Payloads of the identity outbox rows of ``schema``, oldest first."""
    async with identity_engine(client).connect() as conn:
        rows = (
            await conn.execute(
                sa.text("SELECT envelope FROM outbox WHERE schema = :s ORDER BY seq"), {"s": schema}
            )
        ).all()
    envelopes = [
        json.loads(r.envelope) if isinstance(r.envelope, str) else r.envelope for r in rows
    ]
    return [e["payload"] for e in envelopes]
