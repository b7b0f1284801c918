"""Messages between services: the envelope that every bus adapter carries."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from okada.kernel.ids import new_id


@dataclass(frozen=True, slots=True)
class Envelope:
    """An integration event on the wire.

    ``schema`` names the type and version (``identity.v1.UserRegistered``) and doubles as the
    routing key. ``payload`` is the event body as JSON-compatible data; it is a plain dict so
    that no Python object ever crosses a service boundary, even in one process.
    """

    schema: str
    payload: dict[str, Any]
    producer: str
    message_id: uuid.UUID = field(default_factory=new_id)
    occurred_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """Return the envelope as a JSON-compatible dict (the same bytes in every mode)."""
        return {
            "message_id": str(self.message_id),
            "schema": self.schema,
            "producer": self.producer,
            "occurred_at": self.occurred_at.astimezone(dt.UTC).isoformat(),
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "traceparent": self.traceparent,
            "payload": self.payload,
        }

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> Envelope:
        """Rebuild an envelope from :meth:`to_json_dict` output."""
        occurred = dt.datetime.fromisoformat(data["occurred_at"])
        if occurred.tzinfo is None:
            raise ValueError("occurred_at must carry a time zone")
        return cls(
            message_id=uuid.UUID(data["message_id"]),
            schema=data["schema"],
            producer=data["producer"],
            occurred_at=occurred,
            correlation_id=data.get("correlation_id"),
            causation_id=data.get("causation_id"),
            traceparent=data.get("traceparent"),
            payload=data["payload"],
        )
