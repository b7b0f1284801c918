"""inventory.v1: stock levels per (store, product) and basket reservations."""

from __future__ import annotations

import datetime as dt
import uuid

from okada.contracts.base import ContractModel, IntegrationEvent


class StockState(ContractModel):
    """Stock of one product in one store.

    ``available`` = ``on_hand`` - ``reserved``; it never goes below zero.
    """

    store_id: uuid.UUID
    product_id: uuid.UUID
    on_hand: int
    reserved: int
    available: int
    low_stock_threshold: int


class StockLevelChanged(IntegrationEvent, schema="inventory.v1.StockLevelChanged"):
    """Stock of a (store, product) changed; ``entity_id`` is the catalog's offer id of it."""

    state: StockState
    reason: str  # "reservation", "release", "confirm", "receipt", "count", "damage", "return"…


class LowStock(IntegrationEvent, schema="inventory.v1.LowStock"):
    """Available stock fell to or below the item's threshold."""

    state: StockState


class ReservationLine(ContractModel):
    """One line of a reserved basket."""

    product_id: uuid.UUID
    quantity: int


class ReservationState(ContractModel):
    """A basket held for an order."""

    order_id: uuid.UUID
    store_id: uuid.UUID
    lines: list[ReservationLine]
    status: str  # "held", "confirmed", "released", "expired"; "rejected" in StockShortage
    expires_at: dt.datetime


class StockReserved(IntegrationEvent, schema="inventory.v1.StockReserved"):
    """A whole basket was reserved for an order (``entity_id`` is the order id)."""

    state: ReservationState


class StockShortage(IntegrationEvent, schema="inventory.v1.StockShortage"):
    """A basket could not be reserved; nothing was reserved.

    ``state.status`` is ``"rejected"`` and ``version`` is 0 (no reservation was stored, so a
    later successful hold of the same order is version 1); ``missing`` holds the short lines
    with the quantities asked for.
    """

    state: ReservationState
    missing: list[ReservationLine]


class ReservationConfirmed(IntegrationEvent, schema="inventory.v1.ReservationConfirmed"):
    """The reserved goods left the shelf with the order."""

    state: ReservationState


class ReservationReleased(IntegrationEvent, schema="inventory.v1.ReservationReleased"):
    """A reservation was released (cancelled order, failed payment) or expired."""

    state: ReservationState
    reason: str
