"""Payments tables (SQLAlchemy Core, portable across SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)

from okada.infra.db.platform_tables import add_platform_tables
from okada.infra.db.types import AutoIncrementBigInt, PortableJSON, UtcDateTime, new_metadata

metadata = new_metadata()
platform_tables = add_platform_tables(metadata)

# One row per order: the payment's public state plus the replica of the order it pays.
payments = Table(
    "payments",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("payment_id", Uuid, nullable=False, unique=True),
    Column("customer_id", Uuid, nullable=False),
    Column("store_id", Uuid, nullable=False),
    Column("method", String(20), nullable=False),
    Column("provider", String(20), nullable=True),
    Column("status", String(24), nullable=False),
    Column("amount_xaf", BigInteger, nullable=False),
    Column("captured_xaf", BigInteger, nullable=False),
    Column("refunded_xaf", BigInteger, nullable=False),
    Column("payer_phone", String(20), nullable=True),
    Column("failure_reason", String(64), nullable=True),
    Column("version", Integer, nullable=False),
    Column("order_status", String(24), nullable=False),
    Column("order_version", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # the order's delivery fee (the ledger splits it between rider and platform)
    Column("delivery_fee_xaf", BigInteger, nullable=False, server_default="0"),
    Column("rider_id", Uuid, nullable=True),  # set when delivery completes
    CheckConstraint("captured_xaf >= 0 AND refunded_xaf >= 0 AND refunded_xaf <= captured_xaf",
                    name="amounts"),
)
Index("ix_payments_customer", payments.c.customer_id)

attempts = Table(
    "payment_attempts",
    metadata,
    Column("id", Uuid, primary_key=True),  # our reference (MoMo X-Reference-Id, OM orderId)
    Column("order_id", Uuid, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("provider", String(20), nullable=False),
    Column("status", String(16), nullable=False),
    Column("amount_xaf", BigInteger, nullable=False),
    Column("payer_phone", String(20), nullable=False),
    Column("callback_token", String(64), nullable=False, unique=True),
    Column("provider_ref", String(100), nullable=True),
    Column("provider_tx_id", String(100), nullable=True),
    Column("reason", String(64), nullable=True),
    Column("raw_status", String(32), nullable=True),
    Column("checks", Integer, nullable=False),
    Column("submitted", Integer, nullable=False),
    Column("next_check_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # exactly one provider request per order, however often OrderPlaced arrives
    UniqueConstraint("order_id", "seq", name="uq_payment_attempts_order_seq"),
    CheckConstraint(
        "status IN ('created', 'pending', 'succeeded', 'failed', 'expired')", name="status"
    ),
    CheckConstraint("amount_xaf > 0", name="amount"),
)
Index("ix_payment_attempts_due", attempts.c.next_check_at)
Index("ix_payment_attempts_payer", attempts.c.payer_phone, attempts.c.created_at)
Index("ix_payment_attempts_order", attempts.c.order_id)

refunds = Table(
    "refunds",
    metadata,
    Column("id", Uuid, primary_key=True),  # our reference at the provider
    Column("order_id", Uuid, nullable=False),
    Column("cause", String(64), nullable=False),
    Column("attempt_id", Uuid, nullable=False),
    Column("provider", String(20), nullable=False),
    Column("amount_xaf", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(64), nullable=True),
    Column("checks", Integer, nullable=False),
    Column("submitted", Integer, nullable=False),
    Column("next_check_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # a refund is keyed by order and cause: a redelivered cancel refunds nothing twice
    UniqueConstraint("order_id", "cause", name="uq_refunds_order_cause"),
    CheckConstraint("status IN ('created', 'pending', 'completed', 'failed')", name="status"),
    CheckConstraint("amount_xaf > 0", name="amount"),
)
Index("ix_refunds_due", refunds.c.next_check_at)

journal_entries = Table(
    "journal_entries",
    metadata,
    Column("id", AutoIncrementBigInt, primary_key=True, autoincrement=True),
    Column("reference", String(120), nullable=False, unique=True),  # UNIQUE(provider_ref)
    Column("kind", String(32), nullable=False),
    Column("order_id", Uuid, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
)

journal_lines = Table(
    "journal_lines",
    metadata,
    Column("entry_id", AutoIncrementBigInt,
           ForeignKey("journal_entries.id", ondelete="CASCADE"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("account", String(80), nullable=False),
    Column("amount_xaf", BigInteger, nullable=False),  # debit > 0, credit < 0
)
Index("ix_journal_lines_account", journal_lines.c.account)

users = Table(
    "users",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("phones", PortableJSON, nullable=False),  # [{"e164", "operator", "verified"}]
)

rider_cash = Table(
    "rider_cash",
    metadata,
    Column("rider_id", Uuid, primary_key=True),
    Column("cash_in_hand_xaf", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("cash_in_hand_xaf >= 0", name="cash"),
)

cash_movements = Table(
    "cash_movements",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("reference", String(120), nullable=False, unique=True),
    Column("rider_id", Uuid, nullable=False),
    Column("order_id", Uuid, nullable=True),
    Column("kind", String(16), nullable=False),
    Column("amount_xaf", BigInteger, nullable=False),
    Column("note", Text, nullable=True),
    Column("actor_id", Uuid, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("kind IN ('collected', 'remitted')", name="kind"),
)
Index("ix_cash_movements_rider", cash_movements.c.rider_id, cash_movements.c.created_at)

# A remittance whose counted cash differs from what the rider was expected to hand over.
cash_discrepancies = Table(
    "cash_discrepancies",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("reference", String(120), nullable=False, unique=True),  # the remittance's
    Column("rider_id", Uuid, nullable=False),
    Column("expected_xaf", BigInteger, nullable=False),
    Column("counted_xaf", BigInteger, nullable=False),
    Column("discrepancy_xaf", BigInteger, nullable=False),  # counted - expected
    Column("booking", String(20), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("actor_id", Uuid, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("booking IN ('rider_receivable', 'write_off', 'overage')", name="booking"),
    CheckConstraint("expected_xaf >= 0 AND counted_xaf >= 0", name="amounts"),
)
Index("ix_cash_discrepancies_created", cash_discrepancies.c.created_at)

# Merchant settlements and rider payouts through MoMo disbursement, in idempotent batches.
payouts = Table(
    "payouts",
    metadata,
    Column("id", Uuid, primary_key=True),  # our X-Reference-Id at the provider
    Column("batch_id", String(64), nullable=False),
    Column("payee_kind", String(16), nullable=False),
    Column("payee_id", Uuid, nullable=False),
    Column("phone", String(20), nullable=False),
    Column("amount_xaf", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(64), nullable=True),
    Column("checks", Integer, nullable=False),
    Column("submitted", Integer, nullable=False),
    Column("next_check_at", UtcDateTime, nullable=True),
    Column("actor_id", Uuid, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # a batch pays each payee once, however often it is submitted
    UniqueConstraint("batch_id", "payee_kind", "payee_id", name="uq_payouts_batch_payee"),
    CheckConstraint("status IN ('created', 'pending', 'completed', 'failed')", name="status"),
    CheckConstraint("payee_kind IN ('store', 'rider')", name="payee_kind"),
    CheckConstraint("amount_xaf > 0", name="amount"),
)
Index("ix_payouts_due", payouts.c.next_check_at)
