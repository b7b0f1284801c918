"""catalog.v1: stores, categories, products and per-store offers (prices in XAF)."""

from __future__ import annotations

import uuid

from okada.contracts.base import ContractModel, IntegrationEvent


class Text(ContractModel):
    """A text in both languages Okada serves."""

    fr: str
    en: str


class OpeningSlot(ContractModel):
    """Opening hours of one weekday in ``Africa/Douala`` local time (``"07:30"``)."""

    weekday: int  # 0 = Monday, as Python's date.weekday()
    opens: str
    closes: str


class StoreState(ContractModel):
    """The public state of a dark store or partner shop."""

    name: str
    kind: str  # "dark_store" or "partner"
    city: str
    quartier: str
    landmark: str | None
    lat: float
    lng: float
    delivery_radius_m: int | None
    delivery_polygon: list[tuple[float, float]] | None  # (lat, lng) ring, first != last
    opening_hours: list[OpeningSlot]
    timezone: str = "Africa/Douala"
    status: str  # "open", "closed" or "busy"
    prep_minutes: int
    deleted: bool = False


class StoreUpdated(IntegrationEvent, schema="catalog.v1.StoreUpdated"):
    """A store was created or changed (``state.deleted`` when removed)."""

    state: StoreState


class CategoryState(ContractModel):
    """A node of the category tree."""

    parent_id: uuid.UUID | None
    slug: str
    name: Text
    position: int
    deleted: bool = False


class CategoryUpserted(IntegrationEvent, schema="catalog.v1.CategoryUpserted"):
    """A category was created or changed."""

    state: CategoryState


class ImageVariant(ContractModel):
    """One size of a product image."""

    url: str
    width: int


class ProductState(ContractModel):
    """The public state of a product, independent of any store."""

    sku: str
    category_id: uuid.UUID
    name: Text
    description: Text | None
    brand: str | None
    unit: Text  # as people buy it: "1 kg", "tas", "paquet de 6", "bouteille 65 cl"
    barcode: str | None
    images: list[ImageVariant]
    tags: list[str]
    sold_by_weight: bool
    deleted: bool = False


class ProductUpserted(IntegrationEvent, schema="catalog.v1.ProductUpserted"):
    """A product was created or changed."""

    state: ProductState


class ProductRemoved(IntegrationEvent, schema="catalog.v1.ProductRemoved"):
    """A product was withdrawn from the catalog (``state.deleted`` is true)."""

    state: ProductState


class OfferState(ContractModel):
    """A product as sold in one store: its price in whole XAF and whether it is listed."""

    store_id: uuid.UUID
    product_id: uuid.UUID
    price_xaf: int
    listed: bool


class PriceChanged(IntegrationEvent, schema="catalog.v1.PriceChanged"):
    """A store's offer of a product was created, repriced, listed or delisted.

    ``entity_id`` is :func:`offer_id` of (store, product).
    """

    state: OfferState
    previous_price_xaf: int | None = None


OFFER_NAMESPACE = uuid.UUID("6f1c3a52-8b1e-4d3a-9a57-0c6b7f1d2e01")


def offer_id(store_id: uuid.UUID, product_id: uuid.UUID) -> uuid.UUID:
    """The stable id of a (store, product) pair, the same in every service."""
    return uuid.uuid5(OFFER_NAMESPACE, f"{store_id}:{product_id}")
