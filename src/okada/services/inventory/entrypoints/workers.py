"""Background loops of the inventory service."""

from __future__ import annotations

import asyncio

import structlog

from okada.services.inventory.application.reservations import ExpirySweeper

log = structlog.get_logger(__name__)


async def run_sweeper(sweeper: ExpirySweeper, *, interval_seconds: float) -> None:
    """Expire due reservations every ``interval_seconds`` until cancelled.

    A full batch is followed at once by another sweep, so a backlog after downtime drains
    without waiting an interval per batch. Errors are logged and the loop goes on: a
    reservation missed now is still due at the next scan.
    """
    while True:
        try:
            expired = await sweeper.sweep_once()
            if expired:
                log.info("inventory.reservations_expired", count=expired)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("inventory.sweep_failed", error=repr(exc))
            expired = 0
        if expired < sweeper.batch_size:
            await asyncio.sleep(interval_seconds)
