"""The order saga: stock is orchestrated by orders, money is choreographed with payments.

Why both: stock has one owner we can call and whose every operation is idempotent on the
reservation id (hold, release, confirm, extend), so orders drives it step by step and knows
at any time which compensation is still due; the steps are rows with a due time (keyed
``(order, step)``), written in the same transaction as the order events that call for them
and run by a worker with retries and backoff, never by sleeping. Money belongs to payments,
which talks to providers whose outcomes arrive minutes later as hints; it reacts to our events
(``OrderPlaced``, ``OrderCancelled``…) and we react to its verdicts (``PaymentCaptured`` /
``PaymentFailed``), so neither service waits on the other and a provider timeout stays an
unknown outcome inside payments. Orders' own backstop (``expire`` step) ends an unpaid order
after the payment window plus a grace even if payments is down, so every order reaches a
terminal state.

Steps (the key names the reservation, so a later hold of the same order is a new step):
    - ``expire``: PENDING_PAYMENT past ``payment_due_at`` + grace → ``OrderExpired``.
    - ``extend:<rid>``: a confirmed order keeps its basket held until pickup.
    - ``release:<rid>``: cancelled or expired → the basket goes back on sale.
    - ``confirm:<rid>``: picked up → the goods leave the shelf.
    - ``return:<rid>``: delivery failed → goods back into stock.
    - ``late_payment``: captured after expiry → hold again and confirm, or cancel.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Protocol

import structlog

from okada.kernel.clock import Clock
from okada.services.orders.application.ports import (
    InventoryPort,
    OrdersUnitOfWork,
    OutOfStock,
    ReservationEnded,
    SagaStep,
    StreamConflict,
)
from okada.services.orders.domain.errors import ProductsUnavailable
from okada.services.orders.domain.order import (
    CONFIRMED,
    EXPIRED,
    MOBILE_MONEY,
    DomainEvent,
    Order,
)

log = structlog.get_logger(__name__)

LEASE_SECONDS = 30.0
RESERVATION_NAMESPACE = uuid.UUID("4b0e1b55-77e2-4a8f-9a0c-5f7f3c2d9e11")


def derived_reservation_id(order_id: uuid.UUID, label: str) -> uuid.UUID:
    """A stable reservation id for another hold of the same order (retry, late payment)."""
    return uuid.uuid5(RESERVATION_NAMESPACE, f"{order_id}:{label}")


class HoldTimes(Protocol):
    """The settings the saga reads."""

    @property
    def payment_grace_seconds(self) -> int:
        """Seconds after ``payment_due_at`` before orders expires an unpaid order itself."""
        ...

    @property
    def cash_hold_seconds(self) -> int:
        """How long a confirmed order's basket is held (extended) until pickup."""
        ...


async def schedule_steps(uow: OrdersUnitOfWork, order: Order, events: list[DomainEvent],
                         now: dt.datetime, limits: HoldTimes) -> None:
    """Add the saga rows the appended events call for (same transaction as the append)."""
    rid = order.reservation_id
    placed_now = any(e.type == "OrderPlaced" for e in events)
    for event in events:
        kind = event.type
        if kind == "OrderPlaced" and order.payment_method in MOBILE_MONEY:
            due = (order.payment_due_at or now) + dt.timedelta(
                seconds=limits.payment_grace_seconds)
            await uow.saga.schedule(order.id, "expire", due, {})
        if rid is None:
            continue
        if kind == "OrderConfirmed" and not placed_now:
            # Confirmed later (mobile money captured, late payment, operations): hold the
            # basket until pickup. A cash order was reserved for that long at checkout.
            await uow.saga.schedule(order.id, f"extend:{rid}", now,
                                    {"ttl": limits.cash_hold_seconds})
        elif kind in ("OrderCancelled", "OrderExpired"):
            await uow.saga.schedule(order.id, f"release:{rid}", now,
                                    {"reason": (event.reason or kind)[:200]})
        elif kind in ("OrderPickedUp", "OrderDelivered"):
            await uow.saga.schedule(order.id, f"confirm:{rid}", now, {})
        elif kind == "OrderDeliveryFailed":
            await uow.saga.schedule(order.id, f"return:{rid}", now, {})
        elif kind == "PaymentRecorded" and order.status == EXPIRED:
            await uow.saga.schedule(order.id, "late_payment", now, {})


