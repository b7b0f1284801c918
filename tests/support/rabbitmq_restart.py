"""Restarting the shared RabbitMQ for real (``rabbitmqctl stop_app`` / ``start_app``).

Only the broker-restart fault tests use this: every other suite sharing the broker sees a
short outage (its clients reconnect on their own). The broker is always started again, even
when the caller fails or is cancelled, so a failing test never leaves it down.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

AMQP_HOST = "127.0.0.1"
AMQP_PORT = 5672


def amqp_accepts(timeout: float = 1.0) -> bool:
    """Whether the broker's AMQP listener accepts a TCP connection right now."""
    try:
        with socket.create_connection((AMQP_HOST, AMQP_PORT), timeout=timeout):
            return True
    except OSError:
        return False


def _ctl(*args: str, timeout: float = 120) -> None:
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.returncode} {done.stderr[-500:]}")


def start_rabbitmq(timeout: float = 120) -> None:
    """``start_app``, ``await_startup``, then wait until 5672 accepts connections."""
    deadline = time.monotonic() + timeout
    _ctl("start_app", timeout=timeout)
    _ctl("await_startup", "--timeout", str(int(timeout)), timeout=timeout + 10)
    while not amqp_accepts():
        if time.monotonic() > deadline:
            raise RuntimeError(f"RabbitMQ not accepting on {AMQP_PORT} after {timeout}s")
        time.sleep(0.2)  # polling interval for the listener


def ensure_rabbitmq_running() -> None:
    """Start the broker if its listener is down (a backstop for fixture teardown)."""
    if not amqp_accepts():
        start_rabbitmq()


@dataclass(frozen=True)
class BrokerRestart:
    """What one restart looked like, in seconds from the ``stop_app`` call."""

    stopped_after: float
    """``stop_app`` returned (the listener was closed and every connection dropped)."""
    refused_while_down: bool
    """5672 refused connections after ``stop_app``: the outage was real."""
    total: float
    """The broker accepted connections again."""


async def restart_rabbitmq(
    *, down_seconds: float = 3.0, while_down: Callable[[], Awaitable[None]] | None = None,
) -> BrokerRestart:
    """Stop the broker's application, keep it down a while, start it again.

    ``while_down`` runs (on the caller's event loop) while the broker is stopped, e.g. an API
    call whose event must wait in an outbox. ``start_app`` runs in a ``finally``, so an
    exception or a cancellation of the caller still brings the broker back.
    """
    began = time.monotonic()
    stopped_after = 0.0
    refused = False
    try:
        await asyncio.to_thread(_ctl, "stop_app")
        stopped_after = time.monotonic() - began
        refused = not await asyncio.to_thread(amqp_accepts)
        if while_down is not None:
            await while_down()
        # The outage itself, not a wait for a condition: long enough for every client's
        # heartbeat/reconnect loop to notice and retry at least once against a closed port.
        await asyncio.sleep(down_seconds)
    finally:
        await asyncio.to_thread(start_rabbitmq)
    return BrokerRestart(stopped_after=stopped_after, refused_while_down=refused,
                         total=time.monotonic() - began)
