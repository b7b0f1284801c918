"""Background loops of the sync service: tombstone retention and upload expiry."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)


async def run_periodic(name: str, job: Callable[[], Awaitable[int]], *,
                       interval_seconds: float) -> None:
    """Run ``job`` every ``interval_seconds`` until cancelled; errors are logged, the loop
    goes on (what is due now is still due at the next scan)."""
    while True:
        try:
            done = await job()
            if done:
                log.info(f"sync.{name}", count=done)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(f"sync.{name}_failed", error=repr(exc))
        await asyncio.sleep(interval_seconds)


def retention_cutoff(now: dt.datetime, days: float) -> dt.datetime:
    """Tombstones deleted before this instant are purged."""
    return now - dt.timedelta(days=days)
