"""The three demo journeys on the embedded platform with the demo data seeded (every run).

The journeys are the very functions ``okada demo`` runs (``okada.cli.demo``), here with an
httpx client bound to the embedded app; the assertions check the final states each service
holds, not only that the journeys returned.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pyotp
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from okada.cli.demo import (
    OPERATIONS,
    OPERATIONS_PASSWORD,
    OPERATIONS_TOTP_SECRET,
    DemoContext,
    open_stores_after_hours,
    run_demo,
)
from okada.cli.main import main as cli_main
from okada.infra.bus.policy import FAST_TEST_POLICY
from okada.infra.settings import Mode, PlatformSettings
from okada.runtime.embedded import create_embedded_app
from okada.services.identity.application.demo import DEMO_ACCOUNTS
from tests.support.journey_checks import assert_demo_outcome
from tests.support.journeys import bearer


@pytest.fixture
async def demo_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The embedded platform with the demo data set (catalog, stock, demo staff)."""
    # SQLite on tmpfs when there is one: the demo seed's ~2,400 catalog events must reach
    # orders' read models before checkout, and fsyncs on a real disk double that wait.
    shm = Path("/dev/shm")
    data_dir = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path
    settings = PlatformSettings(
        mode=Mode.EMBEDDED, data_dir=data_dir, log_json=True, seed_demo_data=True
    )
    app = create_embedded_app(settings, policy=FAST_TEST_POLICY, configure_logs=False)
    async with LifespanManager(app, startup_timeout=120, shutdown_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=("203.0.113.9", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://okada.test",
                                     timeout=15.0) as client:
            yield client
    if data_dir != tmp_path:
        shutil.rmtree(data_dir, ignore_errors=True)


async def test_the_three_journeys_on_the_embedded_platform(
    demo_client: httpx.AsyncClient,
) -> None:
    lines: list[str] = []
    ctx = DemoContext(client=demo_client, lang="en", out=lines.append, deadline_seconds=20)
    exit_code = await run_demo(ctx)
    print("\n".join(lines))
    assert exit_code == 0, "\n".join(lines)
    await assert_demo_outcome(ctx)


async def test_the_demo_opens_the_stores_its_hours_close_but_not_a_closed_one(
    demo_client: httpx.AsyncClient,
) -> None:
    """The demo works at any hour: outside a store's hours operations open it around the
    clock; a store its staff closed stays closed."""
    ctx = DemoContext(client=demo_client, lang="en", out=lambda _line: None)
    ops = await ctx.sign_in_operations()
    stores = {s["name"]: s for s in (await ctx.call("GET", "/v1/catalog/stores"))["data"]}
    bastos, akwa = stores["Okada Bastos"], stores["Okada Akwa"]
    # Given Bastos open only three days from now, and Akwa closed by its staff
    later = (dt.datetime.now(ZoneInfo("Africa/Douala")).weekday() + 3) % 7
    await ctx.call("PATCH", f"/v1/merchant/stores/{bastos['id']}", token=ops, json={
        "opening_hours": [{"weekday": later, "opens": "10:00", "closes": "11:00"}]})
    await ctx.call("PATCH", f"/v1/merchant/stores/{akwa['id']}", token=ops,
                   json={"status": "closed"})
    assert not (await ctx.call("GET", f"/v1/catalog/stores/{bastos['id']}"))["open_now"]

    async def listed() -> bool | None:  # the gateway's cached list follows catalog's events
        now = {s["id"]: s for s in (await ctx.call("GET", "/v1/catalog/stores"))["data"]}
        gone = not now[bastos["id"]]["open_now"] and now[akwa["id"]]["status"] == "closed"
        return True if gone else None

    await ctx.wait_for("the store list to show both changes", listed)
    # When the demo's first step runs
    opened = await open_stores_after_hours(ctx)
    # Then Bastos is open now, every day, and Akwa is not touched
    assert bastos["id"] in opened and akwa["id"] not in opened

    async def reopened() -> dict[str, object] | None:
        store = await ctx.call("GET", f"/v1/catalog/stores/{bastos['id']}")
        return dict(store) if store["open_now"] else None

    assert len((await ctx.wait_for("Bastos open", reopened))["opening_hours"]) == 7
    assert not (await ctx.call("GET", f"/v1/catalog/stores/{akwa['id']}"))["open_now"]
    # And a second run finds nothing left to open
    assert await open_stores_after_hours(ctx) == []


async def test_demo_staff_exist_only_when_demo_data_is_seeded(
    platform: FastAPI, client: httpx.AsyncClient
) -> None:
    # Given a platform started without demo data, the demo operations account does not exist
    login = {"phone": OPERATIONS, "password": OPERATIONS_PASSWORD,
             "totp": pyotp.TOTP(OPERATIONS_TOTP_SECRET).now(), "device_id": "t"}
    refused = await client.post("/v1/auth/password/login", json=login)
    assert refused.status_code == 401, refused.text
    # When the identity demo seed runs (twice: it is idempotent)
    seed = platform.state.host.runtimes["identity"].seed
    assert await seed() == len(DEMO_ACCOUNTS)
    assert await seed() == 0
    # Then the operations account signs in with its documented password and TOTP
    accepted = await client.post("/v1/auth/password/login", json=login)
    assert accepted.status_code == 200, accepted.text
    me = await client.get("/v1/users/me", headers=bearer(accepted.json()))
    assert me.json()["roles"] == ["operations"]


def test_okada_demo_reports_an_unreachable_platform(capsys: pytest.CaptureFixture[str]) -> None:
    # Port 9 (discard) has no Okada platform: the command says so and exits non-zero.
    assert cli_main(["demo", "--base-url", "http://127.0.0.1:9", "--lang", "en"]) == 2
    assert "okada serve" in capsys.readouterr().err
