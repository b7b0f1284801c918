"""Shared fixtures: the embedded platform and an HTTP client to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from okada.infra.bus.policy import FAST_TEST_POLICY
from okada.infra.settings import Mode, PlatformSettings
from okada.runtime.embedded import create_embedded_app


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[FastAPI]:
    """The whole platform in embedded mode on fresh SQLite files."""
    # No demo seed: each test builds the data it asserts on (tests/services/*/ seed tests
    # cover the seed itself), which keeps startup and shutdown fast.
    settings = PlatformSettings(
        mode=Mode.EMBEDDED, data_dir=tmp_path, log_json=True, seed_demo_data=False
    )
    app = create_embedded_app(settings, policy=FAST_TEST_POLICY, configure_logs=False)
    async with LifespanManager(app, startup_timeout=120, shutdown_timeout=60) as manager:
        app.state.asgi = manager.app  # the app with lifespan state attached, for clients
        yield app


@pytest.fixture
async def client(platform: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client talking to the embedded gateway."""
    transport = httpx.ASGITransport(app=platform.state.asgi, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://okada.test") as c:
        c.platform = platform  # type: ignore[attr-defined]
        yield c
