"""The foundation journey in embedded mode (every run)."""

from __future__ import annotations

import asyncio

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from tests.support.journeys import identity_scenario


async def test_identity_journey_embedded(platform: FastAPI, client: httpx.AsyncClient) -> None:
    # Given the embedded platform, when a new customer signs in by OTP and rotates tokens
    result = await identity_scenario(client, "77123456")
    # Then the registration event went through the identity outbox and was published
    engine = platform.state.host.ctx.engine("identity")
    for _ in range(40):
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.text(
                "SELECT schema, published_at FROM outbox ORDER BY seq"))).all()
        if rows and all(r.published_at is not None for r in rows):
            break
        await asyncio.sleep(0.05)
    assert [r.schema for r in rows] == ["identity.v1.UserRegistered"]
    assert all(r.published_at is not None for r in rows)
    assert result["e164"] == "+237677123456"
