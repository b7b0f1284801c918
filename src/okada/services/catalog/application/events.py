"""Catalog entities as catalog.v1 integration events (full public state, version after the
change)."""

from __future__ import annotations

from okada.contracts.catalog import v1
from okada.services.catalog.application.model import (
    Category,
    LocalText,
    Offer,
    Product,
    Store,
)


def _text(text: LocalText) -> v1.Text:
    return v1.Text(fr=text.fr, en=text.en)


def store_updated(store: Store) -> v1.StoreUpdated:
    """``catalog.v1.StoreUpdated`` for a created or changed store."""
    return v1.StoreUpdated(
        entity_id=store.id,
        version=store.version,
        state=v1.StoreState(
            name=store.name,
            kind=store.kind,
            city=store.city,
            quartier=store.quartier,
            landmark=store.landmark,
            lat=store.lat,
            lng=store.lng,
            delivery_radius_m=store.delivery_radius_m,
            delivery_polygon=store.delivery_polygon,
            opening_hours=[
                v1.OpeningSlot(weekday=s.weekday, opens=s.opens, closes=s.closes)
                for s in store.opening_hours
            ],
            timezone=store.timezone,
            status=store.status.value,
            prep_minutes=store.prep_minutes,
            deleted=store.deleted,
        ),
    )


def category_upserted(category: Category) -> v1.CategoryUpserted:
    """``catalog.v1.CategoryUpserted`` for a created or changed category."""
    return v1.CategoryUpserted(
        entity_id=category.id,
        version=category.version,
        state=v1.CategoryState(
            parent_id=category.parent_id,
            slug=category.slug,
            name=_text(category.name),
            position=category.position,
            deleted=category.deleted,
        ),
    )


def _product_state(product: Product) -> v1.ProductState:
    return v1.ProductState(
        sku=product.sku,
        category_id=product.category_id,
        name=_text(product.name),
        description=_text(product.description) if product.description else None,
        brand=product.brand,
        unit=_text(product.unit),
        barcode=product.barcode,
        images=[v1.ImageVariant(url=i.url, width=i.width) for i in product.images],
        tags=list(product.tags),
        sold_by_weight=product.sold_by_weight,
        deleted=product.deleted,
    )


def product_event(product: Product) -> v1.ProductUpserted | v1.ProductRemoved:
    """``ProductUpserted`` for a live product, ``ProductRemoved`` (tombstone) once withdrawn."""
    if product.deleted:
        return v1.ProductRemoved(
            entity_id=product.id, version=product.version, state=_product_state(product)
        )
    return v1.ProductUpserted(
        entity_id=product.id, version=product.version, state=_product_state(product)
    )


def price_changed(offer: Offer, previous_price_xaf: int | None) -> v1.PriceChanged:
    """``catalog.v1.PriceChanged`` for a created, repriced, listed or delisted offer."""
    return v1.PriceChanged(
        entity_id=offer.id,
        version=offer.version,
        state=v1.OfferState(
            store_id=offer.store_id,
            product_id=offer.product_id,
            price_xaf=offer.price_xaf,
            listed=offer.listed,
        ),
        previous_price_xaf=previous_price_xaf,
    )
