"""Identity tables (SQLAlchemy Core, portable across SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)

from okada.infra.db.platform_tables import add_platform_tables
from okada.infra.db.types import PortableJSON, UtcDateTime, new_metadata

metadata = new_metadata()
platform_tables = add_platform_tables(metadata)

users = Table(
    "users",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(120), nullable=True),
    Column("language", String(2), nullable=False),
    Column("roles", PortableJSON, nullable=False),
    Column("store_ids", PortableJSON, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("password_hash", String(255), nullable=True),
    Column("totp_secret", LargeBinary, nullable=True),  # Fernet-sealed, never the clear secret
    Column("totp_last_step", BigInteger, nullable=True),
    Column("disabled_at", UtcDateTime, nullable=True),
    Column("disabled_reason", String(500), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
)

phones = Table(
    "phones",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("e164", String(20), nullable=False),
    Column("operator", String(20), nullable=True),
    Column("verified", Boolean, nullable=False),
    Column("is_primary", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("user_id", "e164"),
)
Index("ix_phones_user", phones.c.user_id)
Index("ix_phones_e164", phones.c.e164)
# A number belongs to at most one account once verified; pending (unverified) claims may
# coexist, so nobody can squat a number they do not hold.
Index(
    "uq_phones_e164_verified",
    phones.c.e164,
    unique=True,
    sqlite_where=text("verified"),
    postgresql_where=text("verified"),
)

otp_challenges = Table(
    "otp_challenges",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("phone", String(20), nullable=False),
    Column("purpose", String(20), nullable=False),
    Column("code_hash", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("consumed_at", UtcDateTime, nullable=True),
    Column("voided_at", UtcDateTime, nullable=True),
    Column("user_id", Uuid, nullable=True),
)
Index("ix_otp_phone_active", otp_challenges.c.phone, otp_challenges.c.created_at)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("family_id", Uuid, nullable=False),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("device_id", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("parent_id", Uuid, nullable=True),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime, nullable=True),
    Column("replaced_by", Uuid, nullable=True),
    Column("child_token_sealed", Text, nullable=True),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("family_expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
)
Index("ix_refresh_family", refresh_tokens.c.family_id)
Index("ix_refresh_user", refresh_tokens.c.user_id)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("private_pem_sealed", Text, nullable=False),
    Column("public_jwk", PortableJSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("retired_at", UtcDateTime, nullable=True),
)

places = Table(
    "places",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("label", String(60), nullable=False),
    Column("city", String(40), nullable=False),
    Column("quartier", String(80), nullable=False),
    Column("landmark", String(160), nullable=True),
    Column("directions", String(500), nullable=True),
    Column("lat", Float, nullable=True),
    Column("lng", Float, nullable=True),
    Column("plus_code", String(20), nullable=True),
    Column("contact_phone", String(20), nullable=True),
    Column("is_default", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Column("deleted_at", UtcDateTime, nullable=True),
)
Index("ix_places_user", places.c.user_id)
# Exactly one default place per user among the live ones (the database keeps the rule even
# when two requests race).
Index(
    "uq_places_default",
    places.c.user_id,
    unique=True,
    sqlite_where=text("is_default AND deleted_at IS NULL"),
    postgresql_where=text("is_default AND deleted_at IS NULL"),
)
