"""Catalog tables (SQLAlchemy Core, portable across SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    Uuid,
)

from okada.infra.db.platform_tables import add_platform_tables
from okada.infra.db.types import PortableJSON, UtcDateTime, new_metadata

metadata = new_metadata()
platform_tables = add_platform_tables(metadata)

COUNTER_NAME = "changes"

# One row per counter. Every catalog write transaction bumps "changes" first with
# UPDATE ... RETURNING; the row lock is held until commit, so change numbers are handed out
# in commit order and the delta feed can never skip a late-committing change.
counters = Table(
    "counters",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

stores = Table(
    "stores",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("name", String(120), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("city", String(60), nullable=False),
    Column("quartier", String(80), nullable=False),
    Column("landmark", String(160), nullable=True),
    Column("lat", Float, nullable=False),
    Column("lng", Float, nullable=False),
    Column("delivery_radius_m", Integer, nullable=True),
    Column("delivery_polygon", PortableJSON, nullable=True),
    # Bounding box of the delivery area: an indexed range check discards far stores
    # before the exact radius/polygon test.
    Column("min_lat", Float, nullable=False),
    Column("max_lat", Float, nullable=False),
    Column("min_lng", Float, nullable=False),
    Column("max_lng", Float, nullable=False),
    Column("opening_hours", PortableJSON, nullable=False),
    Column("timezone", String(40), nullable=False),
    Column("status", String(10), nullable=False),
    Column("prep_minutes", Integer, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("change_seq", BigInteger, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("prep_minutes > 0", name="prep_positive"),
)
Index("ix_stores_box", stores.c.min_lat, stores.c.max_lat)

categories = Table(
    "categories",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("parent_id", Uuid, ForeignKey("categories.id"), nullable=True),
    Column("name_fr", String(80), nullable=False),
    Column("name_en", String(80), nullable=False),
    Column("position", Integer, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("change_seq", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
Index("ix_categories_parent", categories.c.parent_id)

products = Table(
    "products",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("sku", String(64), nullable=False, unique=True),
    Column("category_id", Uuid, ForeignKey("categories.id"), nullable=False),
    Column("name_fr", String(200), nullable=False),
    Column("name_en", String(200), nullable=False),
    Column("description_fr", Text, nullable=True),
    Column("description_en", Text, nullable=True),
    Column("brand", String(80), nullable=True),
    Column("unit_fr", String(60), nullable=False),
    Column("unit_en", String(60), nullable=False),
    Column("barcode", String(14), nullable=True),
    Column("images", PortableJSON, nullable=False),
    Column("image_url", String(500), nullable=True),  # the smallest variant, for lists
    Column("tags", PortableJSON, nullable=False),
    Column("sold_by_weight", Boolean, nullable=False),
    Column("featured", Boolean, nullable=False),
    # Folded (accent- and case-free) copies, so matching and ordering are plain
    # comparisons that behave the same on both dialects.
    Column("search_fr", Text, nullable=False),
    Column("search_en", Text, nullable=False),
    Column("sort_fr", String(120), nullable=False),
    Column("sort_en", String(120), nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("change_seq", BigInteger, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
Index("ix_products_category", products.c.category_id)

offers = Table(
    "offers",
    metadata,
    Column("id", Uuid, primary_key=True),  # contracts.catalog.v1.offer_id(store, product)
    Column("store_id", Uuid, ForeignKey("stores.id"), nullable=False),
    Column("product_id", Uuid, ForeignKey("products.id"), nullable=False),
    Column("price_xaf", BigInteger, nullable=False),
    Column("listed", Boolean, nullable=False),
    Column("in_stock", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    # Stamped with the transaction's change number whenever what a store's product list
    # shows for this item changes (price, listing, availability, the product's own fields).
    Column("change_seq", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("price_xaf > 0", name="price_positive"),
)
Index("uq_offers_store_product", offers.c.store_id, offers.c.product_id, unique=True)
Index("ix_offers_store_seq", offers.c.store_id, offers.c.change_seq, offers.c.product_id)
Index("ix_offers_product", offers.c.product_id)

stock_levels = Table(
    "stock_levels",
    metadata,
    Column("store_id", Uuid, primary_key=True),
    Column("product_id", Uuid, primary_key=True),
    Column("available", Integer, nullable=False),
    Column("version", BigInteger, nullable=False),  # inventory's version of the stock item
    Column("updated_at", UtcDateTime, nullable=False),
)
