"""Devices: remember an unacknowledged store switch (previous store, answer timestamp).

A pull that switches a device's catalog to another store is only acknowledged when the device
comes back with a cursor at or above that answer's timestamp; until then a retried pull
re-sends the switch.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 12:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sync_clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('previous_store_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('switch_seq', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sync_clients', schema=None) as batch_op:
        batch_op.drop_column('switch_seq')
        batch_op.drop_column('previous_store_id')
