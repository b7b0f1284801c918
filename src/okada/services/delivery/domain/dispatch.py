"""Choosing riders for a job: near the store, free, within their cash float, in turn."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A rider the geo index found near the store, with what dispatch needs to know."""

    rider_id: uuid.UUID
    distance_m: float
    last_offered_at: dt.datetime | None
    cash_in_hand_xaf: int
    float_limit_xaf: int


def within_float(candidate: Candidate, cash_to_collect_xaf: int) -> bool:
    """Cash orders go only to riders whose cash in hand stays within their float limit.

    Business rule: a rider carrying too much cash is a robbery risk and a loss for Okada;
    the cash of this order counts too. Prepaid orders (nothing to collect) ignore the float.
    """
    if cash_to_collect_xaf <= 0:
        return True
    return candidate.cash_in_hand_xaf + cash_to_collect_xaf <= candidate.float_limit_xaf


def rank(
    candidates: Iterable[Candidate], *, cash_to_collect_xaf: int, bucket_m: int
) -> list[Candidate]:
    """Eligible candidates, best first.

    Business rules: distance counts in buckets of ``bucket_m`` metres (a few hundred metres
    make no difference on a motorbike), so riders in the same bucket are equals; among equals
    the one offered a job longest ago goes first (never offered: first of all), which rotates
    jobs fairly; the rider id breaks the last ties so the order is stable.
    """
    eligible = [c for c in candidates if within_float(c, cash_to_collect_xaf)]
    step = max(1, bucket_m)
    return sorted(
        eligible,
        key=lambda c: (int(c.distance_m // step), c.last_offered_at or _NEVER, str(c.rider_id)),
    )
