"""Background loops of the delivery service."""

from __future__ import annotations

import asyncio

import structlog

from okada.services.delivery.application.dispatch import DispatchService
from okada.services.delivery.application.places import PlaceCorrectionService
from okada.services.delivery.application.riders import RiderService

log = structlog.get_logger(__name__)


async def run_dispatcher(
    dispatch: DispatchService, riders: RiderService, *, interval_seconds: float
) -> None:
    """Every ``interval_seconds``: set silent riders offline, expire lapsed offers and offer
    due jobs, until cancelled.

    Due times are rows (``deliveries.dispatch_due_at``, ``offers.expires_at``) scanned here,
    so nothing is lost on restart and any number of replicas may run the loop: every write is
    a guarded compare-and-swap. Errors are logged and the loop goes on.
    """
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            silent = await riders.expire_stale()
            if silent:
                log.info("delivery.silent_riders_offline", count=silent)
            made = await dispatch.run_once()
            if made:
                log.info("delivery.offers_made", count=made)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("delivery.dispatch_loop_failed", error=repr(exc))


async def run_place_corrections(
    corrections: PlaceCorrectionService, *, interval_seconds: float
) -> None:
    """Push rider-corrected drop points to the customers' saved places, until cancelled."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            done = await corrections.run_once()
            if done:
                log.info("delivery.places_corrected", count=done)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("delivery.place_corrections_failed", error=repr(exc))
