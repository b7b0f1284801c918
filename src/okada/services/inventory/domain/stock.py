"""Stock of one product in one store: levels, sellability and adjustments with reason codes."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass

from okada.services.inventory.domain.errors import InvalidQuantity, StockBelowReserved

MAX_ADJUSTMENT_QUANTITY = 100_000
"""Largest quantity one adjustment may move (a whole lorry of water packs, not a typo)."""

DEFAULT_LOW_STOCK_THRESHOLD = 5


class AdjustmentKind(enum.StrEnum):
    """Why a merchant changes the shelf count.

    ``receipt`` and ``return`` add units, ``damage`` removes them, ``count`` replaces the
    number on the shelf with what staff counted.
    """

    RECEIPT = "receipt"
    COUNT = "count"
    DAMAGE = "damage"
    RETURN = "return"


@dataclass(frozen=True, slots=True)
class AdjustmentPlan:
    """The effect of one adjustment on ``on_hand``, decided before it is written."""

    kind: AdjustmentKind
    quantity: int
    on_hand_before: int
    on_hand_after: int

    @property
    def delta(self) -> int:
        """Units added (positive) or removed (negative)."""
        return self.on_hand_after - self.on_hand_before

    @property
    def absolute(self) -> bool:
        """A count replaces the shelf count; the other kinds move it by :attr:`delta`."""
        return self.kind is AdjustmentKind.COUNT

    def rebased(self, on_hand_before: int) -> AdjustmentPlan:
        """The same relative move applied to the shelf count actually found."""
        return AdjustmentPlan(
            kind=self.kind,
            quantity=self.quantity,
            on_hand_before=on_hand_before,
            on_hand_after=on_hand_before + self.delta,
        )


@dataclass(slots=True)
class StockItem:
    """Stock of one product in one store.

    Business rules:
        - ``available`` = ``on_hand`` - ``reserved`` and never goes below zero; ``reserved``
          never goes below zero either. The database enforces both with a CHECK constraint,
          so a bug in code still cannot oversell.
        - Only a *sellable* item (listed by the store, product not withdrawn from the catalog)
          can be reserved; stock of unsellable items is still counted and adjusted.
        - ``version`` increases by one with every change of the levels; it is the version
          carried by ``inventory.v1.StockLevelChanged``.
    """

    store_id: uuid.UUID
    product_id: uuid.UUID
    on_hand: int
    reserved: int
    low_stock_threshold: int = DEFAULT_LOW_STOCK_THRESHOLD
    listed: bool = True
    removed: bool = False
    version: int = 1

    @property
    def available(self) -> int:
        """Units that can still be reserved."""
        return self.on_hand - self.reserved

    @property
    def sellable(self) -> bool:
        """Whether customers can buy this item at all."""
        return self.listed and not self.removed

    @property
    def is_low(self) -> bool:
        """Available stock is at or below the store's alert threshold."""
        return self.available <= self.low_stock_threshold

    def can_reserve(self, quantity: int) -> bool:
        """The reservation guard: sellable and at least ``quantity`` available.

        The SQL adapter evaluates the same predicate inside its conditional UPDATE, so the
        check and the write are one atomic step under concurrency.
        """
        return self.sellable and self.available >= quantity

    def plan_adjustment(self, kind: AdjustmentKind, quantity: int) -> AdjustmentPlan:
        """Decide the new ``on_hand`` of an adjustment.

        Business rules:
            - ``receipt``, ``return`` and ``damage`` move a positive ``quantity``; ``count`` is
              an absolute shelf count and may be zero.
            - No adjustment may leave ``on_hand`` below ``reserved``: units promised to orders
              must stay on the shelf until those orders are confirmed or released (409).

        Raises:
            InvalidQuantity: The quantity is out of range for the kind.
            StockBelowReserved: The result would be below the reserved units.
        """
        minimum = 0 if kind is AdjustmentKind.COUNT else 1
        if not minimum <= quantity <= MAX_ADJUSTMENT_QUANTITY:
            raise InvalidQuantity(self.product_id, quantity, MAX_ADJUSTMENT_QUANTITY)
        if kind is AdjustmentKind.COUNT:
            after = quantity
        elif kind is AdjustmentKind.DAMAGE:
            after = self.on_hand - quantity
        else:
            after = self.on_hand + quantity
        if after < self.reserved:
            raise StockBelowReserved(on_hand=after, reserved=self.reserved)
        return AdjustmentPlan(
            kind=kind, quantity=quantity, on_hand_before=self.on_hand, on_hand_after=after
        )


def crossed_low_threshold(before_available: int, after: StockItem) -> bool:
    """Whether a change took available stock from above the threshold to at or below it.

    Alerts fire on the crossing only, so a busy item sitting below its threshold does not
    send one alert per sale.
    """
    return before_available > after.low_stock_threshold >= after.available
