"""Background loops must stop when cancelled, whatever moment the cancellation lands on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from okada.infra.aio import wait_event
from okada.infra.hosting import cancel_all


async def _loop(event: asyncio.Event,
                wait: Callable[[asyncio.Event, float], Awaitable[bool]]) -> None:
    """The shape of the outbox relay and the notification dispatcher: pass, then wait."""
    while True:
        await wait(event, 30.0)
        event.clear()


@pytest.mark.parametrize("yields", range(6))
async def test_a_wakeup_racing_the_cancellation_never_keeps_the_loop_alive(yields: int) -> None:
    """A commit wakes the relay just as the host stops: the loop must still end.

    ``asyncio.wait_for`` on Python 3.11 loses a cancellation that arrives after the inner
    wait finished but before the waiting task resumed (two loop turns after ``set``); this
    test lands the cancellation on each of the turns around it.
    """
    event = asyncio.Event()
    task = asyncio.create_task(_loop(event, wait_event))
    await asyncio.sleep(0.01)  # the loop is waiting
    event.set()
    for _ in range(yields):
        await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=1.0)
    assert task in done and task.cancelled()


async def test_wait_event_reports_whether_the_event_fired() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    event.set()
    assert await wait_event(event, 0.01) is True


async def test_cancel_all_gives_up_on_a_task_that_ignores_cancellation() -> None:
    """A stuck task is reported and left behind rather than hanging the shutdown."""
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                continue  # the bug this guards against

    obedient = asyncio.create_task(asyncio.sleep(10))
    stuck = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await cancel_all([obedient, stuck], timeout=0.2)
    assert loop.time() - started < 2.0
    assert obedient.cancelled() and not stuck.done()
    release.set()
    stuck.cancel()
    await asyncio.wait([stuck], timeout=1.0)
