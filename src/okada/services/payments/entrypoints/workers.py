"""Background loop of the payments service: the reconciliation poller."""

from __future__ import annotations

import asyncio

import structlog

from okada.services.payments.application.payments import PaymentService

log = structlog.get_logger(__name__)


async def run_poller(service: PaymentService, *, interval_seconds: float,
                     batch_size: int) -> None:
    """Check due attempts and refunds every ``interval_seconds`` until cancelled.

    Due times live in the rows (``next_check_at``), so a restart loses nothing; a full batch
    is followed at once by another. Errors are logged and the loop goes on.
    """
    while True:
        try:
            checked = await service.sweep_once(batch_size)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("payments.poll_failed", error=repr(exc))
            checked = 0
        if checked < batch_size:
            await asyncio.sleep(interval_seconds)
