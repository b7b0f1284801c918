"""Public catalog reads: stores around a point, the category tree, a store's products, one
product and the per-store delta feed.

These are the hot paths, so rows stay plain dicts from the database to the JSON encoder:
no model object is built per item.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from okada.kernel.clock import Clock
from okada.services.catalog.application.errors import (
    ProductNotFound,
    StoreNotFound,
    UnknownCategory,
    UnknownField,
)
from okada.services.catalog.application.geo import haversine_m, serves
from okada.services.catalog.application.hours import is_open
from okada.services.catalog.application.model import OpeningSlot, StoreStatus
from okada.services.catalog.application.ports import CatalogReader, CategoryFilter, Row
from okada.services.catalog.application.text import query_terms

LIST_FIELDS = (
    "id",
    "sku",
    "name",
    "brand",
    "unit",
    "category_id",
    "store_id",
    "price_xaf",
    "in_stock",
    "image_url",
    "sold_by_weight",
)
"""Fields of a product in a store's list and delta feed, in response order."""


def select_fields(fields: str | None) -> tuple[str, ...]:
    """Parse a sparse fieldset (``fields=id,name,price_xaf``).

    Business rules: names are comma-separated and case-sensitive; ``id`` is always
    returned so an app can key what it stores; an empty or absent parameter means every
    field; an unknown name is an error rather than silently dropped, so a typo shows.

    Raises:
        UnknownField: A name is not one of :data:`LIST_FIELDS`.
    """
    if fields is None or not fields.strip():
        return LIST_FIELDS
    wanted = {f.strip() for f in fields.split(",") if f.strip()}
    unknown = sorted(wanted - set(LIST_FIELDS))
    if unknown:
        raise UnknownField(field=unknown[0], allowed=", ".join(LIST_FIELDS))
    wanted.add("id")
    return tuple(f for f in LIST_FIELDS if f in wanted)


@dataclass(frozen=True, slots=True)
class ProductPage:
    """One page of a store's products; ``next`` is the keyset position after the last item."""

    items: list[Row]
    next: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ChangePage:
    """One page of a store's delta feed."""

    changes: list[Row]
    deleted: list[uuid.UUID]
    next: dict[str, Any]
    has_more: bool


def _store_view(row: Row, now: dt.datetime, distance_m: float | None) -> Row:
    slots = [OpeningSlot(s["weekday"], s["opens"], s["closes"]) for s in row["opening_hours"]]
    status = StoreStatus(row["status"])
    view: Row = {
        "id": row["id"],
        "slug": row["slug"],
        "name": row["name"],
        "kind": row["kind"],
        "city": row["city"],
        "quartier": row["quartier"],
        "landmark": row["landmark"],
        "lat": row["lat"],
        "lng": row["lng"],
        "status": status.value,
        "open_now": is_open(status, slots, now, row["timezone"]),
        "prep_minutes": row["prep_minutes"],
        "opening_hours": row["opening_hours"],
        "timezone": row["timezone"],
        "delivery_radius_m": row["delivery_radius_m"],
        "delivery_polygon": row["delivery_polygon"],
        "version": row["version"],
    }
    if distance_m is not None:
        view["distance_m"] = round(distance_m)
    return view


