"""What the inventory application needs from its database."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from types import TracebackType
from typing import Protocol, Self

from okada.contracts.base import IntegrationEvent
from okada.kernel.messages import Envelope
from okada.services.inventory.application.model import AdjustmentRecord, ProductStatus
from okada.services.inventory.domain.reservation import Reservation, ReservationStatus
from okada.services.inventory.domain.stock import StockItem


class StockRepository(Protocol):
    """Stock items. Every write bumps the item's version and returns the item as stored.

    Implementations run each level change as one conditional statement, so the check and the
    write are atomic under concurrency on every supported database.
    """

    async def get_many(
        self, store_id: uuid.UUID, product_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, StockItem]:
        """Load the store's items of these products (absent ones are left out)."""
        ...

    async def list_store(
        self, store_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
    ) -> list[StockItem]:
        """A store's items by product id, after ``after``."""
        ...

    async def reserve(
        self, store_id: uuid.UUID, product_id: uuid.UUID, quantity: int
    ) -> StockItem | None:
        """Add ``quantity`` to ``reserved`` if the item is sellable and that much is available.

        Returns None, changing nothing, when the guard fails (a shortage).
        """
        ...

    async def unreserve(
        self, store_id: uuid.UUID, product_id: uuid.UUID, quantity: int
    ) -> StockItem:
        """Take ``quantity`` off ``reserved`` (a release or an expiry)."""
        ...

    async def ship(self, store_id: uuid.UUID, product_id: uuid.UUID, quantity: int) -> StockItem:
        """Take ``quantity`` off both ``on_hand`` and ``reserved`` (a confirmed sale)."""
        ...

    async def add_to_on_hand(
        self, store_id: uuid.UUID, product_id: uuid.UUID, delta: int
    ) -> StockItem | None:
        """Add ``delta`` (maybe negative) to ``on_hand`` unless it would drop below ``reserved``.

        Returns None, changing nothing, when the guard fails.
        """
        ...

    async def replace_on_hand(
        self, store_id: uuid.UUID, product_id: uuid.UUID, *, expected: int, on_hand: int
    ) -> StockItem | None:
        """Compare-and-swap ``on_hand`` from ``expected`` to ``on_hand``, never below ``reserved``.

        Returns None, changing nothing, when ``on_hand`` moved on or the guard fails.
        """
        ...

    async def add(self, item: StockItem, *, offer_version: int = 0) -> bool:
        """Insert an item (with the catalog offer version it reflects); False if it exists."""
        ...

    async def add_many(self, items: Sequence[StockItem]) -> None:
        """Insert many items at once (seeding)."""
        ...

    async def count(self) -> int:
        """How many items exist."""
        ...

    async def offer_version(self, store_id: uuid.UUID, product_id: uuid.UUID) -> int | None:
        """The catalog offer version applied to the item, None if there is no item."""
        ...

    async def set_listing(
        self, store_id: uuid.UUID, product_id: uuid.UUID, *, listed: bool, offer_version: int
    ) -> bool:
        """Apply a newer offer version; False (no change) unless ``offer_version`` is newer."""
        ...

    async def set_removed(self, product_id: uuid.UUID, removed: bool) -> int:
        """Mark every item of a product withdrawn (or back); returns items touched."""
        ...


class ReservationRepository(Protocol):
    """Reservations with their lines."""

    async def get(self, order_id: uuid.UUID) -> Reservation | None:
        """Load the reservation of an order."""
        ...

    async def add(self, reservation: Reservation) -> None:
        """Insert a new reservation.

        Raises:
            ReservationExists: The order already has one (a concurrent request won).
        """
        ...

    async def save_transition(
        self,
        reservation: Reservation,
        *,
        from_status: ReservationStatus,
        due_by: dt.datetime | None = None,
        live_at: dt.datetime | None = None,
    ) -> bool:
        """Write the reservation's new state only if the stored one still matches.

        The stored status must be ``from_status``; with ``due_by`` the stored hold must have
        ended by then, with ``live_at`` it must still run at that instant. False means another
        transaction changed it first and nothing was written.
        """
        ...

    async def due(self, now: dt.datetime, *, limit: int) -> list[uuid.UUID]:
        """Order ids of held reservations whose hold ended by ``now``, oldest first."""
        ...


class AdjustmentRepository(Protocol):
    """The append-only stock audit trail."""

    async def add(self, record: AdjustmentRecord) -> None:
        """Append a record."""
        ...

    async def page(
        self,
        store_id: uuid.UUID,
        *,
        product_id: uuid.UUID | None,
        before: tuple[dt.datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[AdjustmentRecord]:
        """Newest first, strictly before the ``(created_at, id)`` position."""
        ...


class CatalogRepository(Protocol):
    """What inventory remembers of catalog products (withdrawals may arrive before offers)."""

    async def product_status(self, product_id: uuid.UUID) -> ProductStatus | None:
        """The last applied status of a product."""
        ...

    async def save_product_status(self, status: ProductStatus) -> None:
        """Insert or replace the status of a product."""
        ...


class InventoryUnitOfWork(Protocol):
    """One transaction over the inventory database, outbox included."""

    stock: StockRepository
    reservations: ReservationRepository
    adjustments: AdjustmentRepository
    catalog: CatalogRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def publish(self, event: IntegrationEvent, *, aggregate_id: str | None = None) -> Envelope:
        """Queue an integration event for the outbox of this transaction."""
        ...

    async def commit(self) -> None:
        """Commit state and outbox together."""
        ...

    async def rollback(self) -> None:
        """Discard the transaction; the unit of work stays usable for a new one."""
        ...
