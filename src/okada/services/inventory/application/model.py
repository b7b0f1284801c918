"""Records the application reads and writes besides the domain aggregates."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Generic, TypeVar

from okada.services.inventory.domain.stock import AdjustmentKind

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AdjustmentRecord:
    """One line of the stock audit trail: who changed the shelf count, when, why, by how much."""

    id: uuid.UUID
    store_id: uuid.UUID
    product_id: uuid.UUID
    kind: AdjustmentKind
    quantity: int
    delta: int
    on_hand_before: int
    on_hand_after: int
    reserved: int
    note: str | None
    actor_id: uuid.UUID
    created_at: dt.datetime
    stock_version: int


@dataclass(frozen=True, slots=True)
class ProductStatus:
    """What the catalog last said about a product as a whole."""

    product_id: uuid.UUID
    version: int
    removed: bool


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """A page of a keyset-paginated list; ``next_after`` is None on the last page."""

    items: list[T]
    next_after: tuple[dt.datetime, uuid.UUID] | None
