"""Background loops of the orders service."""

from __future__ import annotations

import asyncio

import structlog

from okada.services.orders.application.saga import SagaRunner

log = structlog.get_logger(__name__)


async def run_saga(runner: SagaRunner, *, interval_seconds: float) -> None:
    """Run due saga steps every ``interval_seconds`` until cancelled.

    A full batch is followed at once by another, so a backlog after downtime drains quickly.
    Errors are logged and the loop goes on: a step not finished now is still due later.
    """
    while True:
        try:
            done = await runner.run_once()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("orders.saga_scan_failed", error=repr(exc))
            done = 0
        if done < runner.batch_size:
            await asyncio.sleep(interval_seconds)
