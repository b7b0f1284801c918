"""Tables of the fault tests: the platform tables plus an effects table for the consumer."""

from __future__ import annotations

import sqlalchemy as sa

from okada.contracts.base import IntegrationEvent
from okada.infra.db.platform_tables import add_platform_tables
from okada.infra.db.types import new_metadata


class ParcelShipped(IntegrationEvent, schema="faults.v1.ParcelShipped"):
    """A test event; ``number`` identifies it among the thousand."""

    number: int


metadata = new_metadata()
tables = add_platform_tables(metadata)
effects = sa.Table(
    "effects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("number", sa.Integer, nullable=False),  # deliberately not unique: we count dupes
)