class CatalogQueries:
    """Read use cases over a :class:`CatalogReader`.

    Args:
        reader: The read-side queries.
        clock: Tells the time ``open_now`` is computed at.
    """

    def __init__(self, *, reader: CatalogReader, clock: Clock) -> None:
        self._reader = reader
        self._clock = clock

    async def stores(self, lat: float | None = None, lng: float | None = None) -> list[Row]:
        """Stores serving a point, nearest first; every live store when no point is given.

        Business rules: a store serves a point inside its delivery polygon, or within its
        delivery radius of the store (haversine distance, edge included). ``distance_m`` is
        the straight-line distance from the store. ``open_now`` is computed now in the
        store's time zone (``Africa/Douala``) from its opening hours and status: ``closed``
        is never open, ``busy`` is open with a longer wait. Closed stores are listed too, so
        the app can say when they open.
        """
        now = self._clock.now()
        if lat is None or lng is None:
            rows = await self._reader.stores()
            return [_store_view(r, now, None) for r in sorted(rows, key=lambda r: r["name"])]
        found: list[tuple[float, Row]] = []
        for row in await self._reader.stores_around(lat, lng):
            polygon = [(p[0], p[1]) for p in row["delivery_polygon"] or []] or None
            if serves(row["lat"], row["lng"], row["delivery_radius_m"], polygon, lat, lng):
                found.append((haversine_m(row["lat"], row["lng"], lat, lng), row))
        found.sort(key=lambda pair: (pair[0], str(pair[1]["id"])))
        return [_store_view(row, now, distance) for distance, row in found]

    async def store(self, store_id: uuid.UUID) -> Row:
        """One live store with ``open_now``.

        Raises:
            StoreNotFound: No such store.
        """
        row = await self._reader.store(store_id)
        if row is None:
            raise StoreNotFound()
        return _store_view(row, self._clock.now(), None)

    async def categories(self, language: str, *, flat: bool = False) -> list[Row]:
        """The category tree with names in ``language``.

        Business rules: siblings are ordered by ``position``, then name; ``flat`` returns
        one list (parents before children) with ``parent_id`` instead of nested
        ``children``. A category whose parent was removed is not shown.
        """
        rows = await self._reader.categories()
        nodes: dict[uuid.UUID, Row] = {}
        for row in rows:
            nodes[row["id"]] = {
                "id": row["id"],
                "slug": row["slug"],
                "name": row["name_en"] if language == "en" else row["name_fr"],
                "parent_id": row["parent_id"],
                "position": row["position"],
            }
        children: dict[uuid.UUID | None, list[Row]] = {}
        for node in nodes.values():
            parent = node["parent_id"]
            if parent is not None and parent not in nodes:
                continue  # orphaned: hidden with its removed parent
            children.setdefault(parent, []).append(node)
        for siblings in children.values():
            siblings.sort(key=lambda n: (n["position"], n["name"]))

        def walk(parent: uuid.UUID | None) -> list[Row]:
            result = []
            for node in children.get(parent, []):
                if flat:
                    result.append(node)
                    result.extend(walk(node["id"]))
                else:
                    result.append({**node, "children": walk(node["id"])})
            return result

        return walk(None)

    async def store_products(
        self,
        store_id: uuid.UUID,
        *,
        language: str,
        fields: Sequence[str] = LIST_FIELDS,
        category: CategoryFilter | None = None,
        q: str | None = None,
        featured: bool = False,
        after: dict[str, Any] | None = None,
        limit: int = 20,
    ) -> ProductPage:
        """A page of a store's listed products with price and availability.

        Business rules: only listed offers of live products; a category includes its
        sub-categories; ``q`` matches every word against the name in the caller's language,
        the brand and the tags, ignoring case and accents; ``featured`` keeps the featured
        products in stock. Items are ordered by folded name then id, and the keyset cursor
        makes paging stable and complete while the catalog changes. ``in_stock`` is
        inventory's ``available > 0``, true for an item inventory never reported.

        Raises:
            StoreNotFound: No such store (checked only when the page is empty, so a normal
                page costs one query).
            UnknownCategory: No such category (checked the same way).
        """
        position: tuple[str, uuid.UUID] | None = None
        if after is not None:
            position = (str(after["k"]), uuid.UUID(str(after["i"])))
        rows = await self._reader.store_products(
            store_id,
            language=language,
            category=category,
            terms=query_terms(q),
            featured=featured,
            after=position,
            limit=limit + 1,
        )
        if not rows and after is None:
            if await self._reader.store(store_id) is None:
                raise StoreNotFound()
            if category is not None and not await self._reader.category_exists(category):
                raise UnknownCategory(category=str(category.category_id or category.slug)[:40])
        has_more = len(rows) > limit
        rows = rows[:limit]
        items = [{f: row[f] for f in fields} for row in rows]
        nxt = {"k": rows[-1]["sort_key"], "i": str(rows[-1]["id"])} if has_more else None
        return ProductPage(items=items, next=nxt)

    async def product(
        self, product_id: uuid.UUID, language: str, store_id: uuid.UUID | None = None
    ) -> Row:
        """One live product: ``name``, ``unit`` and ``description`` in ``language`` plus
        ``translations`` with both languages; with ``store_id``, its offer there
        (``price_xaf``, ``listed``, ``in_stock``; null when the store does not sell it).

        Raises:
            ProductNotFound: No such product, or it was withdrawn.
        """
        row = await self._reader.product(product_id, store_id)
        if row is None:
            raise ProductNotFound()
        suffix = "_en" if language == "en" else "_fr"
        view: Row = {
            "id": row["id"],
            "sku": row["sku"],
            "category_id": row["category_id"],
            "name": row["name" + suffix],
            "unit": row["unit" + suffix],
            "description": row["description" + suffix],
            "brand": row["brand"],
            "barcode": row["barcode"],
            "images": row["images"],
            "image_url": row["image_url"],
            "tags": row["tags"],
            "sold_by_weight": row["sold_by_weight"],
            "version": row["version"],
            "translations": {
                lang: {
                    "name": row[f"name_{lang}"],
                    "unit": row[f"unit_{lang}"],
                    "description": row[f"description_{lang}"],
                }
                for lang in ("fr", "en")
            },
        }
        if store_id is not None:
            view["store_id"] = store_id
            view["price_xaf"] = row.get("price_xaf")
            view["listed"] = row.get("listed")
            view["in_stock"] = row.get("in_stock")
        return view

    async def changes(
        self,
        store_id: uuid.UUID,
        *,
        language: str,
        since: dict[str, Any] | None,
        limit: int = 100,
    ) -> ChangePage:
        """What changed in a store's product list after a cursor.

        Business rules: ``changes`` holds the full list item of every product added,
        repriced, relisted, renamed or whose availability flipped; ``deleted`` holds the ids
        of products delisted or withdrawn. Without a cursor (first sync) every visible
        product comes in ``changes`` and nothing invisible is sent as deleted, except what
        changes while the client pages through. Positions follow a change
        sequence handed out in commit order, so a client that resumes from ``next`` misses
        nothing; a product that changes again reappears later with its newest state.

        Raises:
            StoreNotFound: No such store.
        """
        if await self._reader.store(store_id) is None:
            raise StoreNotFound()
        after: tuple[int, uuid.UUID] | None = None
        if since is None:
            # First sync: what is invisible now was never sent, so only deletions stamped
            # after this moment (rows the client may have received on an earlier page of
            # this sync) are sent from here on.
            horizon = await self._reader.change_counter()
        else:
            after = (int(since["s"]), uuid.UUID(str(since["i"])))
            horizon = int(since["h"])
        rows = await self._reader.changes(
            store_id, language=language, after=after, limit=limit + 1, removed_after=horizon
        )
        has_more = len(rows) > limit
        rows = rows[:limit]
        changes = [{f: row[f] for f in LIST_FIELDS} for row in rows if row["visible"]]
        deleted = [row["id"] for row in rows if not row["visible"]]
        if rows:
            nxt: dict[str, Any] = {
                "s": rows[-1]["change_seq"],
                "i": str(rows[-1]["id"]),
                "h": horizon,
            }
        elif since is not None:
            nxt = dict(since)
        else:
            nxt = {"s": horizon, "i": str(uuid.UUID(int=0)), "h": horizon}
        return ChangePage(changes=changes, deleted=deleted, next=nxt, has_more=has_more)
