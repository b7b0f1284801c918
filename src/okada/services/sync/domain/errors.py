"""Errors of the sync protocol and of uploads, each with the HTTP status the reference gives.

Some statuses (413, 415, 426, 410, 460) have no :class:`ErrorKind`; these errors carry an
explicit ``status`` that the service's problem handler uses.
"""

from __future__ import annotations

from typing import Any

from okada.kernel.errors import Conflict, ErrorKind, Forbidden, NotFound, OkadaError


class SyncError(OkadaError):
    """A protocol error with an explicit HTTP status (problem+json, translated)."""

    status: int = 400

    def __init__(self, code: str | None = None, *, status: int | None = None,
                 extra: dict[str, Any] | None = None, **params: Any) -> None:
        super().__init__(code, **params)
        if status is not None:
            self.status = status
        self.extra = extra or {}


class MalformedSync(SyncError):
    """The pull query or the push body is not what the protocol allows (400)."""

    code = "sync_malformed"


class BadCursor(SyncError):
    """``last_pulled_at`` of a push is missing, not positive, or above the counter (400)."""

    code = "sync_bad_cursor"


class SchemaRetired(SyncError):
    """The app's schema version is no longer served: the app must update (426)."""

    code = "sync_schema_retired"
    status = 426


class PushTooLarge(SyncError):
    """The push holds more records than one push may (413)."""

    code = "sync_push_too_large"
    status = 413


class ForeignRecord(Forbidden):
    """A pushed id belongs to another user (403)."""

    code = "sync_foreign_record"


class SyncConflict(Conflict):
    """Records changed on the server after the client's last pull (409, nothing applied)."""

    code = "sync_conflict"

    def __init__(self, conflicts: dict[str, list[str]]) -> None:
        super().__init__(tables=", ".join(sorted(conflicts)))
        self.conflicts = conflicts


class ClientIdRequired(SyncError):
    """``X-Client-Id`` is missing or malformed (400)."""

    code = "sync_client_id_required"


class RoleNotSynced(Forbidden):
    """The caller holds no role whose app syncs (customer or rider) (403)."""

    code = "sync_role_not_synced"


class RecordNotFound(NotFound):
    """No such record in the caller's data (404; other users' ids look the same)."""

    code = "sync_record_not_found"


class OwnerUnavailable(OkadaError):
    """The service owning a pushed record did not answer; nothing was applied (503)."""

    kind = ErrorKind.UNAVAILABLE
    code = "sync_owner_unavailable"


class UploadError(SyncError):
    """A tus request the protocol refuses."""

    code = "upload_invalid"
