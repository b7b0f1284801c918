"""Orders tables: the event store, snapshots, projections, saga rows and local read models."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
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

# The event store: append-only; the primary key (stream_id, version) is the optimistic check.
order_events = Table(
    "order_events",
    metadata,
    Column("stream_id", Uuid, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("type", String(64), nullable=False),
    Column("data", PortableJSON, nullable=False),
    Column("actor_id", Uuid, nullable=True),
    Column("actor_role", String(32), nullable=False),
    Column("reason", String(500), nullable=True),
    Column("recorded_at", UtcDateTime, nullable=False),
)

# The newest snapshot of a stream (taken every N events); load = snapshot + later events.
order_snapshots = Table(
    "order_snapshots",
    metadata,
    Column("stream_id", Uuid, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("state", PortableJSON, nullable=False),
    Column("taken_at", UtcDateTime, nullable=False),
)

# Projection tracking: the last version of each stream a projection applied, written in the
# same transaction as the projection's rows, so each event is applied exactly once.
projection_tracking = Table(
    "projection_tracking",
    metadata,
    Column("projection", String(64), primary_key=True),
    Column("stream_id", Uuid, primary_key=True),
    Column("version", Integer, nullable=False),
)

# Read model: one row per order with its public state and the columns lists filter on.
orders_view = Table(
    "orders_view",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("customer_id", Uuid, nullable=False),
    Column("store_id", Uuid, nullable=False),
    Column("rider_id", Uuid, nullable=True),
    Column("status", String(32), nullable=False),
    Column("payment_method", String(32), nullable=False),
    Column("payer_phone", String(20), nullable=True),
    Column("contact_phone", String(20), nullable=True),
    Column("total_xaf", Integer, nullable=False),
    Column("placed_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Column("state", PortableJSON, nullable=False),
)
Index("ix_orders_view_customer", orders_view.c.customer_id, orders_view.c.placed_at)
Index("ix_orders_view_store_status", orders_view.c.store_id, orders_view.c.status,
      orders_view.c.placed_at)
Index("ix_orders_view_status", orders_view.c.status, orders_view.c.placed_at)
Index("ix_orders_view_payer_phone", orders_view.c.payer_phone)
Index("ix_orders_view_contact_phone", orders_view.c.contact_phone)

# Saga steps: due-time rows keyed (order, step), scanned by the saga worker.
saga_steps = Table(
    "saga_steps",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("step", String(100), primary_key=True),
    Column("due_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("payload", PortableJSON, nullable=False),
    Column("done_at", UtcDateTime, nullable=True),
    Column("note", String(200), nullable=True),
    Column("last_error", Text, nullable=True),
)
Index("ix_saga_steps_due", saga_steps.c.done_at, saga_steps.c.due_at)

# Local read models from catalog and identity events (version = the producer's).
local_stores = Table(
    "local_stores",
    metadata,
    Column("store_id", Uuid, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("data", PortableJSON, nullable=False),
)
local_products = Table(
    "local_products",
    metadata,
    Column("product_id", Uuid, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("name", PortableJSON, nullable=False),
    Column("unit", PortableJSON, nullable=False),
    Column("deleted", Boolean, nullable=False),
)
local_offers = Table(
    "local_offers",
    metadata,
    Column("store_id", Uuid, primary_key=True),
    Column("product_id", Uuid, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("price_xaf", Integer, nullable=False),
    Column("listed", Boolean, nullable=False),
)
local_users = Table(
    "local_users",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("language", String(8), nullable=False),
    Column("phones", PortableJSON, nullable=False),
)
local_places = Table(
    "local_places",
    metadata,
    Column("place_id", Uuid, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("address", PortableJSON, nullable=False),
)
# Phone -> user, so operations find a customer's orders by any of their phones.
local_user_phones = Table(
    "local_user_phones",
    metadata,
    Column("e164", String(20), primary_key=True),
    Column("user_id", Uuid, primary_key=True),
)
