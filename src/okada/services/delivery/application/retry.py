"""Running a use case again when a compare-and-swap lost to a concurrent writer."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from okada.kernel.errors import ConcurrencyConflict
from okada.services.delivery.application.errors import TransientConflict

T = TypeVar("T")

MAX_RETRIES = 4


async def with_retries(operation: Callable[[], Awaitable[T]], *, retries: int = MAX_RETRIES) -> T:
    """Run ``operation`` (one whole transaction) again after a lost compare-and-swap.

    Business rule: the loser re-reads the state the winner wrote and decides again (a replay
    may then be a no-op, a claim may then be refused); after ``retries`` the caller gets 409
    ``concurrency_conflict`` it may retry.
    """
    for attempt in range(retries + 1):
        try:
            return await operation()
        except TransientConflict:
            if attempt == retries:
                break
            await asyncio.sleep(random.uniform(0.002, 0.01) * (attempt + 1))
    raise ConcurrencyConflict()
