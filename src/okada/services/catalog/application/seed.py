"""The demo catalog: Douala and Yaoundé stores, categories, products and prices."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from okada.contracts.catalog.v1 import offer_id
from okada.services.catalog.application import events
from okada.services.catalog.application.model import (
    Category,
    ImageVariant,
    LocalText,
    Offer,
    OpeningSlot,
    Product,
    Store,
    StoreStatus,
)
from okada.services.catalog.application.ports import CatalogUnitOfWork
from okada.services.catalog.application.validation import (
    check_category,
    check_price,
    check_product,
    check_store,
)


def _text(value: Mapping[str, str] | None) -> LocalText | None:
    return None if value is None else LocalText(fr=value["fr"], en=value["en"])


def store_from(data: Mapping[str, Any]) -> Store:
    """Build a store from its seed-file entry."""
    polygon = data.get("delivery_polygon")
    return Store(
        id=uuid.UUID(data["id"]),
        slug=data["slug"],
        name=data["name"],
        kind=data["kind"],
        city=data["city"],
        quartier=data["quartier"],
        landmark=data.get("landmark"),
        lat=float(data["lat"]),
        lng=float(data["lng"]),
        delivery_radius_m=data.get("delivery_radius_m"),
        delivery_polygon=[(float(p[0]), float(p[1])) for p in polygon] if polygon else None,
        opening_hours=[
            OpeningSlot(s["weekday"], s["opens"], s["closes"]) for s in data["opening_hours"]
        ],
        status=StoreStatus(data.get("status", "open")),
        prep_minutes=int(data["prep_minutes"]),
    )


def category_from(data: Mapping[str, Any]) -> Category:
    """Build a category from its seed-file entry."""
    parent = data.get("parent_id")
    name = _text(data["name"])
    assert name is not None
    return Category(
        id=uuid.UUID(data["id"]),
        slug=data["slug"],
        parent_id=uuid.UUID(parent) if parent else None,
        name=name,
        position=int(data.get("position", 0)),
    )


def product_from(data: Mapping[str, Any]) -> Product:
    """Build a product from its seed-file entry."""
    name, unit = _text(data["name"]), _text(data["unit"])
    assert name is not None and unit is not None
    return Product(
        id=uuid.UUID(data["id"]),
        sku=data["sku"],
        category_id=uuid.UUID(data["category_id"]),
        name=name,
        unit=unit,
        description=_text(data.get("description")),
        brand=data.get("brand"),
        barcode=data.get("barcode"),
        images=[ImageVariant(i["url"], int(i["width"])) for i in data.get("images", [])],
        tags=list(data.get("tags", [])),
        sold_by_weight=bool(data.get("sold_by_weight", False)),
        featured=bool(data.get("featured", False)),
    )


async def seed_catalog(
    data: Mapping[str, Any], *, uow_factory: Callable[[], CatalogUnitOfWork]
) -> int:
    """Load the demo catalog into an empty catalog database.

    Business rules: does nothing when any store exists (so a restart, a second replica or a
    catalog someone already edited is left alone); otherwise writes every category, product,
    store and offer in one transaction, with the same checks as the API, and publishes their
    catalog.v1 events through the outbox like any other write, so read models downstream
    (search, sync, the gateway cache) learn the catalog the normal way.

    Args:
        data: The parsed ``seed/catalog.json``.
        uow_factory: Opens a catalog unit of work.

    Returns:
        The number of rows written (0 when the catalog was not empty).
    """
    categories = [category_from(c) for c in data["categories"]]
    products = [product_from(p) for p in data["products"]]
    stores = [store_from(s) for s in data["stores"]]
    offers = [
        Offer(
            id=offer_id(uuid.UUID(o["store_id"]), uuid.UUID(o["product_id"])),
            store_id=uuid.UUID(o["store_id"]),
            product_id=uuid.UUID(o["product_id"]),
            price_xaf=check_price(o["price_xaf"]),
            listed=bool(o.get("listed", True)),
        )
        for o in data["offers"]
    ]
    for category in categories:
        check_category(category)
    for product in products:
        check_product(product)
    for store in stores:
        check_store(store)
    async with uow_factory() as uow:
        # The counter first: a second process seeding at the same time waits here, then
        # sees the stores the first one committed.
        seq = await uow.change_seq()
        if await uow.stores.exists_any():
            return 0
        await uow.categories.add_many(categories, seq=seq)
        await uow.products.add_many(products, seq=seq)
        for store in stores:
            await uow.stores.add(store, seq=seq)
        await uow.offers.add_many(offers, seq=seq)
        for category in categories:
            uow.publish(events.category_upserted(category))
        for product in products:
            uow.publish(events.product_event(product))
        for store in stores:
            uow.publish(events.store_updated(store))
        for offer in offers:
            uow.publish(events.price_changed(offer, None))
        await uow.commit()
    return len(categories) + len(products) + len(stores) + len(offers)
