"""Base errors shared by every service; the HTTP layer maps their kind to a status."""

from __future__ import annotations

import enum
from typing import Any


class ErrorKind(enum.Enum):
    """What went wrong, independent of transport; the HTTP layer maps it to a status code."""

    INVALID = "invalid"
    UNPROCESSABLE = "unprocessable"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    PRECONDITION_FAILED = "precondition_failed"
    PRECONDITION_REQUIRED = "precondition_required"
    PAYMENT_REQUIRED = "payment_required"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"


class OkadaError(Exception):
    """A business or client error with a stable machine code.

    The ``code`` selects the translated title and detail (``errors.<code>.title`` in the
    message catalogs); ``params`` fill the placeholders of the detail. Never put secrets or
    full phone numbers in ``params``: they reach the client and the logs.
    """

    kind: ErrorKind = ErrorKind.INVALID
    code: str = "invalid_request"

    def __init__(
        self,
        code: str | None = None,
        *,
        kind: ErrorKind | None = None,
        retry_after: int | None = None,
        **params: Any,
    ) -> None:
        self.code = code or self.code
        self.kind = kind or self.kind
        self.retry_after = retry_after
        self.params = params
        super().__init__(self.code)


class Unprocessable(OkadaError):
    """The request is well-formed but a value breaks a business rule (bad phone, bad code)."""

    kind = ErrorKind.UNPROCESSABLE
    code = "validation_failed"


class NotFound(OkadaError):
    """The resource does not exist or the caller may not know it exists."""

    kind = ErrorKind.NOT_FOUND
    code = "not_found"


class Conflict(OkadaError):
    """The request conflicts with the current state (illegal transition, duplicate, stale)."""

    kind = ErrorKind.CONFLICT
    code = "conflict"


class ConcurrencyConflict(Conflict):
    """An optimistic-concurrency check failed: someone else changed the entity first."""

    code = "concurrency_conflict"


class Unauthenticated(OkadaError):
    """No valid credentials were presented."""

    kind = ErrorKind.UNAUTHENTICATED
    code = "unauthenticated"


class Forbidden(OkadaError):
    """The caller is known but may not do this."""

    kind = ErrorKind.FORBIDDEN
    code = "forbidden"


class RateLimited(OkadaError):
    """Too many requests; ``retry_after`` seconds tell the client when to come back."""

    kind = ErrorKind.RATE_LIMITED
    code = "rate_limited"


class Unavailable(OkadaError):
    """A dependency (provider, broker, upstream) is down; the client may retry later."""

    kind = ErrorKind.UNAVAILABLE
    code = "unavailable"
