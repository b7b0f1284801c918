"""Delivery tables (SQLAlchemy Core, portable across SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Uuid,
)

from okada.infra.db.platform_tables import add_platform_tables
from okada.infra.db.types import PortableJSON, UtcDateTime, new_metadata

metadata = new_metadata()
platform_tables = add_platform_tables(metadata)

stores = Table(
    "stores",
    metadata,
    Column("store_id", Uuid, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("name", String(200), nullable=False),
    Column("city", String(60), nullable=False),
    Column("quartier", String(120), nullable=False),
    Column("lat", Float, nullable=False),
    Column("lng", Float, nullable=False),
    Column("radius_m", Integer, nullable=True),
    Column("polygon", PortableJSON, nullable=True),
    Column("opening_hours", PortableJSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("prep_minutes", Integer, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

riders = Table(
    "riders",
    metadata,
    Column("rider_id", Uuid, primary_key=True),
    Column("user_version", Integer, nullable=False),
    Column("is_rider", Boolean, nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("shift", String(16), nullable=False),
    Column("shift_version", Integer, nullable=False),
    Column("shift_changed_at", UtcDateTime, nullable=True),
    Column("last_lat", Float, nullable=True),
    Column("last_lng", Float, nullable=True),
    Column("last_ping_at", UtcDateTime, nullable=True),
    Column("last_offered_at", UtcDateTime, nullable=True),
    Column("current_delivery_id", Uuid, nullable=True),
    Column("cash_in_hand_xaf", Integer, nullable=False),
    Column("float_limit_xaf", Integer, nullable=True),
    Column("cash_version", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("shift IN ('offline', 'online', 'busy')", name="shift"),
)

# The silent-rider sweep: on-shift riders by last sign of life.
Index("ix_riders_shift_ping", riders.c.shift, riders.c.last_ping_at)

rider_pings = Table(
    "rider_pings",
    metadata,
    Column("rider_id", Uuid, primary_key=True),
    Column("at", UtcDateTime, primary_key=True),
    Column("lat", Float, nullable=False),
    Column("lng", Float, nullable=False),
    Column("accuracy_m", Float, nullable=True),
    Column("received_at", UtcDateTime, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("order_id", Uuid, nullable=False, unique=True),
    Column("store_id", Uuid, nullable=False),
    Column("customer_id", Uuid, nullable=False),
    Column("rider_id", Uuid, nullable=True),
    Column("status", String(16), nullable=False),
    Column("pin", String(4), nullable=False),
    Column("pin_attempts", Integer, nullable=False),
    Column("store_name", String(200), nullable=True),
    Column("store_lat", Float, nullable=False),
    Column("store_lng", Float, nullable=False),
    Column("drop_lat", Float, nullable=True),
    Column("drop_lng", Float, nullable=True),
    Column("drop_quartier", String(120), nullable=True),
    Column("drop_landmark", String(300), nullable=True),
    Column("drop_source", String(16), nullable=True),
    Column("drop_corrected", Boolean, nullable=False),
    Column("place_id", Uuid, nullable=True),
    Column("customer_phone_masked", String(32), nullable=True),
    Column("cash_to_collect_xaf", Integer, nullable=False),
    Column("fee_xaf", Integer, nullable=False),
    Column("order_status", String(24), nullable=False),
    Column("order_version", Integer, nullable=False),
    Column("eta_at", UtcDateTime, nullable=True),
    Column("dispatch_due_at", UtcDateTime, nullable=True),
    Column("failure_reason", String(200), nullable=True),
    Column("proof", String(8), nullable=True),
    Column("photo_upload_id", String(100), nullable=True),
    Column("assign_reason", String(200), nullable=True),
    Column("status_at", UtcDateTime, nullable=True),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
# The dispatcher's scan: searching jobs by due time.
Index("ix_deliveries_status_due", deliveries.c.status, deliveries.c.dispatch_due_at)
Index("ix_deliveries_rider", deliveries.c.rider_id)

offers = Table(
    "offers",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("delivery_id", Uuid, nullable=False),
    Column("rider_id", Uuid, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("responded_at", UtcDateTime, nullable=True),
    CheckConstraint(
        "status IN ('pending', 'accepted', 'declined', 'expired', 'withdrawn')", name="status"
    ),
)
# The expiry scan, a rider's open offers, and a job's offer history.
Index("ix_offers_status_expires", offers.c.status, offers.c.expires_at)
Index("ix_offers_rider_status", offers.c.rider_id, offers.c.status)
Index("ix_offers_delivery", offers.c.delivery_id)

place_corrections = Table(
    "place_corrections",
    metadata,
    Column("delivery_id", Uuid, primary_key=True),
    Column("customer_id", Uuid, nullable=False),
    Column("place_id", Uuid, nullable=False),
    Column("lat", Float, nullable=False),
    Column("lng", Float, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("last_error", String(200), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("status IN ('pending', 'done', 'dropped', 'failed')", name="status"),
)
# The worker's scan: pending corrections by due time.
Index("ix_place_corrections_status_due", place_corrections.c.status,
      place_corrections.c.next_attempt_at)
