"""Inventory tables (SQLAlchemy Core, portable across SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    Uuid,
)

from okada.infra.db.platform_tables import add_platform_tables
from okada.infra.db.types import UtcDateTime, new_metadata

metadata = new_metadata()
platform_tables = add_platform_tables(metadata)

stock_items = Table(
    "stock_items",
    metadata,
    Column("store_id", Uuid, primary_key=True),
    Column("product_id", Uuid, primary_key=True),
    Column("on_hand", Integer, nullable=False),
    Column("reserved", Integer, nullable=False),
    Column("low_stock_threshold", Integer, nullable=False),
    Column("listed", Boolean, nullable=False),
    Column("removed", Boolean, nullable=False),
    Column("offer_version", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # The last line of defence against overselling: whatever the code does, the database
    # refuses a row with negative reservations or more reserved than on the shelf.
    CheckConstraint("reserved >= 0 AND on_hand >= reserved", name="levels"),
    CheckConstraint("low_stock_threshold >= 0", name="threshold"),
)
Index("ix_stock_items_product", stock_items.c.product_id)

reservations = Table(
    "reservations",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("store_id", Uuid, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Column("release_reason", String(200), nullable=True),
    CheckConstraint(
        "status IN ('held', 'confirmed', 'released', 'expired')", name="status"
    ),
)
# The sweeper's scan: held rows by due time.
Index("ix_reservations_status_expires", reservations.c.status, reservations.c.expires_at)

reservation_lines = Table(
    "reservation_lines",
    metadata,
    Column(
        "order_id",
        Uuid,
        ForeignKey("reservations.order_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("product_id", Uuid, primary_key=True),
    Column("quantity", Integer, nullable=False),
    CheckConstraint("quantity > 0", name="quantity"),
)

stock_adjustments = Table(
    "stock_adjustments",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("store_id", Uuid, nullable=False),
    Column("product_id", Uuid, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("delta", Integer, nullable=False),
    Column("on_hand_before", Integer, nullable=False),
    Column("on_hand_after", Integer, nullable=False),
    Column("reserved", Integer, nullable=False),
    Column("note", Text, nullable=True),
    Column("actor_id", Uuid, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("stock_version", Integer, nullable=False),
    CheckConstraint("kind IN ('receipt', 'count', 'damage', 'return')", name="kind"),
)
Index(
    "ix_stock_adjustments_store_created",
    stock_adjustments.c.store_id,
    stock_adjustments.c.created_at,
    stock_adjustments.c.id,
)

catalog_products = Table(
    "catalog_products",
    metadata,
    Column("product_id", Uuid, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("removed", Boolean, nullable=False),
)
