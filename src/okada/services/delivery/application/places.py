"""Saving a rider's corrected drop point back to the customer's saved place (in identity)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import structlog

from okada.kernel.clock import Clock
from okada.services.delivery.application.model import PlaceCorrection
from okada.services.delivery.application.ports import (
    CustomerPlaces,
    DeliveryUnitOfWork,
    PlaceUpdateFailed,
)

log = structlog.get_logger(__name__)

UowFactory = Callable[[], DeliveryUnitOfWork]


class PlaceCorrectionService:
    """Pushes corrected pins to identity's place API, acting for the customer.

    Business rules:
        - When a rider completes a delivery standing at a point other than the planned drop,
          and the order came from a saved place, a correction row is written in the same
          transaction as the delivery (nothing is lost if identity is down).
        - A worker pushes due rows: the place's pin is set by an ``If-Match`` merge patch
          signed as the customer (the way the gateway and sync act for users). A place the
          customer deleted is dropped; failures are retried with exponential back-off and
          given up after ``max_attempts`` (left ``failed`` for operations).
        - Setting the same pin twice is harmless, so two workers racing on one row is too;
          the outcome is recorded by compare-and-swap on the attempt count.
    """

    def __init__(
        self, *, uow_factory: UowFactory, clock: Clock, places: CustomerPlaces,
        max_attempts: int = 8, first_delay: dt.timedelta = dt.timedelta(seconds=30),
        batch_size: int = 50,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._places = places
        self.max_attempts = max_attempts
        self.first_delay = first_delay
        self.batch_size = batch_size

    async def run_once(self) -> int:
        """Push every due correction; return how many reached their place."""
        now = self._clock.now()
        async with self._uow() as uow:
            due = await uow.place_corrections.due(now, limit=self.batch_size)
        done = 0
        for correction in due:
            if await self._push(correction):
                done += 1
        return done

    async def _push(self, correction: PlaceCorrection) -> bool:
        error: str | None = None
        attempts = correction.attempts + 1
        try:
            found = await self._places.move_pin(correction.customer_id, correction.place_id,
                                                correction.lat, correction.lng)
            status = "done" if found else "dropped"
        except PlaceUpdateFailed as exc:
            error = str(exc)[:200]
            status = "failed" if attempts >= self.max_attempts else "pending"
        now = self._clock.now()
        next_at = now + self.first_delay * (2 ** (attempts - 1))
        async with self._uow() as uow:
            recorded = await uow.place_corrections.record(
                correction, status=status, attempts=attempts, next_attempt_at=next_at,
                error=error, now=now)
            await uow.commit()
        if error is not None:
            log.warning("delivery.place_correction_failed", delivery_id=str(
                correction.delivery_id), attempts=attempts, error=error)
        return recorded and status == "done"
