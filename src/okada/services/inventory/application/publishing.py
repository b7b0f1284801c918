"""Integration events of inventory, built from the aggregates after a change."""

from __future__ import annotations

from okada.contracts.catalog.v1 import offer_id
from okada.contracts.inventory.v1 import (
    LowStock,
    ReservationConfirmed,
    ReservationLine,
    ReservationReleased,
    ReservationState,
    StockLevelChanged,
    StockReserved,
    StockState,
)
from okada.services.inventory.application.ports import InventoryUnitOfWork
from okada.services.inventory.domain import reservation as domain
from okada.services.inventory.domain.stock import StockItem, crossed_low_threshold


def stock_state(item: StockItem) -> StockState:
    """The public state of a stock item."""
    return StockState(
        store_id=item.store_id,
        product_id=item.product_id,
        on_hand=item.on_hand,
        reserved=item.reserved,
        available=item.available,
        low_stock_threshold=item.low_stock_threshold,
    )


def reservation_state(reservation: domain.Reservation) -> ReservationState:
    """The public state of a reservation."""
    return ReservationState(
        order_id=reservation.order_id,
        store_id=reservation.store_id,
        lines=[ReservationLine(product_id=x.product_id, quantity=x.quantity)
               for x in reservation.lines],
        status=reservation.status.value,
        expires_at=reservation.expires_at,
    )


def publish_level_change(
    uow: InventoryUnitOfWork, item: StockItem, *, reason: str, before_available: int
) -> None:
    """Publish ``StockLevelChanged`` for ``item`` and ``LowStock`` when it crossed its threshold.

    The entity id is the catalog's offer id of (store, product), the version the item's own.
    """
    entity = offer_id(item.store_id, item.product_id)
    state = stock_state(item)
    uow.publish(StockLevelChanged(entity_id=entity, version=item.version, state=state,
                                  reason=reason))
    if crossed_low_threshold(before_available, item):
        uow.publish(LowStock(entity_id=entity, version=item.version, state=state))


def publish_reservation_events(uow: InventoryUnitOfWork, reservation: domain.Reservation) -> None:
    """Turn the reservation's pending domain events into contract events (outbox)."""
    for event in reservation.collect_events():
        state = reservation_state(reservation)
        entity, version = reservation.order_id, reservation.version
        if isinstance(event, domain.ReservationHeld):
            uow.publish(StockReserved(entity_id=entity, version=version, state=state))
        elif isinstance(event, domain.ReservationConfirmed):
            uow.publish(ReservationConfirmed(entity_id=entity, version=version, state=state))
        elif isinstance(event, domain.ReservationEnded):
            uow.publish(ReservationReleased(entity_id=entity, version=version, state=state,
                                            reason=event.reason))
