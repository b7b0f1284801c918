"""Running a transaction again when the database aborted it for a transient reason."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from okada.kernel.errors import Unavailable
from okada.services.inventory.application.errors import TransientConflict

T = TypeVar("T")

MAX_RETRIES = 3


async def with_retries(operation: Callable[[], Awaitable[T]], *, retries: int = MAX_RETRIES) -> T:
    """Run ``operation`` (one whole transaction); retry it up to ``retries`` times.

    Business rule: a PostgreSQL deadlock (40P01) or serialization failure (40001) rolled the
    whole transaction back, so running it again from the start is safe. A short random pause
    lets the other transaction finish. When every attempt fails the caller gets a 503 it may
    retry, never a half-done basket.
    """
    for attempt in range(retries + 1):
        try:
            return await operation()
        except TransientConflict:
            if attempt == retries:
                break
            # Jittered backoff so the transactions that collided do not collide again.
            await asyncio.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
    raise Unavailable("inventory_busy", retry_after=1)
