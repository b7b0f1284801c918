"""Entity tags for caching (``If-None-Match`` → 304) and edits (``If-Match`` → 412)."""

from __future__ import annotations

import hashlib

from fastapi import Request
from starlette.responses import Response

from okada.kernel.errors import ErrorKind, OkadaError


def version_etag(entity_id: object, version: int) -> str:
    """A strong ETag from an entity id and its version."""
    return f'"{hashlib.blake2s(f"{entity_id}:{version}".encode(), digest_size=8).hexdigest()}"'


def body_etag(body: bytes) -> str:
    """A strong ETag from response bytes."""
    return f'"{hashlib.blake2s(body, digest_size=12).hexdigest()}"'


def not_modified(request: Request, etag: str) -> Response | None:
    """Return a 304 when the client's ``If-None-Match`` matches ``etag``."""
    candidates = request.headers.get("if-none-match")
    if candidates and (
        candidates.strip() == "*"
        or etag in [c.strip().removeprefix("W/") for c in candidates.split(",")]
    ):
        return Response(status_code=304, headers={"ETag": etag})
    return None


def require_if_match(request: Request, current_etag: str) -> None:
    """Refuse an edit without ``If-Match`` (428) or with a stale one (412)."""
    value = request.headers.get("if-match")
    if not value:
        raise OkadaError("precondition_required", kind=ErrorKind.PRECONDITION_REQUIRED)
    if value.strip() != "*" and current_etag not in [c.strip() for c in value.split(",")]:
        raise OkadaError("precondition_failed", kind=ErrorKind.PRECONDITION_FAILED)
