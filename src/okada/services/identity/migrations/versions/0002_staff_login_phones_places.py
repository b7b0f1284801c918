"""Staff login, pending phone claims, one default place.

users: last TOTP step used (replay guard), disable time and reason. otp_challenges: the
account that asked for an add-phone code. phones: a number is unique among verified
attachments only (pending claims may coexist), and once per account. places: at most one
live default place per user.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import okada.infra.db.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DEFAULT_PLACE = "is_default AND deleted_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("disabled_at", okada.infra.db.types.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("disabled_reason", sa.String(length=500), nullable=True))

    with op.batch_alter_table("otp_challenges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.Uuid(), nullable=True))

    with op.batch_alter_table("phones", schema=None) as batch_op:
        batch_op.drop_constraint("uq_phones_e164", type_="unique")
        batch_op.create_unique_constraint("uq_phones_user_id", ["user_id", "e164"])
        batch_op.create_index("ix_phones_e164", ["e164"], unique=False)
        batch_op.create_index(
            "uq_phones_e164_verified",
            ["e164"],
            unique=True,
            sqlite_where=sa.text("verified"),
            postgresql_where=sa.text("verified"),
        )

    with op.batch_alter_table("places", schema=None) as batch_op:
        batch_op.create_index(
            "uq_places_default",
            ["user_id"],
            unique=True,
            sqlite_where=sa.text(_DEFAULT_PLACE),
            postgresql_where=sa.text(_DEFAULT_PLACE),
        )


def downgrade() -> None:
    with op.batch_alter_table("places", schema=None) as batch_op:
        batch_op.drop_index("uq_places_default")

    # Pending claims of one number by several accounts cannot survive the old unique
    # constraint: drop them (they prove nothing) before restoring it.
    op.execute(sa.text("DELETE FROM phones WHERE NOT verified"))
    with op.batch_alter_table("phones", schema=None) as batch_op:
        batch_op.drop_index("uq_phones_e164_verified")
        batch_op.drop_index("ix_phones_e164")
        batch_op.drop_constraint("uq_phones_user_id", type_="unique")
        batch_op.create_unique_constraint("uq_phones_e164", ["e164"])

    with op.batch_alter_table("otp_challenges", schema=None) as batch_op:
        batch_op.drop_column("user_id")

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("disabled_reason")
        batch_op.drop_column("disabled_at")
        batch_op.drop_column("totp_last_step")
