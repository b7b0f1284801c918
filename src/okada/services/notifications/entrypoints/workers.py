"""Background loop of the notifications service."""

from __future__ import annotations

import asyncio

import structlog

from okada.infra.aio import wait_event
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
        await wait_event(self._event, timeout)
        self._event.clear()


MIN_PASS_SECONDS = 0.05
"""Shortest time between two passes: under load, the messages queued by the orders of that
interval are found by one scan instead of one scan per message (at most this much later)."""


async def run_dispatcher(dispatcher: Dispatcher, wakeup: Wakeup, *, interval: float,
                         min_pass: float = MIN_PASS_SECONDS) -> None:
    """Run dispatcher passes until cancelled; due times live in rows, this only polls them.

    A wake-up (a consumer queued messages) sends at once; the receipt scans run at most once
    per ``interval``, since their deadlines are seconds to minutes away and scanning them on
    every queued message would cost a few queries per order for nothing.

    Errors are logged and the loop goes on: a message missed now is still due next pass.
    """
    loop = asyncio.get_running_loop()
    scanned_at = passed_at = float("-inf")
    while True:
        pause = min_pass - (loop.time() - passed_at)
        if pause > 0:
            await asyncio.sleep(pause)  # batching pace, not a business wait
        passed_at = loop.time()
        receipts = loop.time() - scanned_at >= interval
        if receipts:
            scanned_at = loop.time()
        try:
            done = await dispatcher.run_once(receipts=receipts)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("notifications.dispatch_failed", error=repr(exc))
            done = 0
        if done < dispatcher.batch_size:
            await wakeup.wait(interval)
