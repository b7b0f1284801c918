"""Request and response bodies of the inventory API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Quantity = Annotated[int, Field(strict=True, ge=1, le=999)]
"""A basket quantity: a whole number of units from 1 to 999 (JSON 2.0 or "2" is refused)."""


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReservationLineIn(_In):
    """One product of the basket."""

    product_id: uuid.UUID
    quantity: Quantity


class ReservationCreate(_In):
    """Hold a whole basket for an order."""

    order_id: uuid.UUID
    store_id: uuid.UUID
    lines: Annotated[list[ReservationLineIn], Field(min_length=1, max_length=100)]
    ttl_seconds: Annotated[int | None, Field(strict=True, ge=1)] = None


class ReleaseRequest(_In):
    """Why the basket goes back to the shelf."""

    reason: Annotated[str, Field(min_length=1, max_length=200)]


class ExtendRequest(_In):
    """Hold for this many more seconds from now."""

    ttl_seconds: Annotated[int, Field(strict=True, ge=1)]


class ReservationLineRead(BaseModel):
    """A held line."""

    product_id: uuid.UUID
    quantity: int


class ReservationRead(BaseModel):
    """A reservation as stored."""

    order_id: uuid.UUID
    store_id: uuid.UUID
    status: Literal["held", "confirmed", "released", "expired"]
    lines: list[ReservationLineRead]
    created_at: dt.datetime
    expires_at: dt.datetime
    updated_at: dt.datetime
    release_reason: str | None
    version: int


class StockLevelRead(BaseModel):
    """Stock of one product in one store."""

    store_id: uuid.UUID
    product_id: uuid.UUID
    on_hand: int
    reserved: int
    available: int
    low_stock_threshold: int
    listed: bool
    sellable: bool
    version: int


class StockPage(BaseModel):
    """Stock levels; ``next_cursor`` fetches the next page when listing a whole store."""

    data: list[StockLevelRead]
    next_cursor: str | None = None


class AdjustmentCreate(_In):
    """A receipt, shelf count, damage or return of one product."""

    product_id: uuid.UUID
    kind: Literal["receipt", "count", "damage", "return"]
    quantity: Annotated[int, Field(strict=True, ge=0, le=100_000)]
    note: Annotated[str | None, Field(max_length=500)] = None


class AdjustmentRead(BaseModel):
    """One entry of the stock audit trail."""

    id: uuid.UUID
    store_id: uuid.UUID
    product_id: uuid.UUID
    kind: str
    quantity: int
    delta: int
    on_hand_before: int
    on_hand_after: int
    reserved: int
    note: str | None
    actor_id: uuid.UUID
    created_at: dt.datetime


class AdjustmentCreated(BaseModel):
    """The recorded adjustment and the stock after it."""

    adjustment: AdjustmentRead
    stock: StockLevelRead


class AdjustmentPage(BaseModel):
    """Audit trail entries, newest first."""

    data: list[AdjustmentRead]
    next_cursor: str | None = None
