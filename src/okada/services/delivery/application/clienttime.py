"""Client clocks: phones report when things happened, sometimes much later."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from okada.services.delivery.domain.errors import ClientTimeInvalid


@dataclass(frozen=True, slots=True)
class ClientTimePolicy:
    """How far a phone's timestamp may lie from the server's clock.

    Business rule: a report is accepted late (after a loss of signal) up to ``max_age``;
    a time ahead of the server by more than ``future_skew`` is a wrong phone clock.
    """

    max_age: dt.timedelta = dt.timedelta(hours=24)
    future_skew: dt.timedelta = dt.timedelta(minutes=2)

    def problem(self, at: dt.datetime, now: dt.datetime) -> str | None:
        """``"future"``, ``"too_old"`` or None when ``at`` is believable."""
        if at.tzinfo is None:
            return "naive"
        if at > now + self.future_skew:
            return "future"
        if at < now - self.max_age:
            return "too_old"
        return None

    def check(self, at: dt.datetime, now: dt.datetime) -> dt.datetime:
        """``at`` in UTC, or 422 ``client_time_invalid``."""
        problem = self.problem(at, now)
        if problem is not None:
            raise ClientTimeInvalid(problem=problem)
        return at.astimezone(dt.UTC)
