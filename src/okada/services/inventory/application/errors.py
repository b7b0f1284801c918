"""Application errors: what adapters report and what the HTTP layer shows with details."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from okada.kernel.errors import Conflict, NotFound, Unprocessable


class TransientConflict(Exception):
    """The database aborted a transaction that may succeed if run again.

    Adapters raise it for PostgreSQL deadlocks (40P01) and serialization failures (40001);
    use cases run their transaction again a bounded number of times.
    """


class ReservationExists(Exception):
    """Another transaction created the reservation of this order id first."""


@dataclass(frozen=True, slots=True)
class MissingLine:
    """A basket line the store cannot hold now."""

    product_id: uuid.UUID
    requested: int
    available: int

    def as_dict(self) -> dict[str, Any]:
        """JSON form, as listed in the ``out_of_stock`` problem."""
        return {
            "product_id": str(self.product_id),
            "requested": self.requested,
            "available": self.available,
        }


class OutOfStock(Conflict):
    """At least one line of the basket is short; nothing was reserved (409)."""

    code = "out_of_stock"

    def __init__(self, missing: list[MissingLine]) -> None:
        super().__init__(products=", ".join(str(m.product_id) for m in missing))
        self.missing = missing

    def details(self) -> dict[str, Any]:
        """Extra problem members: the missing lines."""
        return {"missing": [m.as_dict() for m in self.missing]}


@dataclass(frozen=True, slots=True)
class RejectedLine:
    """A basket line naming a product this store does not sell."""

    product_id: uuid.UUID
    reason: str  # "unknown", "not_listed" or "removed"

    def as_dict(self) -> dict[str, Any]:
        """JSON form, as listed in the ``product_not_offered`` problem."""
        return {"product_id": str(self.product_id), "reason": self.reason}


class ProductNotOffered(Unprocessable):
    """A line names a product the store does not offer; nothing was reserved (422)."""

    code = "product_not_offered"

    def __init__(self, lines: list[RejectedLine]) -> None:
        super().__init__(products=", ".join(str(r.product_id) for r in lines))
        self.lines = lines

    def details(self) -> dict[str, Any]:
        """Extra problem members: the rejected lines."""
        return {"lines": [r.as_dict() for r in self.lines]}


class StockItemNotFound(NotFound):
    """The store has no stock record of this product (404)."""

    code = "stock_item_not_found"

    def __init__(self, product_id: uuid.UUID) -> None:
        super().__init__(product_id=str(product_id))


class ReservationNotFound(NotFound):
    """No reservation exists for this order id (404)."""

    code = "reservation_not_found"
