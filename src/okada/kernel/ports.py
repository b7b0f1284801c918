"""Port protocols for technical capabilities; adapters live in ``okada.infra``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from okada.kernel.messages import Envelope

MessageHandler = Callable[[Envelope], Awaitable[None]]
DeadLetterSink = Callable[[str, Envelope, str, int], Awaitable[None]]
"""Called with (consumer, envelope, error, deliveries) when a message is given up."""


class MessageBus(Protocol):
    """Carries envelopes between services, at least once.

    ``publish`` returns only when the transport has taken responsibility for every envelope
    (a broker confirm, or the in-process queues). A consumer handler that raises gets the
    message again later; after the delivery limit the message is dead-lettered.
    """

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        """Hand envelopes to the transport; raise if any was not accepted."""
        ...

    def subscribe(
        self,
        consumer: str,
        schemas: Sequence[str],
        handler: MessageHandler,
        *,
        dead_letter: DeadLetterSink | None = None,
    ) -> None:
        """Register ``handler`` as consumer ``consumer`` for ``schemas`` (before start).

        ``dead_letter`` is called for messages given up after the delivery limit where the
        transport has no dead-letter queue of its own (the in-process bus).
        """
        ...

    async def start(self) -> None:
        """Connect and start consuming."""
        ...

    async def close(self) -> None:
        """Stop consuming and disconnect."""
        ...

    async def is_healthy(self) -> bool:
        """Return whether the transport is reachable now."""
        ...


class Cache(Protocol):
    """A shared cache with expiry, atomic counters and locks."""

    async def get(self, key: str) -> bytes | None:
        """Return the stored value or None."""
        ...

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (forever when None)."""
        ...

    async def delete(self, *keys: str) -> int:
        """Delete keys; return how many existed."""
        ...

    async def incr(self, key: str, *, ttl: float) -> int:
        """Increment a counter, starting its expiry window on first use; return the new value."""
        ...

    def lock(self, key: str, *, ttl: float, wait: float = 5.0) -> AbstractAsyncContextManager[None]:
        """Hold a lock named ``key`` for at most ``ttl`` seconds, waiting ``wait`` to acquire."""
        ...

    async def is_healthy(self) -> bool:
        """Return whether the cache is reachable now."""
        ...
