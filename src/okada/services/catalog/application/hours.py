"""Opening hours in local time and whether a store is open at a given instant."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence

from okada.kernel.hours import hhmm_minutes, within_opening_hours
from okada.services.catalog.application.errors import InvalidField
from okada.services.catalog.application.model import OpeningSlot, StoreStatus

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
MINUTES_PER_DAY = 24 * 60


minutes = hhmm_minutes


def validate_hours(slots: Iterable[OpeningSlot]) -> list[OpeningSlot]:
    """Check opening slots and return them sorted by weekday and opening time.

    Business rules: weekdays are 0 (Monday) to 6; times are ``HH:MM`` in the store's local
    time (``24:00`` allowed as a closing time); a slot closing at or before it opens runs past
    midnight; a slot cannot open and close at the same minute unless it is ``00:00-24:00``.

    Raises:
        InvalidField: A slot breaks a rule (``field`` is ``opening_hours``).
    """
    checked = []
    for slot in slots:
        if not 0 <= slot.weekday <= 6:
            raise InvalidField(field="opening_hours")
        if not _HHMM.match(slot.opens) or slot.opens == "24:00" or not _HHMM.match(slot.closes):
            raise InvalidField(field="opening_hours")
        if slot.opens == slot.closes:
            raise InvalidField(field="opening_hours")
        checked.append(slot)
    return sorted(checked, key=lambda s: (s.weekday, s.opens))


def is_open(
    status: StoreStatus, slots: Sequence[OpeningSlot], at: dt.datetime, timezone: str
) -> bool:
    """Return whether a store takes orders at instant ``at``.

    Business rules: a ``closed`` status closes the store whatever its hours; otherwise
    (``open`` or ``busy``) the store is open when the local time in ``timezone``
    (``Africa/Douala``, UTC+1 all year) falls in one of its slots. The opening minute is
    inside the slot, the closing minute is not; an overnight slot of Friday covers Friday
    evening and Saturday early morning (the rule of :func:`okada.kernel.hours.within_opening_hours`,
    shared with orders and delivery); a store without any slot has no limit.

    Args:
        status: The store's current status.
        slots: Its opening slots.
        at: An aware instant (UTC in storage).
        timezone: The store's IANA time zone.
    """
    if status is StoreStatus.CLOSED:
        return False
    return within_opening_hours(
        ({"weekday": s.weekday, "opens": s.opens, "closes": s.closes} for s in slots),
        at, timezone)
