"""The same journey against the distributed topology started by ``okada up``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest

from tests.support.broker import purge_broker
from tests.support.journeys import identity_scenario
from tests.support.services import require_postgres, require_rabbitmq, require_redis

pytestmark = pytest.mark.distributed

PORT_OFFSET = 1000
GATEWAY = f"http://127.0.0.1:{8000 + PORT_OFFSET}"


@pytest.fixture(scope="module")
def topology() -> Iterator[dict[str, str]]:
    """Run ``okada up`` on PostgreSQL, RabbitMQ and Redis with names unique to this run."""
    require_postgres()
    require_rabbitmq()
    require_redis()
    run = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "OKADA_MODE": "distributed",
        "OKADA_INTERNAL_SECRET": f"e2e-secret-{uuid.uuid4().hex}",
        "OKADA_DATABASE_PREFIX": f"okada_e2e_{run}_",
        "OKADA_AMQP_EXCHANGE": f"okada.e2e.{run}",
        "OKADA_AMQP_QUEUE_PREFIX": f"e2e.{run}.",
        "OKADA_REDIS_PREFIX": f"okada-e2e-{run}:",
        "OKADA_PORT_OFFSET": str(PORT_OFFSET),
        "OKADA_LOG_LEVEL": "WARNING",
        "OKADA_SEED_DEMO_DATA": "false",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "okada.cli.main", "up"], env=env, start_new_session=True,
    )
    try:
        _wait_ready(proc)
        yield env
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        asyncio.run(_drop_databases(env["OKADA_DATABASE_PREFIX"]))
        asyncio.run(purge_broker(env["OKADA_AMQP_EXCHANGE"], env["OKADA_AMQP_QUEUE_PREFIX"]))


def _wait_ready(proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"okada up exited with {proc.returncode}")
        try:
            response = httpx.get(f"{GATEWAY}/readyz", timeout=2.0)
            if response.status_code == 200:
                return
            last = response.text
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.5)
    raise RuntimeError(f"distributed topology not ready: {last}")


async def _drop_databases(prefix: str) -> None:
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres", timeout=10)
    try:
        names = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1",
                                 prefix + "%")
        for row in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def remote(topology: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=15.0) as client:
        yield client


async def test_identity_journey_distributed(remote: httpx.AsyncClient) -> None:
    result = await identity_scenario(remote, f"77{uuid.uuid4().int % 10**6:06d}")
    assert result["e164"].startswith("+23767")
    ready = (await remote.get("/readyz")).json()
    assert ready["services"]["identity"]["checks"]["database"] is True
    assert ready["services"]["identity"]["checks"]["cache"] is True
    assert ready["services"]["identity"]["checks"]["broker"] is True


async def test_distributed_services_refuse_the_development_secret() -> None:
    env = {**os.environ, "OKADA_MODE": "distributed"}
    env.pop("OKADA_INTERNAL_SECRET", None)
    result = subprocess.run(
        [sys.executable, "-c", "from okada.infra.settings import PlatformSettings; "
                               "PlatformSettings.for_service('identity')"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "OKADA_INTERNAL_SECRET" in result.stderr
