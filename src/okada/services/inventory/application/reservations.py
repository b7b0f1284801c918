"""Basket reservations: hold, confirm, release, extend and expire, all or nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import NoReturn

from okada.contracts.inventory.v1 import ReservationLine, StockShortage
from okada.kernel.clock import Clock
from okada.services.inventory.application.errors import (
    MissingLine,
    OutOfStock,
    ProductNotOffered,
    RejectedLine,
    ReservationExists,
    ReservationNotFound,
    TransientConflict,
)
from okada.services.inventory.application.ports import InventoryUnitOfWork
from okada.services.inventory.application.publishing import (
    publish_level_change,
    publish_reservation_events,
    reservation_state,
)
from okada.services.inventory.application.retry import with_retries
from okada.services.inventory.domain.errors import (
    ReservationExpired,
    ReservationMismatch,
    ReservationReleased,
)
from okada.services.inventory.domain.reservation import (
    Line,
    Reservation,
    ReservationPolicy,
    ReservationStatus,
    basket,
)
from okada.services.inventory.domain.stock import StockItem

UowFactory = Callable[[], InventoryUnitOfWork]


@dataclass(frozen=True, slots=True)
class ReserveBasket:
    """Command: hold a whole basket of one store for an order."""

    order_id: uuid.UUID
    store_id: uuid.UUID
    lines: Sequence[tuple[uuid.UUID, int]]
    ttl_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class Reserved:
    """Outcome of :meth:`ReservationService.reserve`; ``replayed`` for a repeated request."""

    reservation: Reservation
    replayed: bool


class ReservationService:
    """Use cases on reservations (called by the orders service and operations staff)."""

    def __init__(
        self,
        *,
        uow_factory: UowFactory,
        clock: Clock,
        policy: ReservationPolicy,
        quiet_levels: bool = False,
    ) -> None:
        """``quiet_levels``: publish ``StockLevelChanged`` for order-flow changes (hold,
        confirm, release, expiry) only when availability crossed zero or the low-stock
        threshold (see :func:`publish_level_change`); the service runs with it on by default
        (``INVENTORY_STOCK_LEVEL_EVENTS=availability``)."""
        self._uow = uow_factory
        self._clock = clock
        self.policy = policy
        self.quiet_levels = quiet_levels

    async def get(self, order_id: uuid.UUID) -> Reservation:
        """The reservation of an order.

        Raises:
            ReservationNotFound: The order has none.
        """
        async with self._uow() as uow:
            reservation = await uow.reservations.get(order_id)
        if reservation is None:
            raise ReservationNotFound()
        return reservation

    async def reserve(self, command: ReserveBasket) -> Reserved:
        """Hold every line of a basket, or nothing.

        Business rules:
            - Quantities are whole numbers from 1 to 999; lines of one product are merged.
            - Each line is held by one conditional update that succeeds only if the store
              offers the product (listed, not withdrawn) and that much is available; lines
              are taken in product-id order (the fixed lock order).
            - If a line fails, the whole transaction rolls back and nothing is reserved: 422
              ``product_not_offered`` naming the lines the store does not sell, else 409
              ``out_of_stock`` naming the short lines, with ``StockShortage`` published.
            - Idempotent on the order id: the same store and lines return the existing
              reservation; other lines are 409 ``reservation_mismatch``. A reservation that
              ended (released, expired) is not held again under the same order id.
            - Publishes ``StockReserved`` and, per touched item, ``StockLevelChanged``
              (plus ``LowStock`` when it crossed its threshold), all through the outbox;
              with ``quiet_levels`` an item's level only when its availability crossed zero
              or its low-stock threshold.
            - A deadlock or serialization failure reruns the transaction (up to 3 times).
        """
        lines = basket(command.lines)
        ttl = self.policy.ttl(command.ttl_seconds)

        async def attempt() -> Reserved:
            async with self._uow() as uow:
                return await self._reserve(uow, command, lines, ttl=ttl)

        return await with_retries(attempt)

    async def _reserve(
        self,
        uow: InventoryUnitOfWork,
        command: ReserveBasket,
        lines: tuple[Line, ...],
        *,
        ttl: dt.timedelta,
    ) -> Reserved:
        now = self._clock.now()
        reservation = Reservation.hold(
            order_id=command.order_id,
            store_id=command.store_id,
            lines=lines,
            now=now,
            ttl=ttl,
        )
        try:
            # The reservation row goes first: its key is the idempotency check (no read
            # before), and a concurrent request for the same order waits on that key here
            # instead of competing for stock it would hand back anyway.
            await uow.reservations.add(reservation)
        except ReservationExists:
            await uow.rollback()
            existing = await uow.reservations.get(command.order_id)
            if existing is None:  # the winner rolled back after all: run again
                raise TransientConflict() from None
            return self._replay(existing, command.store_id, lines)
        held: list[tuple[Line, StockItem]] = []
        for index, line in enumerate(reservation.lines):  # by product id: the fixed lock order
            after = await uow.stock.reserve(command.store_id, line.product_id, line.quantity)
            if after is None:
                await self._refuse(
                    uow, reservation, short=line, unchecked=reservation.lines[index + 1 :]
                )
            held.append((line, after))
        for line, item in held:
            publish_level_change(
                uow,
                item,
                reason="reservation",
                before_available=item.available + line.quantity,
                quiet=self.quiet_levels,
            )
        publish_reservation_events(uow, reservation)
        await uow.commit()
        return Reserved(reservation=reservation, replayed=False)

    async def _refuse(
        self,
        uow: InventoryUnitOfWork,
        reservation: Reservation,
        *,
        short: Line,
        unchecked: tuple[Line, ...],
    ) -> NoReturn:
        # A guarded update failed: the product is not offered or not enough is available.
        # The basket is lost, so the lines after it are only read, not locked, to name every
        # line at fault without holding more hot rows (read committed: the latest levels).
        lines = (short, *unchecked)
        now_items = await uow.stock.get_many(reservation.store_id, [x.product_id for x in lines])
        rejected = [r for r in (_rejection(x, now_items.get(x.product_id)) for x in lines) if r]
        if rejected:
            raise ProductNotOffered(rejected)
        missing: list[MissingLine] = []
        for line in lines:
            available = now_items[line.product_id].available
            if line is short or available < line.quantity:
                missing.append(MissingLine(line.product_id, line.quantity, max(available, 0)))
        await uow.rollback()  # all or nothing: the lines already held go back too
        state = reservation_state(reservation).model_copy(update={"status": "rejected"})
        uow.publish(
            StockShortage(
                entity_id=reservation.order_id,
                version=0,  # nothing was stored: a later successful hold is version 1
                state=state,
                missing=[ReservationLine(product_id=x.product_id, quantity=x.requested)
                         for x in missing],
            )
        )
        await uow.commit()
        raise OutOfStock(missing)

    def _replay(
        self, existing: Reservation, store_id: uuid.UUID, lines: tuple[Line, ...]
    ) -> Reserved:
        if not existing.same_request(store_id, lines):
            raise ReservationMismatch()
        # A hold that ended (or is past its time) is reported, never silently renewed.
        existing.ensure_live(self._clock.now())
        return Reserved(reservation=existing, replayed=True)

    async def confirm(self, order_id: uuid.UUID) -> Reservation:
        """The goods leave the shelf with the order: ``on_hand`` and ``reserved`` drop.

        Business rules:
            - Only a held reservation inside its hold time is confirmed; confirming twice
              returns the confirmed reservation.
            - After the hold time: 409 ``reservation_expired``. If the sweeper has not
              reached it yet the expiry is done here, in its own committed transaction,
              so the stock goes back on sale exactly once.
            - After a release: 409 ``reservation_released``.
        """
        return await with_retries(lambda: self._confirm(order_id))

    async def _confirm(self, order_id: uuid.UUID) -> Reservation:
        async with self._uow() as uow:
            reservation = await _load(uow, order_id)
            now = self._clock.now()
            if reservation.is_due(now):
                await expire_held(uow, reservation, now, quiet=self.quiet_levels)
                await uow.commit()
                raise ReservationExpired()
            if not reservation.confirm(now):
                return reservation
            if not await uow.reservations.save_transition(
                reservation, from_status=ReservationStatus.HELD, live_at=now
            ):
                return await self._lost_race(uow, order_id)
            for line in reservation.lines:
                item = await uow.stock.ship(reservation.store_id, line.product_id, line.quantity)
                publish_level_change(uow, item, reason="confirm", before_available=item.available,
                                     quiet=self.quiet_levels)
            publish_reservation_events(uow, reservation)
            await uow.commit()
            return reservation

    async def release(self, order_id: uuid.UUID, *, reason: str) -> Reservation:
        """Give a held basket back to the shelf (order cancelled, payment failed).

        Business rules: releasing twice, or after expiry, returns the reservation as it is
        (the stock is already back); releasing a confirmed reservation is 409
        ``reservation_already_confirmed`` (returns are stock adjustments).
        """
        return await with_retries(lambda: self._release(order_id, reason))

    async def _release(self, order_id: uuid.UUID, reason: str) -> Reservation:
        async with self._uow() as uow:
            reservation = await _load(uow, order_id)
            now = self._clock.now()
            if not reservation.release(now, reason):
                return reservation
            if not await uow.reservations.save_transition(
                reservation, from_status=ReservationStatus.HELD
            ):
                await uow.rollback()
                current = await _load(uow, order_id)
                if current.status is ReservationStatus.HELD:
                    raise TransientConflict()  # the guard missed without a change: run again
                current.release(now, reason)  # raises if it was confirmed meanwhile
                return current
            await _unreserve_lines(uow, reservation, reason="release", quiet=self.quiet_levels)
            publish_reservation_events(uow, reservation)
            await uow.commit()
            return reservation

    async def extend(self, order_id: uuid.UUID, *, ttl_seconds: int) -> Reservation:
        """Hold for ``ttl_seconds`` more from now while a mobile-money payment is pending.

        Business rules: the hold never shortens and never exceeds the policy's maximum total
        hold after creation; a reservation past its hold time, released or confirmed is 409.
        """
        ttl = self.policy.ttl(ttl_seconds)
        return await with_retries(lambda: self._extend(order_id, ttl=ttl))

    async def _extend(self, order_id: uuid.UUID, *, ttl: dt.timedelta) -> Reservation:
        async with self._uow() as uow:
            reservation = await _load(uow, order_id)
            now = self._clock.now()
            reservation.extend(now, ttl, self.policy)
            if not await uow.reservations.save_transition(
                reservation, from_status=ReservationStatus.HELD, live_at=now
            ):
                await uow.rollback()
                current = await _load(uow, order_id)
                current.extend(now, ttl, self.policy)  # raises why the hold is over
                raise ReservationExpired()
            await uow.commit()
            return reservation

    async def _lost_race(self, uow: InventoryUnitOfWork, order_id: uuid.UUID) -> Reservation:
        # Another transaction (the sweeper, a release) ended the hold between our read and
        # our guarded write; report what it did.
        await uow.rollback()
        current = await _load(uow, order_id)
        if current.status is ReservationStatus.CONFIRMED:
            return current
        if current.status is ReservationStatus.RELEASED:
            raise ReservationReleased()
        raise ReservationExpired()


class ExpirySweeper:
    """Ends held reservations whose hold time ran out and puts their stock back on sale.

    Business rules: due reservations are rows with a due time, found by a periodic scan, so
    nothing is lost when the process restarts. Each expiry is its own transaction whose
    status change is guarded (``held`` and due), so any number of sweepers may run: exactly
    one wins each reservation and only the winner returns the stock.
    """

    def __init__(self, *, uow_factory: UowFactory, clock: Clock, batch_size: int = 200,
                 quiet_levels: bool = False) -> None:
        self._uow = uow_factory
        self._clock = clock
        self.batch_size = batch_size
        self.quiet_levels = quiet_levels

    async def sweep_once(self) -> int:
        """Expire every reservation due now (up to one batch); return how many this call won."""
        now = self._clock.now()
        async with self._uow() as uow:
            due = await uow.reservations.due(now, limit=self.batch_size)
        won = 0
        for order_id in due:
            if await with_retries(partial(self._expire, order_id)):
                won += 1
        return won

    async def _expire(self, order_id: uuid.UUID) -> bool:
        async with self._uow() as uow:
            reservation = await uow.reservations.get(order_id)
            if reservation is None:
                return False
            won = await expire_held(uow, reservation, self._clock.now(),
                                    quiet=self.quiet_levels)
            if won:
                await uow.commit()
            return won


async def expire_held(
    uow: InventoryUnitOfWork, reservation: Reservation, now: dt.datetime, *, quiet: bool = False
) -> bool:
    """Expire a due held reservation in ``uow``; True only for the transaction that won.

    ``quiet``: stock levels published only on an availability change (see
    :func:`publish_level_change`).
    """
    if not reservation.expire(now):
        return False
    if not await uow.reservations.save_transition(
        reservation, from_status=ReservationStatus.HELD, due_by=now
    ):
        return False
    await _unreserve_lines(uow, reservation, reason="expiry", quiet=quiet)
    publish_reservation_events(uow, reservation)
    return True


async def _unreserve_lines(
    uow: InventoryUnitOfWork, reservation: Reservation, *, reason: str, quiet: bool = False
) -> None:
    for line in reservation.lines:  # the same fixed lock order as the hold
        item = await uow.stock.unreserve(reservation.store_id, line.product_id, line.quantity)
        if quiet:
            # Units came back: availability before was this much lower (the low-stock alert
            # only fires downwards, so it is unaffected).
            publish_level_change(uow, item, reason=reason,
                                 before_available=item.available - line.quantity, quiet=True)
        else:
            publish_level_change(uow, item, reason=reason, before_available=item.available)


async def _load(uow: InventoryUnitOfWork, order_id: uuid.UUID) -> Reservation:
    reservation = await uow.reservations.get(order_id)
    if reservation is None:
        raise ReservationNotFound()
    return reservation


def _rejection(line: Line, item: StockItem | None) -> RejectedLine | None:
    if item is None:
        return RejectedLine(line.product_id, "unknown")
    if item.removed:
        return RejectedLine(line.product_id, "removed")
    if not item.listed:
        return RejectedLine(line.product_id, "not_listed")
    return None
