"""Base classes for integration events and the schema registry."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict


class ContractModel(BaseModel):
    """A frozen published model; unknown fields are ignored so additive changes stay in v1."""

    model_config = ConfigDict(frozen=True, extra="ignore")


_REGISTRY: dict[str, type[IntegrationEvent]] = {}


class IntegrationEvent(ContractModel):
    """An event another service may consume.

    Business rule (event-carried state transfer): every event names the entity, its version
    after the change and its full public state, so a consumer can build a read model from
    events alone and ignore anything not newer than what it holds.
    """

    schema_name: ClassVar[str] = ""

    entity_id: uuid.UUID
    version: int

    def __init_subclass__(cls, schema: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if schema:
            if schema in _REGISTRY and _REGISTRY[schema] is not cls:
                raise ValueError(f"schema {schema} registered twice")
            cls.schema_name = schema
            _REGISTRY[schema] = cls

    @classmethod
    def parse_payload(cls, payload: dict[str, Any]) -> Self:
        """Validate a received payload as this event."""
        return cls.model_validate(payload)

    def to_payload(self) -> dict[str, Any]:
        """Return the JSON-compatible payload for an envelope."""
        return self.model_dump(mode="json")


def event_type(schema: str) -> type[IntegrationEvent]:
    """Return the class registered for ``schema``."""
    return _REGISTRY[schema]


def registered_schemas() -> dict[str, type[IntegrationEvent]]:
    """Return every registered schema (import the contract modules first)."""
    return dict(_REGISTRY)
