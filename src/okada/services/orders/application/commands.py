"""Order transitions by people (customer, store, operations) and the read queries."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from okada.kernel.clock import Clock
from okada.kernel.errors import Unavailable
from okada.services.orders.application.ports import (
    OrdersUnitOfWork,
    StreamConflict,
    ViewFilter,
    ViewPage,
)
from okada.services.orders.application.saga import HoldTimes, schedule_steps
from okada.services.orders.domain.errors import OrderNotFound
from okada.services.orders.domain.order import Actor, DomainEvent, Order, ensure_visible

APPEND_ATTEMPTS = 3


class OrderCommands:
    """Load, decide, append; a conflicting append reloads and decides again (up to 3 times)."""

    def __init__(self, *, uow_factory: Callable[[], OrdersUnitOfWork], clock: Clock,
                 limits: HoldTimes) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._limits = limits

    async def transition(self, order_id: uuid.UUID, target: str, actor: Actor,
                         reason: str | None = None) -> dict[str, Any]:
        """Move the order to ``target`` as ``actor``; a repeat returns the current state."""
        return await self._change(
            order_id, lambda order, now: order.transition(target, actor, now, reason=reason))

    async def mark_unavailable(self, order_id: uuid.UUID, product_id: uuid.UUID, actor: Actor,
                               reason: str | None = None) -> dict[str, Any]:
        """Partial fulfilment: one line is missing in the store."""
        return await self._change(
            order_id,
            lambda order, now: order.mark_unavailable(product_id, actor, now, reason))

    async def _change(self, order_id: uuid.UUID,
                      decide: Callable[[Order, Any], bool]) -> dict[str, Any]:
        for _ in range(APPEND_ATTEMPTS):
            now = self._clock.now()
            async with self._uow() as uow:
                order = await uow.orders.load(order_id)
                if order is None:
                    raise OrderNotFound()
                if decide(order, now):
                    try:
                        events = await uow.orders.save(order)
                    except StreamConflict:
                        continue
                    await schedule_steps(uow, order, events, now, self._limits)
                    await uow.commit()
                return uow.views.render(order)
        raise Unavailable("orders_busy", retry_after=1)

    async def get(self, order_id: uuid.UUID, actors: Sequence[Actor]) -> dict[str, Any]:
        """One order's public state if any of the caller's ``actors`` may see it (else 404).

        A person may hold several roles (a merchant who also shops): each is tried.
        """
        async with self._uow() as uow:
            state = await uow.views.get(order_id)
        if state is None:
            raise OrderNotFound()
        rider = uuid.UUID(state["rider_id"]) if state.get("rider_id") else None
        for actor in actors:
            try:
                ensure_visible(actor, uuid.UUID(state["customer_id"]),
                               uuid.UUID(state["store_id"]), rider)
            except OrderNotFound:
                continue
            return state
        raise OrderNotFound()

    async def page(self, where: ViewFilter) -> ViewPage:
        """A page of orders (the caller has already scoped ``where`` to what it may see)."""
        async with self._uow() as uow:
            return await uow.views.page(where)

    async def history(self, order_id: uuid.UUID) -> list[DomainEvent]:
        """Every event of the order (operations)."""
        async with self._uow() as uow:
            events = await uow.orders.history(order_id)
        if not events:
            raise OrderNotFound()
        return events
