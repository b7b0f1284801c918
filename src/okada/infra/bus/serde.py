"""The one wire format of every bus: the envelope as UTF-8 JSON."""

from __future__ import annotations

import orjson

from okada.kernel.messages import Envelope


def encode(envelope: Envelope) -> bytes:
    """Serialise an envelope to JSON bytes."""
    return orjson.dumps(envelope.to_json_dict())


def decode(body: bytes) -> Envelope:
    """Parse JSON bytes into an envelope (raises on malformed input)."""
    return Envelope.from_json_dict(orjson.loads(body))
