"""Opaque cursors for keyset pagination."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from okada.kernel.errors import OkadaError

MAX_LIMIT = 100


def encode_cursor(position: dict[str, Any]) -> str:
    """Turn a keyset position into an opaque cursor."""
    return base64.urlsafe_b64encode(orjson.dumps(position)).rstrip(b"=").decode()


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    """Parse a cursor from :func:`encode_cursor`; a tampered cursor is a 400."""
    if not cursor:
        return None
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise OkadaError("invalid_request") from exc
    if not isinstance(data, dict):
        raise OkadaError("invalid_request")
    return data


def clamp_limit(limit: int | None, default: int = 20) -> int:
    """Bound a page size to 1..100."""
    if limit is None:
        return default
    return max(1, min(MAX_LIMIT, limit))
