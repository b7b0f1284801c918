"""Tables of the sync database (SQLAlchemy Core; the same schema on PostgreSQL and SQLite).

- ``sync_state``: one row: the commit-ordered change counter (``seq``) and the tombstone
  horizon. Every write to a synced record draws its seq from this row inside its own
  transaction; the row lock (PostgreSQL) or the single writer (SQLite ``BEGIN IMMEDIATE``)
  makes seq order equal commit order.
- ``sync_records``: every synced record of every table, keyed by (table, scope, id). ``scope``
  is ``u:<user id>`` for a user's records and ``s:<store id>`` for a store's catalog. ``data``
  holds the record's columns (a superset of the client schema); ``source_version`` is the
  version of the integration event it was built from, ``version`` the server version bumped
  by every change (ETags).
- ``sync_tombstones``: deletions per (table, scope, id) with their seq and time.
- staging read models of the catalog (``catalog_products``, ``catalog_offers``,
  ``stock_levels``, ``stores``) that products rows are computed from.
- ``place_links``: the client id of a place created on a device ↔ identity's place id.
- ``sync_clients``: per user and device, the store whose catalog it last pulled.
- ``uploads``: tus uploads (state; bytes live on disk under the data folder).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
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
add_platform_tables(metadata)

sync_state = Table(
    "sync_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("tombstone_horizon", BigInteger, nullable=False),
)

sync_records = Table(
    "sync_records",
    metadata,
    Column("table_name", String(40), primary_key=True),
    Column("scope", String(40), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("data", PortableJSON, nullable=False),
    Column("server_seq", BigInteger, nullable=False),
    Column("server_created_seq", BigInteger, nullable=False),
    Column("created_by_client", String(64), nullable=True),
    Column("version", Integer, nullable=False),
    Column("source_version", BigInteger, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
)
Index("ix_sync_records_scope_seq", sync_records.c.scope, sync_records.c.server_seq)
Index("ix_sync_records_table_id", sync_records.c.table_name, sync_records.c.id)

sync_tombstones = Table(
    "sync_tombstones",
    metadata,
    Column("table_name", String(40), primary_key=True),
    Column("scope", String(40), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("deleted_at", UtcDateTime, nullable=False),
)
Index("ix_sync_tombstones_scope_seq", sync_tombstones.c.scope, sync_tombstones.c.seq)
Index("ix_sync_tombstones_deleted_at", sync_tombstones.c.deleted_at)

stores = Table(
    "stores",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("name", String(200), nullable=False),
    Column("lat", Float, nullable=False),
    Column("lng", Float, nullable=False),
    Column("status", String(20), nullable=False),
    Column("deleted", Boolean, nullable=False),
)

catalog_products = Table(
    "catalog_products",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("state", PortableJSON, nullable=False),
)

catalog_offers = Table(
    "catalog_offers",
    metadata,
    Column("store_id", Uuid, primary_key=True),
    Column("product_id", Uuid, primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("price_xaf", BigInteger, nullable=False),
    Column("listed", Boolean, nullable=False),
)
Index("ix_catalog_offers_product", catalog_offers.c.product_id)

stock_levels = Table(
    "stock_levels",
    metadata,
    Column("store_id", Uuid, primary_key=True),
    Column("product_id", Uuid, primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("available", BigInteger, nullable=False),
)

place_links = Table(
    "place_links",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("record_id", String(64), primary_key=True),
    Column("place_id", Uuid, nullable=False, unique=True),
)

sync_clients = Table(
    "sync_clients",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("client_id", String(64), primary_key=True),
    Column("store_id", Uuid, nullable=True),
    Column("last_pull_at", UtcDateTime, nullable=False),
    # A store switch answered but not yet acknowledged: the store the device held before and
    # the timestamp of the answer; a later cursor below it means the answer was lost.
    Column("previous_store_id", Uuid, nullable=True),
    Column("switch_seq", BigInteger, nullable=True),
)

uploads = Table(
    "uploads",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("owner_id", Uuid, nullable=False),
    Column("purpose", String(40), nullable=False),
    Column("record_id", String(64), nullable=False),
    Column("content_type", String(40), nullable=False),
    Column("filename", String(200), nullable=True),
    Column("length", BigInteger, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),  # "open", "completed", "failed", "expired"
    Column("sha256", String(64), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("completed_at", UtcDateTime, nullable=True),
)
Index("ix_uploads_status_expires", uploads.c.status, uploads.c.expires_at)
