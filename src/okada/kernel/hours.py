"""Opening hours: whether an instant falls inside a store's weekly slots.

One rule for every service that decides whether a store takes orders (catalog shows
``open_now``, delivery quotes, orders checks at checkout): they must never disagree, or a
customer sees an open store whose checkout is refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["hhmm_minutes", "within_opening_hours"]


def hhmm_minutes(hhmm: str) -> int:
    """Return minutes since midnight of ``"HH:MM"`` (``"24:00"`` is 1440)."""
    hours, _, minutes = hhmm.partition(":")
    return int(hours) * 60 + int(minutes or 0)


def within_opening_hours(
    slots: Iterable[Mapping[str, Any]], at: dt.datetime, timezone: str = "Africa/Douala"
) -> bool:
    """Return whether instant ``at`` falls inside one of the weekly ``slots``.

    Business rules: a slot is ``{"weekday": 0..6 (Monday 0), "opens": "HH:MM", "closes":
    "HH:MM"}`` in the store's local time (``timezone``; Africa/Douala is UTC+1 all year). The
    opening minute is inside, the closing minute is not; ``"24:00"`` closes at midnight. A slot
    closing at or before it opens runs past midnight: Friday 18:00-02:00 covers Friday evening
    and Saturday until 02:00. No slots at all means no limit (always inside).
    """
    slots = list(slots)
    if not slots:
        return True
    local = at.astimezone(ZoneInfo(timezone))
    now = local.hour * 60 + local.minute
    today = local.weekday()
    yesterday = (today - 1) % 7
    for slot in slots:
        weekday = int(slot["weekday"])
        opens, closes = hhmm_minutes(str(slot["opens"])), hhmm_minutes(str(slot["closes"]))
        if closes > opens:
            if weekday == today and opens <= now < closes:
                return True
        elif (weekday == today and now >= opens) or (weekday == yesterday and now < closes):
            return True
    return False
