"""Read-side queries: one SQL statement each, rows handed back as plain dicts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Select

from okada.services.catalog.adapters.orm import (
    COUNTER_NAME,
    categories,
    counters,
    offers,
    products,
    stores,
)
from okada.services.catalog.application.ports import CategoryFilter, Row

_STORE_COLUMNS = [
    stores.c.id,
    stores.c.slug,
    stores.c.name,
    stores.c.kind,
    stores.c.city,
    stores.c.quartier,
    stores.c.landmark,
    stores.c.lat,
    stores.c.lng,
    stores.c.delivery_radius_m,
    stores.c.delivery_polygon,
    stores.c.opening_hours,
    stores.c.timezone,
    stores.c.status,
    stores.c.prep_minutes,
    stores.c.version,
]


def _list_columns(language: str) -> list[Any]:
    en = language == "en"
    return [
        products.c.id,
        products.c.sku,
        (products.c.name_en if en else products.c.name_fr).label("name"),
        products.c.brand,
        (products.c.unit_en if en else products.c.unit_fr).label("unit"),
        products.c.category_id,
        offers.c.store_id,
        offers.c.price_xaf,
        offers.c.in_stock,
        products.c.image_url,
        products.c.sold_by_weight,
    ]


def _root(category: CategoryFilter) -> Any:
    if category.category_id is not None:
        return categories.c.id == category.category_id
    return categories.c.slug == category.slug


def _subtree(category: CategoryFilter) -> Any:
    """Ids of a category and all its live descendants (recursive CTE, both dialects)."""
    tree = (
        select(categories.c.id)
        .where(_root(category), categories.c.deleted.is_(False))
        .cte("category_tree", recursive=True)
    )
    child = categories.alias("child")
    tree = tree.union_all(
        select(child.c.id).where(child.c.parent_id == tree.c.id, child.c.deleted.is_(False))
    )
    return select(tree.c.id)


class SqlaCatalogReader:
    """:class:`~okada.services.catalog.application.ports.CatalogReader` on SQLAlchemy Core."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def _rows(self, statement: Select[Any]) -> list[Row]:
        async with self._engine.connect() as conn:
            result = await conn.execute(statement)
            return [dict(row) for row in result.mappings()]

    async def _one(self, statement: Select[Any]) -> Row | None:
        rows = await self._rows(statement.limit(1))
        return rows[0] if rows else None

    async def stores_around(self, lat: float, lng: float) -> list[Row]:
        return await self._rows(
            select(*_STORE_COLUMNS).where(
                stores.c.deleted.is_(False),
                stores.c.min_lat <= lat,
                stores.c.max_lat >= lat,
                stores.c.min_lng <= lng,
                stores.c.max_lng >= lng,
            )
        )

    async def stores(self) -> list[Row]:
        return await self._rows(select(*_STORE_COLUMNS).where(stores.c.deleted.is_(False)))

    async def store(self, store_id: uuid.UUID) -> Row | None:
        return await self._one(
            select(*_STORE_COLUMNS).where(stores.c.id == store_id, stores.c.deleted.is_(False))
        )

    async def category_exists(self, category: CategoryFilter) -> bool:
        return (
            await self._one(
                select(categories.c.id).where(_root(category), categories.c.deleted.is_(False))
            )
            is not None
        )

    async def categories(self) -> list[Row]:
        return await self._rows(
            select(
                categories.c.id,
                categories.c.slug,
                categories.c.parent_id,
                categories.c.name_fr,
                categories.c.name_en,
                categories.c.position,
            ).where(categories.c.deleted.is_(False))
        )

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
        en = language == "en"
        sort = products.c.sort_en if en else products.c.sort_fr
        search = products.c.search_en if en else products.c.search_fr
        statement = (
            select(*_list_columns(language), sort.label("sort_key"))
            .select_from(offers.join(products, products.c.id == offers.c.product_id))
            .where(
                offers.c.store_id == store_id,
                offers.c.listed.is_(True),
                products.c.deleted.is_(False),
            )
        )
        if category is not None:
            statement = statement.where(products.c.category_id.in_(_subtree(category)))
        for term in terms:
            statement = statement.where(search.contains(term, autoescape=True))
        if featured:
            statement = statement.where(products.c.featured.is_(True), offers.c.in_stock.is_(True))
        if after is not None:
            key, product_id = after
            statement = statement.where(
                or_(sort > key, and_(sort == key, products.c.id > product_id))
            )
        return await self._rows(statement.order_by(sort, products.c.id).limit(limit))

    async def product(self, product_id: uuid.UUID, store_id: uuid.UUID | None) -> Row | None:
        columns: list[Any] = [
            products.c.id,
            products.c.sku,
            products.c.category_id,
            products.c.name_fr,
            products.c.name_en,
            products.c.unit_fr,
            products.c.unit_en,
            products.c.description_fr,
            products.c.description_en,
            products.c.brand,
            products.c.barcode,
            products.c.images,
            products.c.image_url,
            products.c.tags,
            products.c.sold_by_weight,
            products.c.version,
        ]
        source: Any = products
        if store_id is not None:
            source = products.outerjoin(
                offers, and_(offers.c.product_id == products.c.id, offers.c.store_id == store_id)
            )
            columns += [offers.c.price_xaf, offers.c.listed, offers.c.in_stock]
        return await self._one(
            select(*columns)
            .select_from(source)
            .where(products.c.id == product_id, products.c.deleted.is_(False))
        )

    async def changes(
        self,
        store_id: uuid.UUID,
        *,
        language: str,
        after: tuple[int, uuid.UUID] | None,
        limit: int,
        removed_after: int,
    ) -> list[Row]:
        statement = (
            select(
                *_list_columns(language),
                offers.c.change_seq,
                offers.c.listed,
                products.c.deleted,
            )
            .select_from(offers.join(products, products.c.id == offers.c.product_id))
            .where(offers.c.store_id == store_id)
        )
        statement = statement.where(
            or_(
                and_(offers.c.listed.is_(True), products.c.deleted.is_(False)),
                offers.c.change_seq > removed_after,
            )
        )
        if after is not None:
            seq, product_id = after
            statement = statement.where(
                or_(
                    offers.c.change_seq > seq,
                    and_(offers.c.change_seq == seq, offers.c.product_id > product_id),
                )
            )
        rows = await self._rows(
            statement.order_by(offers.c.change_seq, offers.c.product_id).limit(limit)
        )
        for row in rows:
            listed, deleted = row.pop("listed"), row.pop("deleted")
            row["visible"] = bool(listed) and not deleted
        return rows

    async def change_counter(self) -> int:
        async with self._engine.connect() as conn:
            value = await conn.scalar(
                select(counters.c.value).where(counters.c.name == COUNTER_NAME)
            )
        return int(value or 0)

    async def offers_export(self, store_id: uuid.UUID) -> list[Row]:
        return await self._rows(
            select(
                products.c.sku,
                offers.c.price_xaf,
                offers.c.listed,
                offers.c.in_stock,
                offers.c.product_id,
                products.c.name_fr,
                products.c.name_en,
                products.c.unit_fr,
                products.c.unit_en,
            )
            .select_from(offers.join(products, products.c.id == offers.c.product_id))
            .where(offers.c.store_id == store_id, products.c.deleted.is_(False))
            .order_by(products.c.sku)
        )
