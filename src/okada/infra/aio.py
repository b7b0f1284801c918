"""Small asyncio helpers that background loops share."""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds pass; True if it was set.

    Background loops (outbox relay, notification dispatcher) sleep this way between passes.
    It uses ``asyncio.timeout`` and not ``asyncio.wait_for``: on Python 3.11, ``wait_for``
    swallows a cancellation that arrives just after the event was set (the inner wait has
    finished, so it returns its result instead of raising), the loop carries on, and the
    host's shutdown waits for it forever (gh-86296).
    """
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
