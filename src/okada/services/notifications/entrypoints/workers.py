"""Background loop of the notifications service."""

from __future__ import annotations

import asyncio

import structlog

from okada.services.notifications.application.dispatch import Dispatcher

log = structlog.get_logger(__name__)


class Wakeup:
    """Lets the consumer wake the dispatcher when it queued messages (no waiting a tick)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def wake(self) -> None:
        """Ask the dispatcher to run now."""
        self._event.set()

    async def wait(self, timeout: float) -> None:
        """Wait for a wake-up or ``timeout`` seconds (polling pace, not a business delay)."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            pass
        self._event.clear()


async def run_dispatcher(dispatcher: Dispatcher, wakeup: Wakeup, *, interval: float) -> None:
    """Run dispatcher passes until cancelled; due times live in rows, this only polls them.

    Errors are logged and the loop goes on: a message missed now is still due next pass.
    """
    while True:
        try:
            done = await dispatcher.run_once()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("notifications.dispatch_failed", error=repr(exc))
            done = 0
        if done < dispatcher.batch_size:
            await wakeup.wait(interval)