class SagaRunner:
    """Runs due saga steps; each is idempotent, retried with exponential backoff."""

    def __init__(self, *, uow_factory: Callable[[], OrdersUnitOfWork], clock: Clock,
                 inventory: InventoryPort, limits: HoldTimes, batch_size: int = 100,
                 max_backoff_seconds: float = 300.0) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._inventory = inventory
        self._limits = limits
        self.batch_size = batch_size
        self._max_backoff = max_backoff_seconds

    async def run_once(self) -> int:
        """Run every step due now (one batch); return how many finished."""
        now = self._clock.now()
        async with self._uow() as uow:
            due = await uow.saga.due(now, self.batch_size)
        finished = 0
        for step in due:
            async with self._uow() as uow:
                claimed = await uow.saga.claim(
                    step, now + dt.timedelta(seconds=LEASE_SECONDS))
                await uow.commit()
            if not claimed:
                continue  # another worker took it
            try:
                note = await self._run(step)
            except Exception as exc:
                delay = min(2.0 ** step.attempts, self._max_backoff)
                log.warning("orders.saga_step_failed", order_id=str(step.order_id),
                            step=step.step, attempt=step.attempts + 1, error=repr(exc))
                async with self._uow() as uow:
                    await uow.saga.retry_at(step.order_id, step.step,
                                            self._clock.now() + dt.timedelta(seconds=delay),
                                            repr(exc)[:500])
                    await uow.commit()
                continue
            async with self._uow() as uow:
                await uow.saga.finish(step.order_id, step.step, self._clock.now(), note)
                await uow.commit()
            finished += 1
        return finished

    async def _run(self, step: SagaStep) -> str | None:
        name, _, rid_text = step.step.partition(":")
        if name == "expire":
            return await self._expire(step.order_id)
        if name == "late_payment":
            return await self._late_payment(step.order_id)
        rid = uuid.UUID(rid_text)
        if name == "release":
            return await self._inventory.release(rid, str(step.payload.get("reason", "order")))
        if name == "confirm":
            status = await self._inventory.confirm(rid)
            if status != "confirmed":
                # The hold ended before pickup (longer than inventory's maximum hold): the
                # goods left anyway; operations reconcile the shelf count.
                log.error("orders.confirm_after_hold_ended", order_id=str(step.order_id))
            return status
        if name == "extend":
            return await self._inventory.extend(rid, int(step.payload.get("ttl", 1800)))
        if name == "return":
            return await self._return(step.order_id, rid)
        return f"unknown step {name}"

    async def _expire(self, order_id: uuid.UUID) -> str:
        return await self._mutate(order_id, lambda order, now: order.expire_unpaid(now))

    async def _mutate(self, order_id: uuid.UUID,
                      change: Callable[[Order, dt.datetime], bool]) -> str:
        for _ in range(3):
            now = self._clock.now()
            async with self._uow() as uow:
                order = await uow.orders.load(order_id)
                if order is None:
                    return "missing"
                if not change(order, now):
                    return "noop"
                try:
                    events = await uow.orders.save(order)
                except StreamConflict:
                    continue  # someone appended first: reload and decide again
                await schedule_steps(uow, order, events, now, self._limits)
                await uow.commit()
                return "done"
        raise StreamConflict()

    async def _late_payment(self, order_id: uuid.UUID) -> str:
        async with self._uow() as uow:
            order = await uow.orders.load(order_id)
        if order is None or order.status != EXPIRED or order.payment_status != "captured":
            return "noop"
        # The label carries the stream version, so a crash after the hold and before the
        # append retries with the same id and gets the same hold back.
        rid = derived_reservation_id(order_id, f"late-{order.version}")
        lines = [(x.product_id, x.quantity) for x in order.available_lines]
        try:
            await self._inventory.reserve(rid, order.store_id, lines,
                                          self._limits.cash_hold_seconds)
        except (OutOfStock, ProductsUnavailable, ReservationEnded):
            return await self._mutate(order_id, lambda o, now: o.late_cancel(now))
        result = await self._mutate(order_id, lambda o, now: o.late_confirm(rid, now))
        if result != "done":
            async with self._uow() as uow:
                current = await uow.orders.load(order_id)
            if current is None or current.status != CONFIRMED or current.reservation_id != rid:
                await self._inventory.release(rid, "late_payment_not_needed")
        return result

    async def _return(self, order_id: uuid.UUID, rid: uuid.UUID) -> str:
        status = await self._inventory.status(rid)
        if status == "held":
            return await self._inventory.release(rid, "delivery_failed")
        if status != "confirmed":
            return status
        async with self._uow() as uow:
            order = await uow.orders.load(order_id)
        if order is None:
            return "missing"
        for line in order.available_lines:
            await self._inventory.return_goods(
                order.store_id, line.product_id, line.quantity,
                key=f"orders-return-{order_id}-{line.product_id}",
                note=f"delivery failed, order {order_id}",
            )
        return "returned"

