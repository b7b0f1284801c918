"""Catalog management: stores, categories, products (operations) and offers (store staff)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from okada.contracts.catalog.v1 import offer_id
from okada.kernel.authz import Principal, Role, ensure_store_access, require_role
from okada.kernel.errors import Forbidden
from okada.kernel.ids import new_id
from okada.services.catalog.application import events
from okada.services.catalog.application.errors import (
    CategoryNotFound,
    InvalidField,
    ProductNotFound,
    SkuTaken,
    SlugTaken,
    StoreNotFound,
    UnknownCategory,
)
from okada.services.catalog.application.model import (
    Category,
    Offer,
    Product,
    Store,
)
from okada.services.catalog.application.ports import CatalogUnitOfWork
from okada.services.catalog.application.validation import (
    check_category,
    check_price,
    check_product,
    check_store,
)

Precondition = Callable[[uuid.UUID, int], None]
"""Called with the stored entity's id and version before an edit; raises when the client's
copy is stale (``If-Match``). None when the client sent no ``If-Match``."""

MERCHANT_STORE_FIELDS = frozenset({"status", "prep_minutes", "opening_hours"})
"""What a store's own staff may change; everything else about a store is operations' call."""

STORE_FIELDS = frozenset(
    {
        "name",
        "kind",
        "city",
        "quartier",
        "landmark",
        "lat",
        "lng",
        "delivery_radius_m",
        "delivery_polygon",
        "opening_hours",
        "status",
        "prep_minutes",
    }
)
CATEGORY_FIELDS = frozenset({"parent_id", "name", "position"})
PRODUCT_FIELDS = frozenset(
    {
        "category_id",
        "name",
        "unit",
        "description",
        "brand",
        "barcode",
        "images",
        "tags",
        "sold_by_weight",
        "featured",
    }
)


def _changes(changes: Mapping[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise InvalidField(field=unknown[0])
    return dict(changes)


class CatalogAdmin:
    """Write use cases. Each runs in one transaction that stamps the change sequence, writes
    the new state and queues the matching catalog.v1 event in the outbox.

    Args:
        uow_factory: Opens a catalog unit of work.
    """

    def __init__(self, *, uow_factory: Callable[[], CatalogUnitOfWork]) -> None:
        self._uow = uow_factory

    # -- stores -------------------------------------------------------------------------

    async def create_store(self, principal: Principal | None, store: Store) -> Store:
        """Open a new dark store or partner shop.

        Business rules: operations only; the slug is unique; the store passes
        :func:`check_store`; ``StoreUpdated`` version 1 is published.

        Raises:
            Forbidden: The caller is not operations or admin.
            InvalidField: A field breaks a rule.
            SlugTaken: Another store has the slug.
        """
        require_role(principal, Role.OPERATIONS)
        store = dataclasses.replace(store, version=1, deleted=False)
        check_store(store)
        async with self._uow() as uow:
            seq = await uow.change_seq()
            if await uow.stores.slug_taken(store.slug):
                raise SlugTaken(slug=store.slug)
            await uow.stores.add(store, seq=seq)
            uow.publish(events.store_updated(store))
            await uow.commit()
        return store

    async def update_store(
        self,
        principal: Principal | None,
        store_id: uuid.UUID,
        changes: Mapping[str, Any],
        *,
        precondition: Precondition | None = None,
    ) -> Store:
        """Change a store.

        Business rules: the store's own staff may change its status (open, busy, closed),
        preparation estimate and opening hours; operations may change everything but the
        slug. An unchanged store keeps its version and publishes nothing.

        Raises:
            Forbidden: Another store's staff, a customer, or staff changing a field reserved
                to operations.
            StoreNotFound: No such store.
            PreconditionFailed: ``If-Match`` names an older version.
        """
        caller = ensure_store_access(principal, store_id)
        wanted = _changes(changes, STORE_FIELDS)
        if not caller.is_staff and not set(wanted) <= MERCHANT_STORE_FIELDS:
            raise Forbidden("role_required", roles=Role.OPERATIONS.value)
        async with self._uow() as uow:
            seq = await uow.change_seq()
            store = await uow.stores.get(store_id)
            if store is None or store.deleted:
                raise StoreNotFound()
            if precondition is not None:
                precondition(store.id, store.version)
            changed = dataclasses.replace(store, **wanted)
            check_store(changed)
            if changed == store:
                return store
            changed.version = store.version + 1
            await uow.stores.save(changed, expected_version=store.version, seq=seq)
            uow.publish(events.store_updated(changed))
            await uow.commit()
        return changed

    # -- categories ---------------------------------------------------------------------

    async def create_category(self, principal: Principal | None, category: Category) -> Category:
        """Add a category to the tree (operations only; unique slug; the parent must exist).

        Raises:
            Forbidden: The caller is not operations or admin.
            SlugTaken: Another category has the slug.
            UnknownCategory: The parent does not exist.
        """
        require_role(principal, Role.OPERATIONS)
        category = dataclasses.replace(category, version=1, deleted=False)
        check_category(category)
        async with self._uow() as uow:
            seq = await uow.change_seq()
            if await uow.categories.by_slug(category.slug) is not None:
                raise SlugTaken(slug=category.slug)
            if category.parent_id is not None:
                parent = await uow.categories.get(category.parent_id)
                if parent is None or parent.deleted:
                    raise UnknownCategory(category=str(category.parent_id))
            await uow.categories.add_many([category], seq=seq)
            uow.publish(events.category_upserted(category))
            await uow.commit()
        return category

    async def update_category(
        self,
        principal: Principal | None,
        category_id: uuid.UUID,
        changes: Mapping[str, Any],
        *,
        precondition: Precondition | None = None,
    ) -> Category:
        """Rename, move or reorder a category (operations only).

        Business rule: a category cannot become its own ancestor.

        Raises:
            CategoryNotFound: No such category.
            InvalidField: The move would make a cycle (``field`` is ``parent_id``).
            UnknownCategory: The new parent does not exist.
        """
        require_role(principal, Role.OPERATIONS)
        wanted = _changes(changes, CATEGORY_FIELDS)
        async with self._uow() as uow:
            seq = await uow.change_seq()
            category = await uow.categories.get(category_id)
            if category is None or category.deleted:
                raise CategoryNotFound()
            if precondition is not None:
                precondition(category.id, category.version)
            changed = dataclasses.replace(category, **wanted)
            check_category(changed)
            if changed.parent_id != category.parent_id and changed.parent_id is not None:
                tree = {c.id: c for c in await uow.categories.all()}
                if changed.parent_id not in tree or tree[changed.parent_id].deleted:
                    raise UnknownCategory(category=str(changed.parent_id))
                ancestor: uuid.UUID | None = changed.parent_id
                while ancestor is not None:
                    if ancestor == category.id:
                        raise InvalidField(field="parent_id")
                    ancestor = tree[ancestor].parent_id
            if changed == category:
                return category
            changed.version = category.version + 1
            await uow.categories.save(changed, expected_version=category.version, seq=seq)
            uow.publish(events.category_upserted(changed))
            await uow.commit()
        return changed

    # -- products -----------------------------------------------------------------------

    async def create_product(self, principal: Principal | None, product: Product) -> Product:
        """Add a product to the global catalog (operations only).

        Business rules: the SKU is unique; the category exists; the product passes
        :func:`check_product`. Stores sell it only once they set an offer.

        Raises:
            SkuTaken: Another product has the SKU.
            UnknownCategory: The category does not exist.
        """
        require_role(principal, Role.OPERATIONS)
        product = dataclasses.replace(product, version=1, deleted=False)
        check_product(product)
        async with self._uow() as uow:
            seq = await uow.change_seq()
            await self._check_new_products(uow, [product])
            await uow.products.add_many([product], seq=seq)
            uow.publish(events.product_event(product))
            await uow.commit()
        return product

    @staticmethod
    async def _check_new_products(uow: CatalogUnitOfWork, products: list[Product]) -> None:
        taken = await uow.products.by_skus([p.sku for p in products])
        if taken:
            raise SkuTaken(sku=sorted(taken)[0])
        for category_id in {p.category_id for p in products}:
            category = await uow.categories.get(category_id)
            if category is None or category.deleted:
                raise UnknownCategory(category=str(category_id))

    async def update_product(
        self,
        principal: Principal | None,
        product_id: uuid.UUID,
        changes: Mapping[str, Any],
        *,
        precondition: Precondition | None = None,
    ) -> Product:
        """Change a product's public record (operations only).

        Business rule: every store's offer of the product is stamped with the change, so the
        stores' delta feeds send the new name, unit or image.

        Raises:
            ProductNotFound: No such product, or it was withdrawn.
            UnknownCategory: The new category does not exist.
        """
        require_role(principal, Role.OPERATIONS)
        wanted = _changes(changes, PRODUCT_FIELDS)
        async with self._uow() as uow:
            seq = await uow.change_seq()
            product = await uow.products.get(product_id)
            if product is None or product.deleted:
                raise ProductNotFound()
            if precondition is not None:
                precondition(product.id, product.version)
            changed = dataclasses.replace(product, **wanted)
            check_product(changed)
            if changed == product:
                return product
            if changed.category_id != product.category_id:
                category = await uow.categories.get(changed.category_id)
                if category is None or category.deleted:
                    raise UnknownCategory(category=str(changed.category_id))
            changed.version = product.version + 1
            await uow.products.save(changed, expected_version=product.version, seq=seq)
            await uow.offers.touch_product(product.id, seq=seq)
            uow.publish(events.product_event(changed))
            await uow.commit()
        return changed

    async def remove_product(
        self,
        principal: Principal | None,
        product_id: uuid.UUID,
        *,
        precondition: Precondition | None = None,
    ) -> Product:
        """Withdraw a product from every store (operations only).

        Business rules: the record stays as a tombstone (``deleted``), so its id and SKU are
        never reused and the delta feeds list it under ``deleted``; ``ProductRemoved`` is
        published with the next version.

        Raises:
            ProductNotFound: No such product, or it was already withdrawn.
        """
        require_role(principal, Role.OPERATIONS)
        async with self._uow() as uow:
            seq = await uow.change_seq()
            product = await uow.products.get(product_id)
            if product is None or product.deleted:
                raise ProductNotFound()
            if precondition is not None:
                precondition(product.id, product.version)
            removed = dataclasses.replace(product, deleted=True, version=product.version + 1)
            await uow.products.save(removed, expected_version=product.version, seq=seq)
            await uow.offers.touch_product(product.id, seq=seq)
            uow.publish(events.product_event(removed))
            await uow.commit()
        return removed

    # -- offers -------------------------------------------------------------------------

    async def get_offer(
        self, principal: Principal | None, store_id: uuid.UUID, product_id: uuid.UUID
    ) -> Offer:
        """Return a store's offer of a product (the store's staff and operations).

        Raises:
            ProductNotFound: The store does not offer this product.
        """
        ensure_store_access(principal, store_id)
        async with self._uow() as uow:
            offer = await uow.offers.get(store_id, product_id)
        if offer is None:
            raise ProductNotFound()
        return offer

    async def set_offer(
        self,
        principal: Principal | None,
        store_id: uuid.UUID,
        product_id: uuid.UUID,
        *,
        price_xaf: object,
        listed: bool,
        precondition: Precondition | None = None,
    ) -> tuple[Offer, bool]:
        """Set the price and listing of a product in one store.

        Business rules: the store's own staff and operations only; the price is whole XAF
        above zero (:func:`check_price`); the product must be live. A new offer starts in
        stock unless inventory already reported none available. An unchanged offer keeps its
        version and publishes nothing; otherwise ``PriceChanged`` carries the new version and
        the previous price.

        Returns:
            The offer and whether it was created.

        Raises:
            Forbidden: Another store's staff or a customer (nothing changes).
            InvalidPrice: The price is not a positive whole number of francs.
            StoreNotFound: No such store.
            ProductNotFound: No such product, or it was withdrawn.
            PreconditionFailed: ``If-Match`` names an older version of the offer.
        """
        ensure_store_access(principal, store_id)
        price = check_price(price_xaf)
        async with self._uow() as uow:
            seq = await uow.change_seq()
            store = await uow.stores.get(store_id)
            if store is None or store.deleted:
                raise StoreNotFound()
            product = await uow.products.get(product_id)
            if product is None or product.deleted:
                raise ProductNotFound()
            offer = await uow.offers.get(store_id, product_id)
            if offer is None:
                if precondition is not None:
                    precondition(offer_id(store_id, product_id), 0)
                level = await uow.stock.get(store_id, product_id)
                offer = Offer(
                    id=offer_id(store_id, product_id),
                    store_id=store_id,
                    product_id=product_id,
                    price_xaf=price,
                    listed=listed,
                    in_stock=level.in_stock if level is not None else True,
                )
                await uow.offers.add_many([offer], seq=seq)
                uow.publish(events.price_changed(offer, None))
                await uow.commit()
                return offer, True
            if precondition is not None:
                precondition(offer.id, offer.version)
            if offer.price_xaf == price and offer.listed == listed:
                return offer, False
            changed = dataclasses.replace(
                offer, price_xaf=price, listed=listed, version=offer.version + 1
            )
            await uow.offers.save(changed, expected_version=offer.version, seq=seq)
            uow.publish(events.price_changed(changed, offer.price_xaf))
            await uow.commit()
        return changed, False

    @staticmethod
    def new_product_id() -> uuid.UUID:
        """A fresh product id (time-ordered)."""
        return new_id()
