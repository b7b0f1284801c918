"""Clock port: business code asks the clock for the time so tests can freeze it."""

from __future__ import annotations

import datetime as dt
from typing import Protocol
from zoneinfo import ZoneInfo

DOUALA = ZoneInfo("Africa/Douala")


class Clock(Protocol):
    """Gives the current time as an aware UTC datetime."""

    def now(self) -> dt.datetime:
        """Return the current instant in UTC."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> dt.datetime:
        """Return the current instant in UTC."""
        return dt.datetime.now(dt.UTC)


class FrozenClock:
    """A clock that only moves when told to; for tests and simulations."""

    def __init__(self, at: dt.datetime | None = None) -> None:
        self._now = at or dt.datetime(2026, 1, 1, 8, 0, tzinfo=dt.UTC)

    def now(self) -> dt.datetime:
        """Return the frozen instant."""
        return self._now

    def advance(self, **delta: float) -> None:
        """Move the clock forward by a ``timedelta(**delta)``."""
        self._now += dt.timedelta(**delta)


def to_local(moment: dt.datetime) -> dt.datetime:
    """Convert a stored UTC instant to the time people in Cameroon read on their phones."""
    return moment.astimezone(DOUALA)
