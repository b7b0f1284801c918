"""SQLAlchemy Core repositories and the catalog unit of work."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from okada.infra.db.results import rows_affected
from okada.infra.db.uow import SqlUnitOfWork
from okada.kernel.clock import Clock
from okada.kernel.errors import ConcurrencyConflict
from okada.services.catalog.adapters.orm import (
    COUNTER_NAME,
    categories,
    counters,
    offers,
    products,
    stock_levels,
    stores,
)
from okada.services.catalog.application.geo import area_box
from okada.services.catalog.application.model import (
    Category,
    ImageVariant,
    LocalText,
    Offer,
    OpeningSlot,
    Product,
    StockLevel,
    Store,
    StoreStatus,
)
from okada.services.catalog.application.ports import (
    CategoryRepository,
    OfferRepository,
    ProductRepository,
    StockRepository,
    StoreRepository,
)
from okada.services.catalog.application.text import search_key, sort_key


def _check_one(result: Any) -> None:
    if result.rowcount != 1:
        raise ConcurrencyConflict()


class _Repo:
    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self._s = session
        self._clock = clock


# -- stores ---------------------------------------------------------------------------------


def _store(row: Any) -> Store:
    polygon = row.delivery_polygon
    return Store(
        id=row.id,
        slug=row.slug,
        name=row.name,
        kind=row.kind,
        city=row.city,
        quartier=row.quartier,
        landmark=row.landmark,
        lat=row.lat,
        lng=row.lng,
        delivery_radius_m=row.delivery_radius_m,
        delivery_polygon=[(p[0], p[1]) for p in polygon] if polygon else None,
        opening_hours=[
            OpeningSlot(s["weekday"], s["opens"], s["closes"]) for s in row.opening_hours
        ],
        timezone=row.timezone,
        status=StoreStatus(row.status),
        prep_minutes=row.prep_minutes,
        version=row.version,
        deleted=row.deleted,
    )


def _store_values(store: Store, seq: int) -> dict[str, Any]:
    box = area_box(store.lat, store.lng, store.delivery_radius_m, store.delivery_polygon)
    return {
        "name": store.name,
        "kind": store.kind,
        "city": store.city,
        "quartier": store.quartier,
        "landmark": store.landmark,
        "lat": store.lat,
        "lng": store.lng,
        "delivery_radius_m": store.delivery_radius_m,
        "delivery_polygon": (
            [[lat, lng] for lat, lng in store.delivery_polygon] if store.delivery_polygon else None
        ),
        "min_lat": box.min_lat,
        "max_lat": box.max_lat,
        "min_lng": box.min_lng,
        "max_lng": box.max_lng,
        "opening_hours": [
            {"weekday": s.weekday, "opens": s.opens, "closes": s.closes}
            for s in store.opening_hours
        ],
        "timezone": store.timezone,
        "status": store.status.value,
        "prep_minutes": store.prep_minutes,
        "deleted": store.deleted,
        "version": store.version,
        "change_seq": seq,
    }


class SqlaStoreRepository(_Repo):
    async def get(self, store_id: uuid.UUID) -> Store | None:
        row = (await self._s.execute(select(stores).where(stores.c.id == store_id))).first()
        return None if row is None else _store(row)

    async def exists_any(self) -> bool:
        return bool(await self._s.scalar(select(exists().where(stores.c.id.is_not(None)))))

    async def slug_taken(self, slug: str, *, except_id: uuid.UUID | None = None) -> bool:
        query = select(stores.c.id).where(stores.c.slug == slug)
        if except_id is not None:
            query = query.where(stores.c.id != except_id)
        return (await self._s.scalar(query)) is not None

    async def add(self, store: Store, *, seq: int) -> None:
        now = self._clock.now()
        try:
            async with self._s.begin_nested():
                await self._s.execute(
                    insert(stores).values(
                        id=store.id,
                        slug=store.slug,
                        created_at=now,
                        updated_at=now,
                        **_store_values(store, seq),
                    )
                )
        except IntegrityError as exc:  # the slug or id was taken concurrently
            raise ConcurrencyConflict() from exc

    async def save(self, store: Store, *, expected_version: int, seq: int) -> None:
        result = await self._s.execute(
            update(stores)
            .where(stores.c.id == store.id, stores.c.version == expected_version)
            .values(updated_at=self._clock.now(), **_store_values(store, seq))
        )
        _check_one(result)


# -- categories -----------------------------------------------------------------------------


def _category(row: Any) -> Category:
    return Category(
        id=row.id,
        slug=row.slug,
        parent_id=row.parent_id,
        name=LocalText(fr=row.name_fr, en=row.name_en),
        position=row.position,
        version=row.version,
        deleted=row.deleted,
    )


def _category_values(category: Category, seq: int) -> dict[str, Any]:
    return {
        "parent_id": category.parent_id,
        "name_fr": category.name.fr,
        "name_en": category.name.en,
        "position": category.position,
        "deleted": category.deleted,
        "version": category.version,
        "change_seq": seq,
    }


class SqlaCategoryRepository(_Repo):
    async def get(self, category_id: uuid.UUID) -> Category | None:
        row = (
            await self._s.execute(select(categories).where(categories.c.id == category_id))
        ).first()
        return None if row is None else _category(row)

    async def by_slug(self, slug: str) -> Category | None:
        row = (await self._s.execute(select(categories).where(categories.c.slug == slug))).first()
        return None if row is None else _category(row)

    async def all(self) -> list[Category]:
        return [_category(r) for r in (await self._s.execute(select(categories))).all()]

    async def add_many(self, items: Sequence[Category], *, seq: int) -> None:
        if not items:
            return
        now = self._clock.now()
        try:
            async with self._s.begin_nested():
                await self._s.execute(
                    insert(categories),
                    [
                        {"id": c.id, "slug": c.slug, "updated_at": now, **_category_values(c, seq)}
                        for c in items
                    ],
                )
        except IntegrityError as exc:
            raise ConcurrencyConflict() from exc

    async def save(self, category: Category, *, expected_version: int, seq: int) -> None:
        result = await self._s.execute(
            update(categories)
            .where(categories.c.id == category.id, categories.c.version == expected_version)
            .values(updated_at=self._clock.now(), **_category_values(category, seq))
        )
        _check_one(result)


# -- products -------------------------------------------------------------------------------


def _product(row: Any) -> Product:
    description = (
        LocalText(fr=row.description_fr, en=row.description_en)
        if row.description_fr is not None and row.description_en is not None
        else None
    )
    return Product(
        id=row.id,
        sku=row.sku,
        category_id=row.category_id,
        name=LocalText(fr=row.name_fr, en=row.name_en),
        unit=LocalText(fr=row.unit_fr, en=row.unit_en),
        description=description,
        brand=row.brand,
        barcode=row.barcode,
        images=[ImageVariant(i["url"], i["width"]) for i in row.images],
        tags=list(row.tags),
        sold_by_weight=row.sold_by_weight,
        featured=row.featured,
        version=row.version,
        deleted=row.deleted,
    )


def _product_values(product: Product, seq: int) -> dict[str, Any]:
    return {
        "category_id": product.category_id,
        "name_fr": product.name.fr,
        "name_en": product.name.en,
        "description_fr": product.description.fr if product.description else None,
        "description_en": product.description.en if product.description else None,
        "brand": product.brand,
        "unit_fr": product.unit.fr,
        "unit_en": product.unit.en,
        "barcode": product.barcode,
        "images": [{"url": i.url, "width": i.width} for i in product.images],
        "image_url": product.thumbnail,
        "tags": list(product.tags),
        "sold_by_weight": product.sold_by_weight,
        "featured": product.featured,
        "search_fr": search_key(product.name.fr, product.brand, product.tags),
        "search_en": search_key(product.name.en, product.brand, product.tags),
        "sort_fr": sort_key(product.name.fr),
        "sort_en": sort_key(product.name.en),
        "deleted": product.deleted,
        "version": product.version,
        "change_seq": seq,
    }


class SqlaProductRepository(_Repo):
    async def get(self, product_id: uuid.UUID) -> Product | None:
        row = (await self._s.execute(select(products).where(products.c.id == product_id))).first()
        return None if row is None else _product(row)

    async def by_skus(self, skus: Sequence[str]) -> dict[str, Product]:
        found: dict[str, Product] = {}
        unique = sorted(set(skus))
        for start in range(0, len(unique), 500):  # stay under SQLite's bound-parameter limit
            chunk = unique[start : start + 500]
            rows = (await self._s.execute(select(products).where(products.c.sku.in_(chunk)))).all()
            found.update({row.sku: _product(row) for row in rows})
        return found

    async def add_many(self, items: Sequence[Product], *, seq: int) -> None:
        if not items:
            return
        now = self._clock.now()
        try:
            async with self._s.begin_nested():
                await self._s.execute(
                    insert(products),
                    [
                        {
                            "id": p.id,
                            "sku": p.sku,
                            "created_at": now,
                            "updated_at": now,
                            **_product_values(p, seq),
                        }
                        for p in items
                    ],
                )
        except IntegrityError as exc:  # a SKU taken by a concurrent request
            raise ConcurrencyConflict() from exc

    async def save(self, product: Product, *, expected_version: int, seq: int) -> None:
        result = await self._s.execute(
            update(products)
            .where(products.c.id == product.id, products.c.version == expected_version)
            .values(updated_at=self._clock.now(), **_product_values(product, seq))
        )
        _check_one(result)


# -- offers ---------------------------------------------------------------------------------


def _offer(row: Any) -> Offer:
    return Offer(
        id=row.id,
        store_id=row.store_id,
        product_id=row.product_id,
        price_xaf=row.price_xaf,
        listed=row.listed,
        in_stock=row.in_stock,
        version=row.version,
    )


class SqlaOfferRepository(_Repo):
    async def get(self, store_id: uuid.UUID, product_id: uuid.UUID) -> Offer | None:
        row = (
            await self._s.execute(
                select(offers).where(
                    offers.c.store_id == store_id, offers.c.product_id == product_id
                )
            )
        ).first()
        return None if row is None else _offer(row)

    async def for_store(self, store_id: uuid.UUID) -> dict[uuid.UUID, Offer]:
        rows = (await self._s.execute(select(offers).where(offers.c.store_id == store_id))).all()
        return {row.product_id: _offer(row) for row in rows}

    async def add_many(self, items: Sequence[Offer], *, seq: int) -> None:
        if not items:
            return
        now = self._clock.now()
        try:
            async with self._s.begin_nested():
                await self._s.execute(
                    insert(offers),
                    [
                        {
                            "id": o.id,
                            "store_id": o.store_id,
                            "product_id": o.product_id,
                            "price_xaf": o.price_xaf,
                            "listed": o.listed,
                            "in_stock": o.in_stock,
                            "version": o.version,
                            "change_seq": seq,
                            "updated_at": now,
                        }
                        for o in items
                    ],
                )
        except IntegrityError as exc:  # the same offer created concurrently
            raise ConcurrencyConflict() from exc

    async def save(self, offer: Offer, *, expected_version: int, seq: int) -> None:
        result = await self._s.execute(
            update(offers)
            .where(offers.c.id == offer.id, offers.c.version == expected_version)
            .values(
                price_xaf=offer.price_xaf,
                listed=offer.listed,
                version=offer.version,
                change_seq=seq,
                updated_at=self._clock.now(),
            )
        )
        _check_one(result)

    async def touch_product(self, product_id: uuid.UUID, *, seq: int) -> None:
        await self._s.execute(
            update(offers)
            .where(offers.c.product_id == product_id)
            .values(change_seq=seq, updated_at=self._clock.now())
        )

    async def set_in_stock(
        self, store_id: uuid.UUID, product_id: uuid.UUID, in_stock: bool, *, seq: int
    ) -> None:
        await self._s.execute(
            update(offers)
            .where(offers.c.store_id == store_id, offers.c.product_id == product_id)
            .values(in_stock=in_stock, change_seq=seq, updated_at=self._clock.now())
        )


# -- stock levels ---------------------------------------------------------------------------


class SqlaStockRepository(_Repo):
    async def get(self, store_id: uuid.UUID, product_id: uuid.UUID) -> StockLevel | None:
        row = (
            await self._s.execute(
                select(stock_levels).where(
                    stock_levels.c.store_id == store_id, stock_levels.c.product_id == product_id
                )
            )
        ).first()
        return (
            None
            if row is None
            else StockLevel(row.store_id, row.product_id, row.available, row.version)
        )

    async def for_store(self, store_id: uuid.UUID) -> dict[uuid.UUID, StockLevel]:
        rows = (
            await self._s.execute(select(stock_levels).where(stock_levels.c.store_id == store_id))
        ).all()
        return {
            r.product_id: StockLevel(r.store_id, r.product_id, r.available, r.version) for r in rows
        }

    async def put_if_newer(self, level: StockLevel) -> bool:
        values = {
            "available": level.available,
            "version": level.version,
            "updated_at": self._clock.now(),
        }
        result = await self._s.execute(
            update(stock_levels)
            .where(
                stock_levels.c.store_id == level.store_id,
                stock_levels.c.product_id == level.product_id,
                stock_levels.c.version < level.version,
            )
            .values(**values)
        )
        if rows_affected(result) == 1:
            return True
        known = await self.get(level.store_id, level.product_id)
        if known is not None:
            return False  # the stored level is as new or newer
        # First report of this item. A concurrent first insert makes this fail; the bus
        # redelivers and the retry takes the guarded update above.
        await self._s.execute(
            insert(stock_levels).values(
                store_id=level.store_id, product_id=level.product_id, **values
            )
        )
        return True


# -- unit of work ---------------------------------------------------------------------------


class CatalogUoW(SqlUnitOfWork):
    """The catalog unit of work: repositories plus the commit-ordered change counter."""

    stores: StoreRepository
    categories: CategoryRepository
    products: ProductRepository
    offers: OfferRepository
    stock: StockRepository

    _seq: int | None = None

    async def __aenter__(self) -> CatalogUoW:
        await super().__aenter__()
        self._seq = None
        self.stores = SqlaStoreRepository(self.session, self.clock)
        self.categories = SqlaCategoryRepository(self.session, self.clock)
        self.products = SqlaProductRepository(self.session, self.clock)
        self.offers = SqlaOfferRepository(self.session, self.clock)
        self.stock = SqlaStockRepository(self.session, self.clock)
        return self

    async def change_seq(self) -> int:
        if self._seq is None:
            # The row lock taken here is held until commit: a second writer waits, so
            # numbers are handed out in commit order (on SQLite BEGIN IMMEDIATE already
            # serialises writers).
            value = await self._draw_seq()
            self._seq = int(value)
        return self._seq

    async def _draw_seq(self) -> int:
        result = await self.session.execute(
            update(counters)
            .where(counters.c.name == COUNTER_NAME)
            .values(value=counters.c.value + 1)
            .returning(counters.c.value)
        )
        value = result.scalar_one_or_none()
        if value is None:
            raise RuntimeError("the catalog change counter row is missing; run the migrations")
        return int(value)
