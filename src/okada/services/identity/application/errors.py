"""Identity errors that the shared kernel does not name."""

from __future__ import annotations

from okada.kernel.errors import ErrorKind, OkadaError


class PreconditionFailed(OkadaError):
    """The client edited from a stale copy (its ``If-Match`` no longer matches): 412."""

    kind = ErrorKind.PRECONDITION_FAILED
    code = "precondition_failed"
