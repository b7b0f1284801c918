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


def availability_band_changed(before_available: int, after: StockItem) -> bool:
    """Whether a change moved what consumers show of an item.

    Consumers of ``StockLevelChanged`` (catalog and sync: ``in_stock``; the gateway's cache of
    store pages) only show whether an item is available and whether it is low: a change
    matters to them when ``available`` crossed zero (in stock <-> out of stock) or the item's
    low-stock threshold, in either direction.
    """
    before, now, threshold = before_available, after.available, after.low_stock_threshold
    return (before > 0) != (now > 0) or (before <= threshold) != (now <= threshold)


def publish_level_change(
    uow: InventoryUnitOfWork,
    item: StockItem,
    *,
    reason: str,
    before_available: int,
    quiet: bool = False,
) -> None:
    """Publish ``StockLevelChanged`` for ``item`` and ``LowStock`` when it crossed its threshold.

    The entity id is the catalog's offer id of (store, product), the version the item's own.

    With ``quiet`` (order flow: reservations, confirmations, releases, expiries) the level is
    published only when :func:`availability_band_changed`: a busy item then costs no event
    per order line, consumers (which keep the newest version and ignore older ones) still see
    every change of availability, and the version jumps over the unpublished changes. Stock
    adjustments (receipts, counts, damage, returns) always publish.
    """
    if quiet and not availability_band_changed(before_available, item):
        return
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
