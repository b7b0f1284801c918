"""Idempotency-Key middleware: Stripe semantics on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Column, Integer, String, Table, func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import Response

from okada.infra.db.engine import create_engine, ensure_database
from okada.infra.db.platform_tables import add_platform_tables
from okada.infra.db.types import AutoIncrementBigInt, new_metadata
from okada.infra.http.app import create_service_app
from okada.infra.http.auth import PrincipalResolver
from okada.infra.http.idempotency import IdempotencyOptions
from okada.infra.security.internal import PRINCIPAL_HEADER, PrincipalCodec
from okada.kernel.authz import Principal, Role
from okada.kernel.clock import FrozenClock
from tests.support.services import require_postgres

PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432"
CLIENT_IP = "203.0.113.9"
KEY = "k-" + "0123456789abcdef" * 2  # 34 characters
PAYLOAD = {"name": "mango", "quantity": 3}


@dataclass
class Harness:
    """A tiny service whose POST endpoints count their effects in a table."""

    app: FastAPI
    client: httpx.AsyncClient
    engine: AsyncEngine
    keys: Table
    effects: Table
    clock: FrozenClock
    options: IdempotencyOptions
    codec: PrincipalCodec
    fail_next: list[str] = field(default_factory=list)

    async def effect_count(self) -> int:
        async with self.engine.connect() as conn:
            return int(
                (await conn.execute(select(func.count()).select_from(self.effects))).scalar_one()
            )

    async def key_rows(self) -> list[dict[str, object]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(self.keys))).mappings().all()
        return [dict(r) for r in rows]

    async def post(
        self,
        path: str = "/v1/things",
        *,
        key: str | None = KEY,
        json: object = PAYLOAD,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if key is not None:
            sent["Idempotency-Key"] = key
        return await self.client.post(path, json=json, headers=sent)


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A fresh database: a temporary SQLite file, or a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'idempotency.db'}"
    else:
        require_postgres()
        url = f"{PG_ADMIN}/okada_test_idem_{uuid.uuid4().hex[:8]}"
        await ensure_database(url)
    eng = create_engine(url)
    try:
        yield eng
    finally:
        await eng.dispose()
        if request.param == "postgresql":
            await _drop_database(url)


async def _drop_database(url: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    name = make_url(url).database
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres", timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def harness(engine: AsyncEngine) -> AsyncIterator[Harness]:
    metadata = new_metadata()
    keys = add_platform_tables(metadata)["idempotency_keys"]
    effects = Table(
        "effects",
        metadata,
        Column("id", AutoIncrementBigInt, primary_key=True, autoincrement=True),
        Column("name", String(50), nullable=False),
        Column("quantity", Integer, nullable=False),
    )
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    clock = FrozenClock()
    codec = PrincipalCodec("test-secret")
    options = IdempotencyOptions(engine, keys, clock, required_paths=(r"/v1/orders",))
    fail_next: list[str] = []
    router = APIRouter()

    async def create(request: Request) -> Response:
        payload = await request.json()
        # Long enough for the concurrent duplicates to arrive while the first is in flight.
        await asyncio.sleep(0.05)
        if fail_next:
            mode = fail_next.pop(0)
            if mode == "raise":
                raise RuntimeError("database went away")
            return JSONResponse({"code": "unavailable"}, status_code=503)
        async with engine.begin() as conn:
            result = await conn.execute(
                insert(effects).values(name=payload["name"], quantity=payload["quantity"])
            )
        effect_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
        # A fresh id per execution, so a replay is distinguishable from a second run.
        run = uuid.uuid4().hex
        return JSONResponse(
            {"effect": effect_id, "run": run, **payload},
            status_code=201,
            headers={"Location": f"/v1/things/{run}", "ETag": f'"{run}"', "X-Debug": "1"},
        )

    router.add_api_route("/v1/things", create, methods=["POST"])
    router.add_api_route("/v1/orders", create, methods=["POST"])
    router.add_api_route("/v1/things/{thing}", create, methods=["PATCH"])
    app = create_service_app(
        service="idemtest",
        routers=[router],
        resolver=PrincipalResolver(codec, None),
        readiness={},
        max_body_bytes=4096,
        access_log=False,
        idempotency=options,
    )
    transport = httpx.ASGITransport(app=app, client=(CLIENT_IP, 40000), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://idem.test") as client:
        yield Harness(
            app=app,
            client=client,
            engine=engine,
            keys=keys,
            effects=effects,
            clock=clock,
            options=options,
            codec=codec,
            fail_next=fail_next,
        )


async def test_concurrent_duplicates_run_once(harness: Harness) -> None:
    responses = await asyncio.gather(*(harness.post() for _ in range(50)))

    assert await harness.effect_count() == 1
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409}
    finished = [r for r in responses if r.status_code == 201]
    assert finished, statuses
    assert len({r.content for r in finished}) == 1
    for refused in (r for r in responses if r.status_code == 409):
        assert refused.json()["code"] == "idempotency_key_in_use"
        assert refused.headers["retry-after"] == "1"

    first = finished[0]
    replays = [await harness.post() for _ in range(50)]
    assert await harness.effect_count() == 1
    for replay in replays:
        assert replay.status_code == 201
        assert replay.content == first.content
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.headers["content-type"] == first.headers["content-type"]
        assert replay.headers["location"] == first.headers["location"]
        assert replay.headers["etag"] == first.headers["etag"]
        assert "x-debug" not in replay.headers  # only replay-worthy headers are stored
        assert replay.headers["x-request-id"] != first.headers["x-request-id"]
        assert replay.headers["x-content-type-options"] == "nosniff"  # edge layer still applies


async def test_first_response_is_not_marked_replayed(harness: Harness) -> None:
    first = await harness.post()
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    [row] = await harness.key_rows()
    assert row["response_status"] == 201
    assert row["locked_at"] is None
    assert row["scope"] == f"anon:{CLIENT_IP}"


async def test_other_request_with_same_key_is_refused_without_effect(harness: Harness) -> None:
    assert (await harness.post()).status_code == 201

    other_body = await harness.post(json={"name": "mango", "quantity": 4})
    other_path = await harness.post("/v1/orders")

    for response in (other_body, other_path):
        assert response.status_code == 422
        assert response.json()["code"] == "idempotency_key_mismatch"
        assert response.headers["content-type"] == "application/problem+json"
    assert await harness.effect_count() == 1


async def test_json_key_order_and_spacing_do_not_change_the_fingerprint(harness: Harness) -> None:
    first = await harness.post()
    same = await harness.client.post(
        "/v1/things",
        content=b'{ "quantity": 3,  "name": "mango" }',
        headers={"Idempotency-Key": KEY, "Content-Type": "application/json"},
    )
    assert same.status_code == 201
    assert same.content == first.content
    assert same.headers["idempotent-replayed"] == "true"
    assert await harness.effect_count() == 1


async def test_required_path_refuses_a_post_without_key(harness: Harness) -> None:
    refused = await harness.post("/v1/orders", key=None, headers={"Accept-Language": "en"})
    assert refused.status_code == 400
    body = refused.json()
    assert body["code"] == "idempotency_key_required"
    assert body["title"] == "Idempotency-Key required"
    assert await harness.effect_count() == 0

    french = await harness.post("/v1/orders", key=None, headers={"Accept-Language": "fr"})
    assert french.json()["title"] == "Idempotency-Key requise"

    # Elsewhere the key stays optional: without one, every request runs.
    assert (await harness.post(key=None)).status_code == 201
    assert (await harness.post(key=None)).status_code == 201
    assert await harness.effect_count() == 2
    assert await harness.key_rows() == []


@pytest.mark.parametrize("length", [19, 256])
async def test_key_length_outside_20_to_255_is_invalid(harness: Harness, length: int) -> None:
    response = await harness.post(key="k" * length)
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_invalid"
    assert await harness.effect_count() == 0
    assert await harness.key_rows() == []


@pytest.mark.parametrize("length", [20, 255])
async def test_key_length_bounds_are_accepted(harness: Harness, length: int) -> None:
    assert (await harness.post(key="k" * length)).status_code == 201
    assert (await harness.post(key="k" * length)).headers["idempotent-replayed"] == "true"
    assert await harness.effect_count() == 1


@pytest.mark.parametrize("mode", ["raise", "503"])
async def test_server_errors_are_not_stored(harness: Harness, mode: str) -> None:
    harness.fail_next.append(mode)
    failed = await harness.post()
    assert failed.status_code in (500, 503)
    assert await harness.key_rows() == []  # unlocked, nothing cached

    retried = await harness.post()
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers
    assert await harness.effect_count() == 1


async def test_stale_lock_is_taken_over(harness: Harness) -> None:
    # Learn the fingerprint of the request from a completed one (it does not depend on the key).
    assert (await harness.post(key="warm-up-key-000000000000")).status_code == 201
    [done] = await harness.key_rows()
    dead_key = "dead-process-key-0000000000"
    async with harness.engine.begin() as conn:
        # What a process that crashed mid-request leaves behind: a lock and no response.
        await conn.execute(
            insert(harness.keys).values(
                scope=done["scope"],
                key=dead_key,
                fingerprint=done["fingerprint"],
                created_at=harness.clock.now(),
                locked_at=harness.clock.now(),
            )
        )

    in_flight = await harness.post(key=dead_key)
    assert in_flight.status_code == 409
    assert in_flight.headers["retry-after"] == "1"
    harness.clock.advance(seconds=89)
    assert (await harness.post(key=dead_key)).status_code == 409

    harness.clock.advance(seconds=2)
    taken = await harness.post(key=dead_key)
    assert taken.status_code == 201
    assert "idempotent-replayed" not in taken.headers
    replay = await harness.post(key=dead_key)
    assert replay.content == taken.content
    assert replay.headers["idempotent-replayed"] == "true"
    assert await harness.effect_count() == 2


async def test_expired_keys_count_as_absent_and_are_purged(harness: Harness) -> None:
    first = await harness.post()
    harness.clock.advance(hours=71)
    assert (await harness.post()).content == first.content

    harness.clock.advance(hours=1)
    again = await harness.post()
    assert again.status_code == 201
    assert "idempotent-replayed" not in again.headers
    assert again.content != first.content
    assert await harness.effect_count() == 2

    assert (await harness.post(key="another-key-000000000000")).status_code == 201
    harness.clock.advance(hours=72)
    # The key renewed at 72 h is now expired; nothing else is fresher than 72 h either.
    assert await harness.options.purge_expired() == 2
    assert await harness.key_rows() == []


async def test_purge_keeps_fresh_keys(harness: Harness) -> None:
    await harness.post()
    harness.clock.advance(hours=71)
    assert await harness.options.purge_expired() == 0
    assert len(await harness.key_rows()) == 1


async def test_keys_are_scoped_per_user(harness: Harness) -> None:
    def principal(user: uuid.UUID) -> dict[str, str]:
        value = harness.codec.encode(Principal(user_id=user, roles=frozenset({Role.CUSTOMER})))
        return {PRINCIPAL_HEADER: value}

    alice, bob = uuid.uuid4(), uuid.uuid4()
    a1 = await harness.post(headers=principal(alice))
    b1 = await harness.post(headers=principal(bob))
    a2 = await harness.post(headers=principal(alice))

    assert a1.status_code == b1.status_code == 201
    assert a1.content != b1.content
    assert a2.content == a1.content
    assert await harness.effect_count() == 2
    scopes = {row["scope"] for row in await harness.key_rows()}
    assert scopes == {str(alice), str(bob)}

    forged = {PRINCIPAL_HEADER: principal(alice)[PRINCIPAL_HEADER][:-2] + "00"}
    anonymous = await harness.post(headers=forged)
    assert anonymous.content not in (a1.content, b1.content)  # a bad signature is anonymous
    assert await harness.effect_count() == 3


async def test_patch_uses_the_key_only_when_present(harness: Harness) -> None:
    url = "/v1/things/abc"
    first = await harness.client.patch(url, json=PAYLOAD, headers={"Idempotency-Key": KEY})
    second = await harness.client.patch(url, json=PAYLOAD, headers={"Idempotency-Key": KEY})
    assert second.headers["idempotent-replayed"] == "true"
    assert second.content == first.content
    await harness.client.patch(url, json=PAYLOAD)
    assert await harness.effect_count() == 2


async def test_oversized_body_is_413_before_any_claim(harness: Harness) -> None:
    response = await harness.post(json={"name": "x" * 5000, "quantity": 1})
    assert response.status_code == 413
    assert await harness.key_rows() == []
    assert await harness.effect_count() == 0
