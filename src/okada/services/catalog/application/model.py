"""Catalog entities: stores, the category tree, products and per-store offers."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field

STORE_KINDS = frozenset({"dark_store", "partner"})
TIMEZONE = "Africa/Douala"


class StoreStatus(enum.StrEnum):
    """What a store says about itself right now, on top of its opening hours.

    ``busy`` still takes orders (the app shows a longer wait); ``closed`` takes none whatever
    the opening hours say.
    """

    OPEN = "open"
    CLOSED = "closed"
    BUSY = "busy"


@dataclass(frozen=True, slots=True)
class LocalText:
    """A text in both official languages; ``in_language`` picks one."""

    fr: str
    en: str

    def in_language(self, language: str) -> str:
        """Return the text in ``language`` (``en``), French otherwise."""
        return self.en if language == "en" else self.fr


@dataclass(frozen=True, slots=True)
class OpeningSlot:
    """One opening period of a weekday in the store's local time.

    ``weekday`` 0 is Monday. ``closes`` may be ``"24:00"``; a ``closes`` at or before
    ``opens`` means the period runs past midnight into the next day.
    """

    weekday: int
    opens: str
    closes: str


@dataclass(frozen=True, slots=True)
class ImageVariant:
    """One size of a product image."""

    url: str
    width: int


@dataclass
class Store:
    """A dark store or a partner shop.

    The delivery area is either a radius around the store or a polygon of ``(lat, lng)``
    points, never both.
    """

    id: uuid.UUID
    slug: str
    name: str
    kind: str
    city: str
    quartier: str
    landmark: str | None
    lat: float
    lng: float
    delivery_radius_m: int | None
    delivery_polygon: list[tuple[float, float]] | None
    opening_hours: list[OpeningSlot]
    status: StoreStatus
    prep_minutes: int
    timezone: str = TIMEZONE
    version: int = 1
    deleted: bool = False


@dataclass
class Category:
    """A node of the category tree (``parent_id`` None for a top-level category)."""

    id: uuid.UUID
    slug: str
    parent_id: uuid.UUID | None
    name: LocalText
    position: int
    version: int = 1
    deleted: bool = False


@dataclass
class Product:
    """A product as Okada knows it, independent of any store."""

    id: uuid.UUID
    sku: str
    category_id: uuid.UUID
    name: LocalText
    unit: LocalText
    description: LocalText | None = None
    brand: str | None = None
    barcode: str | None = None
    images: list[ImageVariant] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    sold_by_weight: bool = False
    featured: bool = False
    version: int = 1
    deleted: bool = False

    @property
    def thumbnail(self) -> str | None:
        """The smallest image variant: what a list shows on a slow connection."""
        if not self.images:
            return None
        return min(self.images, key=lambda image: image.width).url


@dataclass
class Offer:
    """A product as sold in one store: whole-XAF price and whether customers see it.

    ``in_stock`` mirrors the inventory service (``available > 0``) and is true until
    inventory says otherwise. ``version`` counts price and listing changes only.
    """

    id: uuid.UUID
    store_id: uuid.UUID
    product_id: uuid.UUID
    price_xaf: int
    listed: bool
    in_stock: bool = True
    version: int = 1


@dataclass(frozen=True, slots=True)
class StockLevel:
    """The last stock level inventory reported for a (store, product)."""

    store_id: uuid.UUID
    product_id: uuid.UUID
    available: int
    version: int

    @property
    def in_stock(self) -> bool:
        """Customers can order it."""
        return self.available > 0
