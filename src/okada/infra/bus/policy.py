"""Delivery policy shared by the bus adapters: retry tiers and the delivery limit."""

from __future__ import annotations

from dataclasses import dataclass

from okada.kernel.ports import DeadLetterSink, MessageHandler

__all__ = ["DeadLetterSink", "DeliveryPolicy", "Handler"]

DELIVERY_LIMIT = 5
"""A message that failed this many deliveries goes to the dead letters (RabbitMQ 3.10 has no
default ``x-delivery-limit``, so we always set it)."""

RETRY_TIERS_SECONDS = (1.0, 5.0, 30.0)
"""Waits before redelivery, by attempt; the last tier repeats."""


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How often and how patiently a consumer is retried."""

    delivery_limit: int = DELIVERY_LIMIT
    retry_tiers: tuple[float, ...] = RETRY_TIERS_SECONDS
    handler_timeout: float = 30.0

    def delay_before(self, attempt: int) -> float:
        """Return the wait before delivery number ``attempt + 1`` (attempt counts from 1)."""
        return self.retry_tiers[min(attempt - 1, len(self.retry_tiers) - 1)]


FAST_TEST_POLICY = DeliveryPolicy(retry_tiers=(0.05, 0.1, 0.2), handler_timeout=10.0)
"""Short waits for tests; same limit."""

Handler = MessageHandler
