"""Ledger split and cash discrepancies: order delivery fee and rider on payments, discrepancies.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 12:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import okada.infra.db.types

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery_fee_xaf', sa.BigInteger(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('rider_id', sa.Uuid(), nullable=True))
    op.create_table('cash_discrepancies',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('reference', sa.String(length=120), nullable=False),
    sa.Column('rider_id', sa.Uuid(), nullable=False),
    sa.Column('expected_xaf', sa.BigInteger(), nullable=False),
    sa.Column('counted_xaf', sa.BigInteger(), nullable=False),
    sa.Column('discrepancy_xaf', sa.BigInteger(), nullable=False),
    sa.Column('booking', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', okada.infra.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("booking IN ('rider_receivable', 'write_off', 'overage')",
                       name=op.f('ck_cash_discrepancies_booking')),
    sa.CheckConstraint('expected_xaf >= 0 AND counted_xaf >= 0',
                       name=op.f('ck_cash_discrepancies_amounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cash_discrepancies')),
    sa.UniqueConstraint('reference', name=op.f('uq_cash_discrepancies_reference'))
    )
    with op.batch_alter_table('cash_discrepancies', schema=None) as batch_op:
        batch_op.create_index('ix_cash_discrepancies_created', ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cash_discrepancies', schema=None) as batch_op:
        batch_op.drop_index('ix_cash_discrepancies_created')
    op.drop_table('cash_discrepancies')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_column('rider_id')
        batch_op.drop_column('delivery_fee_xaf')
