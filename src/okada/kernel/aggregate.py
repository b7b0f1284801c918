"""Aggregate roots: a version for optimistic concurrency and the events they raised."""

from __future__ import annotations

from typing import Any


class AggregateRoot:
    """Base for consistency boundaries.

    ``version`` increases by one on every committed change; a repository refuses to save an
    aggregate whose stored version moved on since it was loaded. ``pending_events`` collects
    domain events that the unit of work turns into outbox rows in the same transaction.
    """

    version: int = 0

    def __init__(self) -> None:
        self.pending_events: list[Any] = []

    def record(self, event: Any) -> None:
        """Remember a domain event to publish when the change commits."""
        if not hasattr(self, "pending_events"):
            self.pending_events = []
        self.pending_events.append(event)

    def collect_events(self) -> list[Any]:
        """Return and clear the pending events."""
        events, self.pending_events = getattr(self, "pending_events", []), []
        return events
