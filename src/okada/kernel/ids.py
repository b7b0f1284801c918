"""Identifier generation."""

from __future__ import annotations

import os
import time
import uuid


def new_id() -> uuid.UUID:
    """Return a time-ordered UUID (version 7 layout).

    Time ordering keeps B-tree inserts local on PostgreSQL and makes ids roughly sortable by
    creation, which helps cursors and debugging. Python 3.11 has no ``uuid7``, so it is built
    here from the millisecond clock and 74 random bits as RFC 9562 describes.
    """
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)
