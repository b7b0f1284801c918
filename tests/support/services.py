"""Guards for tests that need a real backing service.

Locally a missing service skips the test with a clear reason; in CI (``CI`` set) it fails, so a
broken service container can never turn into a silently green build.
"""

from __future__ import annotations

import os
import socket

import pytest


def _require(name: str, host: str, port: int) -> None:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return
    except OSError as exc:
        reason = f"{name} is not reachable at {host}:{port} ({exc})"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so this is an error, not a skip")
    pytest.skip(f"{reason}; start it or set CI to make this a failure")


def require_redis() -> None:
    """Skip (or fail under CI) unless Redis listens on 127.0.0.1:6379."""
    _require("Redis", "127.0.0.1", 6379)


def require_rabbitmq() -> None:
    """Skip (or fail under CI) unless RabbitMQ listens on 127.0.0.1:5672."""
    _require("RabbitMQ", "127.0.0.1", 5672)


def require_postgres() -> None:
    """Skip (or fail under CI) unless PostgreSQL listens on 127.0.0.1:5432."""
    _require("PostgreSQL", "127.0.0.1", 5432)
