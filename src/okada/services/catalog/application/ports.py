"""What the catalog application needs from the outside world: repositories, a unit of work
with a change counter, and a reader for the hot read paths."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self

from okada.contracts.base import IntegrationEvent
from okada.kernel.messages import Envelope
from okada.services.catalog.application.model import (
    Category,
    Offer,
    Product,
    StockLevel,
    Store,
)

Row = dict[str, Any]
"""A result row as a plain dict: the read paths encode these straight to JSON."""


class StoreRepository(Protocol):
    """Stores (removed ones included, so an id is never reused)."""

    async def get(self, store_id: uuid.UUID) -> Store | None:
        """Return the store, or None."""
        ...

    async def exists_any(self) -> bool:
        """Return whether any store was ever created."""
        ...

    async def slug_taken(self, slug: str, *, except_id: uuid.UUID | None = None) -> bool:
        """Return whether another store uses ``slug``."""
        ...

    async def add(self, store: Store, *, seq: int) -> None:
        """Insert a new store stamped with change sequence ``seq``."""
        ...

    async def save(self, store: Store, *, expected_version: int, seq: int) -> None:
        """Write a changed store; raise ConcurrencyConflict when its version moved."""
        ...


class CategoryRepository(Protocol):
    """The category tree."""

    async def get(self, category_id: uuid.UUID) -> Category | None:
        """Return the category, or None."""
        ...

    async def by_slug(self, slug: str) -> Category | None:
        """Return the category with ``slug``, or None."""
        ...

    async def all(self) -> list[Category]:
        """Every category (the tree is small: tens to a few hundred nodes)."""
        ...

    async def add_many(self, categories: Sequence[Category], *, seq: int) -> None:
        """Insert new categories (parents before children)."""
        ...

    async def save(self, category: Category, *, expected_version: int, seq: int) -> None:
        """Write a changed category; raise ConcurrencyConflict when its version moved."""
        ...


class ProductRepository(Protocol):
    """Products, independent of stores."""

    async def get(self, product_id: uuid.UUID) -> Product | None:
        """Return the product (withdrawn ones included), or None."""
        ...

    async def by_skus(self, skus: Sequence[str]) -> dict[str, Product]:
        """Return the products with these SKUs, by SKU."""
        ...

    async def add_many(self, products: Sequence[Product], *, seq: int) -> None:
        """Insert new products."""
        ...

    async def save(self, product: Product, *, expected_version: int, seq: int) -> None:
        """Write a changed product; raise ConcurrencyConflict when its version moved."""
        ...


class OfferRepository(Protocol):
    """Per-store offers. Every write stamps the change sequence the delta feed orders by."""

    async def get(self, store_id: uuid.UUID, product_id: uuid.UUID) -> Offer | None:
        """Return the offer of a product in a store, or None."""
        ...

    async def for_store(self, store_id: uuid.UUID) -> dict[uuid.UUID, Offer]:
        """Every offer of a store, by product id."""
        ...

    async def add_many(self, offers: Sequence[Offer], *, seq: int) -> None:
        """Insert new offers."""
        ...

    async def save(self, offer: Offer, *, expected_version: int, seq: int) -> None:
        """Write a repriced or (de)listed offer; raise ConcurrencyConflict when it moved."""
        ...

    async def touch_product(self, product_id: uuid.UUID, *, seq: int) -> None:
        """Stamp every offer of a product with ``seq``: the product's public fields changed,
        so every store's delta feed must send it again."""
        ...

    async def set_in_stock(
        self, store_id: uuid.UUID, product_id: uuid.UUID, in_stock: bool, *, seq: int
    ) -> None:
        """Record inventory's availability on an offer."""
        ...


class StockRepository(Protocol):
    """The last stock level inventory reported per (store, product), offered or not yet."""

    async def get(self, store_id: uuid.UUID, product_id: uuid.UUID) -> StockLevel | None:
        """Return the stored level, or None when inventory never reported it."""
        ...

    async def for_store(self, store_id: uuid.UUID) -> dict[uuid.UUID, StockLevel]:
        """Every stored level of a store, by product id."""
        ...

    async def put_if_newer(self, level: StockLevel) -> bool:
        """Store ``level`` unless the stored one has the same or a newer version.

        Returns:
            Whether it was stored. The check and the write are one guarded statement, so two
            concurrent deliveries cannot wind the level back.
        """
        ...


class CatalogUnitOfWork(Protocol):
    """One transaction on the catalog database, with the outbox and the change counter."""

    stores: StoreRepository
    categories: CategoryRepository
    products: ProductRepository
    offers: OfferRepository
    stock: StockRepository

    async def __aenter__(self) -> Self:
        """Open the transaction."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed."""
        ...

    async def change_seq(self) -> int:
        """Return this transaction's change sequence number, drawing it on first use.

        Business rule: the number comes from a counter row updated inside the transaction,
        which stays locked until commit, so numbers are handed out in commit order. Write
        paths draw it before touching any other row, so writers always lock in the same
        order and never deadlock.
        """
        ...

    def publish(self, event: IntegrationEvent, *, aggregate_id: str | None = None) -> Envelope:
        """Queue an integration event for the outbox of this transaction."""
        ...

    async def commit(self) -> None:
        """Commit state, outbox rows and inbox claims together."""
        ...


@dataclass(frozen=True, slots=True)
class CategoryFilter:
    """A category to browse, by id or by slug; its sub-categories are included."""

    category_id: uuid.UUID | None = None
    slug: str | None = None


class CatalogReader(Protocol):
    """Read-only queries returning plain rows, one SQL statement each."""

    async def stores_around(self, lat: float, lng: float) -> list[Row]:
        """Live stores whose delivery-area bounding box holds the point."""
        ...

    async def stores(self) -> list[Row]:
        """Every live store."""
        ...

    async def store(self, store_id: uuid.UUID) -> Row | None:
        """One live store, or None."""
        ...

    async def category_exists(self, category: CategoryFilter) -> bool:
        """Return whether the category exists and is live."""
        ...

    async def categories(self) -> list[Row]:
        """Every live category."""
        ...

    async def store_products(
        self,
        store_id: uuid.UUID,
        *,
        language: str,
        category: CategoryFilter | None,
        terms: Sequence[str],
        featured: bool,
        after: tuple[str, uuid.UUID] | None,
        limit: int,
    ) -> list[Row]:
        """Listed offers of live products in a store, ordered by (sort key, product id).

        Rows carry the list fields (``name`` and ``unit`` in ``language``) and ``sort_key``;
        at most ``limit`` rows after the keyset position ``after``.
        """
        ...

    async def product(self, product_id: uuid.UUID, store_id: uuid.UUID | None) -> Row | None:
        """One live product with both languages, plus its offer in ``store_id`` if given."""
        ...

    async def changes(
        self,
        store_id: uuid.UUID,
        *,
        language: str,
        after: tuple[int, uuid.UUID] | None,
        limit: int,
        removed_after: int,
    ) -> list[Row]:
        """Offers of a store changed after the keyset position ``(seq, product id)``.

        Rows carry the list fields plus ``change_seq`` and ``visible`` (listed and the
        product live); invisible rows come back only when stamped after ``removed_after``.
        """
        ...

    async def change_counter(self) -> int:
        """The last change sequence number handed out (committed or not)."""
        ...

    async def offers_export(self, store_id: uuid.UUID) -> list[Row]:
        """Every offer of a store (listed or not) with its product's SKU and names."""
        ...
