"""The hot path of live tracking on PostgreSQL: one autocommit statement per batch of pings."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from okada.services.delivery.adapters.repositories import rider_from_row
from okada.services.delivery.application.model import BUSY, ONLINE, Ping, PingWrite
from okada.services.delivery.application.ports import PingWriter

# Data-modifying CTEs share one snapshot: ``r`` is the rider as it was before the statement.
# The guards are in the statement: nothing is written unless the rider may ping (on shift,
# active rider account), and the UPDATE re-checks its WHERE on the locked row, so a
# concurrent shift change still wins and the live position only moves forward in time.
RECORD_PINGS = """
WITH r AS (
    SELECT * FROM riders WHERE rider_id = $1
), allowed AS (
    SELECT 1 FROM r WHERE r.shift = ANY($3::text[]) AND r.is_rider AND NOT r.disabled
), ins AS (
    INSERT INTO rider_pings (rider_id, at, lat, lng, accuracy_m, received_at)
    SELECT $1, p.p_at, p.p_lat, p.p_lng, p.p_acc, $2
    FROM unnest($4::timestamptz[], $5::float8[], $6::float8[], $7::float8[])
         AS p(p_at, p_lat, p_lng, p_acc)
    WHERE EXISTS (SELECT 1 FROM allowed)
    ON CONFLICT (rider_id, at) DO NOTHING
    RETURNING 1
), mv AS (
    UPDATE riders SET last_lat = $9, last_lng = $10, last_ping_at = $8
    WHERE rider_id = $1 AND shift = ANY($3::text[]) AND is_rider AND NOT disabled
      AND (last_ping_at IS NULL OR last_ping_at < $8)
    RETURNING 1
)
SELECT r.*, (SELECT count(*) FROM ins) AS inserted, (SELECT count(*) FROM mv) AS moved FROM r
"""


def _uuid(value: Any) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(str(value))


class PgPingWriter(PingWriter):
    """Records a batch in one statement, hence one round trip, outside any transaction.

    A single statement is atomic on its own, so autocommit spares the BEGIN and COMMIT round
    trips; the driver's prepared statement cache spares parsing and planning, and reading
    the row straight from asyncpg spares the ORM's result processing. Everything else
    (checks, duplicates, late pings) behaves exactly as the generic repository path.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def record(
        self, rider_id: uuid.UUID, pings: Sequence[Ping], now: dt.datetime
    ) -> PingWrite | None:
        newest = pings[-1]
        async with self._engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            row = await driver.fetchrow(
                RECORD_PINGS, rider_id, now, [ONLINE, BUSY], [p.at for p in pings],
                [p.lat for p in pings], [p.lng for p in pings], [p.accuracy_m for p in pings],
                newest.at, newest.lat, newest.lng,
            )
        if row is None:
            return None
        values = dict(row.items())
        values["rider_id"] = _uuid(values["rider_id"])
        values["current_delivery_id"] = _uuid(values["current_delivery_id"])
        return PingWrite(rider=rider_from_row(SimpleNamespace(**values)),
                         inserted=int(values["inserted"]), moved=bool(values["moved"]))
