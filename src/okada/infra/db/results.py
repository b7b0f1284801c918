"""What a statement did: rows touched by an UPDATE, DELETE or INSERT … ON CONFLICT DO NOTHING."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy.engine import CursorResult


def rows_affected(result: object) -> int:
    """Rows the statement changed (0 when the driver reports none).

    ``AsyncSession.execute`` is typed as returning ``Result``, but DML returns a
    ``CursorResult``, which carries ``rowcount``; guarded updates read it to learn whether
    their compare-and-swap won.
    """
    return int(cast(CursorResult[Any], result).rowcount or 0)
