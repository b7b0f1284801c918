"""The three demo journeys against ``okada up`` on PostgreSQL, RabbitMQ and Redis.

``okada up`` starts every process and loads the demo data (catalog, stock and the demo
staff accounts) once all are ready; the journeys are the functions ``okada demo`` runs.
Names (databases, exchange, queues, Redis prefix) are unique to the run and ports are
offset, so the test never touches another run or a developer's platform.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from okada.cli.demo import DemoContext, run_demo
from tests.support.journey_checks import assert_demo_outcome
from tests.support.services import require_postgres, require_rabbitmq, require_redis
from tests.support.topology import cleanup, topology_env

pytestmark = pytest.mark.distributed

PORT_OFFSET = 1200
GATEWAY = f"http://127.0.0.1:{8000 + PORT_OFFSET}"


@pytest.fixture(scope="module")
def platform_up() -> Iterator[dict[str, str]]:
    """``okada up`` with the demo data, on names unique to this run."""
    require_postgres()
    require_rabbitmq()
    require_redis()
    env = topology_env(PORT_OFFSET, OKADA_SEED_DEMO_DATA="true")
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
        cleanup(env)


def _wait_ready(proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
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


@pytest.fixture
async def remote(platform_up: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=15.0) as client:
        yield client


async def test_the_three_journeys_on_the_distributed_platform(
    remote: httpx.AsyncClient,
) -> None:
    lines: list[str] = []
    started = time.monotonic()

    def out(line: str) -> None:
        lines.append(f"[{time.monotonic() - started:5.1f}s] {line}")

    ctx = DemoContext(client=remote, lang="fr", out=out, deadline_seconds=30)
    exit_code = await run_demo(ctx)
    print("\n".join(lines))
    print(f"journeys took {time.monotonic() - started:.1f}s")
    assert exit_code == 0, "\n".join(lines)
    figures = await assert_demo_outcome(ctx)
    print(figures)
