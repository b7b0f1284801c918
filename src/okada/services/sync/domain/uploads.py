"""tus 1.0 rules for photo uploads: metadata, size and type limits, magic bytes."""

from __future__ import annotations

import base64
import binascii
import re

from okada.services.sync.domain.errors import UploadError

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,creation-with-upload,expiration,checksum,termination"
CHECKSUM_ALGORITHMS = ("sha1", "sha256")
ALLOWED_TYPES = ("image/jpeg", "image/png", "image/webp")
PURPOSES = {"proof_of_delivery": "delivery", "product_image": "product"}
"""Upload purpose → the kind of record the finished file is linked to."""

_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def parse_metadata(header: str | None) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64value`` pairs (value optional)."""
    out: dict[str, str] = {}
    for part in (header or "").split(","):
        part = part.strip()
        if not part:
            continue
        key, _, encoded = part.partition(" ")
        if not _KEY.match(key) or key in out:
            raise UploadError("upload_bad_metadata")
        try:
            out[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise UploadError("upload_bad_metadata") from None
    return out


def sniff_type(head: bytes) -> str | None:
    """The image type the first bytes announce (JPEG, PNG, WebP), if any."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


MAGIC_BYTES = 12
"""Bytes needed to recognise every allowed type."""


def parse_checksum(header: str | None) -> tuple[str, bytes] | None:
    """``Upload-Checksum: <algorithm> <base64 digest>``; 400 for an unsupported algorithm."""
    if not header:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm.lower() not in CHECKSUM_ALGORITHMS:
        raise UploadError("upload_bad_checksum_algorithm")
    try:
        return algorithm.lower(), base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise UploadError("upload_bad_checksum_algorithm") from None
