"""Request-scoped correlation: request id and W3C trace context in context variables."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
traceparent_var: ContextVar[str | None] = ContextVar("traceparent", default=None)

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def current_correlation() -> tuple[str | None, str | None]:
    """Return the (correlation id, traceparent) of the current request or message."""
    return request_id_var.get(), traceparent_var.get()


def parse_traceparent(value: str | None) -> tuple[str, str] | None:
    """Return (trace id, parent span id) of a valid W3C ``traceparent``, else None."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if not match or set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
        return None
    return match.group(1), match.group(2)


def child_traceparent(incoming: str | None) -> str:
    """Continue the incoming trace with a new span id, or start a new sampled trace."""
    parsed = parse_traceparent(incoming)
    trace_id = parsed[0] if parsed else os.urandom(16).hex()
    return f"00-{trace_id}-{os.urandom(8).hex()}-01"


def new_request_id() -> str:
    """Return a fresh request id."""
    return os.urandom(12).hex()


class _Correlated(Protocol):
    @property
    def correlation_id(self) -> str | None: ...

    @property
    def traceparent(self) -> str | None: ...


@contextmanager
def message_context(message: _Correlated) -> Iterator[None]:
    """Make a consumed message's correlation id and trace the current context."""
    id_token = request_id_var.set(message.correlation_id or new_request_id())
    trace_token = traceparent_var.set(child_traceparent(message.traceparent))
    try:
        yield
    finally:
        request_id_var.reset(id_token)
        traceparent_var.reset(trace_token)
