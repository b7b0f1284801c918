"""Structured JSON logs that never contain secrets, tokens or full phone numbers."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

from okada.infra.observability.context import request_id_var, traceparent_var

_SECRET_KEYS = re.compile(
    r"(pass(word)?|secret|token|authorization|api[_-]?key|otp|code|pin|cookie|totp)", re.I
)
_PHONE = re.compile(r"\+?\d[\d \-]{7,}\d")
_BEARER = re.compile(r"(?i)bearer\s+[a-z0-9._\-]+")
_JWT = re.compile(r"eyJ[a-zA-Z0-9_\-]+\.[a-zA-Z0-9_\-]+\.[a-zA-Z0-9_\-]*")


def mask_phone(value: str) -> str:
    """Keep the country code and the last two digits: ``+237******56``."""
    digits = re.sub(r"\D", "", value)
    if len(digits) < 6:
        return "***"
    head = "+" + digits[:3] if value.strip().startswith("+") or len(digits) > 9 else ""
    return f"{head}{'*' * (len(digits) - len(head.lstrip('+')) - 2)}{digits[-2:]}"


_SUSPECT = re.compile(r"\d[\d \-]{6}|eyJ|(?i:bearer)")
"""One cheap pass that finds text which might hold a phone number or a token."""
_PLAIN_KEYS = frozenset(
    {
        "timestamp",
        "level",
        "logger",
        "service",
        "method",
        "route",
        "status",
        "duration_ms",
        "request_id",
        "trace_id",
    }
)
"""Keys whose values the platform itself sets and which never carry personal data."""


def scrub_text(text: str) -> str:
    """Remove bearer tokens, JWTs and phone numbers from free text."""
    if not _SUSPECT.search(text):
        return text  # most log text: skip the three rewriting passes
    text = _BEARER.sub("Bearer [redacted]", text)
    text = _JWT.sub("[jwt redacted]", text)
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


def _scrub(value: Any, key: str = "") -> Any:
    if key and _SECRET_KEYS.search(key) and key not in {"status_code", "error_code"}:
        return "[redacted]"
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: _scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: redact secret-looking keys and scrub phones and tokens."""
    for key in list(event_dict):
        if key in _PLAIN_KEYS:
            continue
        event_dict[key] = _scrub(event_dict[key], "" if key == "event" else key)
    return event_dict


def _add_correlation(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    request_id = request_id_var.get()
    if request_id and "request_id" not in event_dict:
        event_dict["request_id"] = request_id
    traceparent = traceparent_var.get()
    if traceparent and "trace_id" not in event_dict:
        event_dict["trace_id"] = traceparent.split("-")[1]
    return event_dict


def _orjson_dumps(value: Any, **_: Any) -> bytes:
    return orjson.dumps(value, default=str)


def configure_logging(*, level: str = "INFO", json: bool = True, service: str = "okada") -> None:
    """Configure structlog and the standard library to emit one JSON object per line."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_correlation,
        redact_processor,
    ]
    # orjson renders several times faster than the standard library's encoder; it emits
    # bytes, so the logger writes bytes too.
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        if json
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=(
            structlog.BytesLoggerFactory(file=sys.stderr.buffer)
            if json
            else structlog.PrintLoggerFactory(file=sys.stderr)
        ),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(message)s")
    for noisy in ("uvicorn.access", "aiormq", "aio_pika"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
