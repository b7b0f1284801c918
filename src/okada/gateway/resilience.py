"""Upstream protection: circuit breakers, concurrency bounds and retry backoff."""

from __future__ import annotations

import asyncio
import enum
import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from okada.kernel.errors import Unavailable

log = structlog.get_logger(__name__)


class BreakerState(enum.Enum):
    """Where a circuit breaker stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Admission(enum.Enum):
    """The breaker's answer to one call."""

    REJECTED = "rejected"
    PASS = "pass"  # noqa: S105 - an admission, not a password
    PROBE = "probe"


@dataclass(frozen=True)
class BreakerPolicy:
    """When a breaker opens and for how long.

    Attributes:
        consecutive_failures: Opens after this many failures in a row.
        failure_ratio: Also opens when this share of the last ``window`` calls failed...
        window: ...over a window of this many calls...
        min_calls: ...once at least this many calls are in the window.
        open_seconds: How long it stays open before letting one probe through.
    """

    consecutive_failures: int = 5
    failure_ratio: float = 0.5
    window: int = 20
    min_calls: int = 10
    open_seconds: float = 5.0


class CircuitBreaker:
    """Stops calling an upstream that keeps failing, so callers get a quick 503 instead of a wait.

    Closed: calls pass and outcomes are counted. Open: calls fail fast until ``open_seconds``
    pass. Half-open: exactly one probe passes; its success closes the breaker, its failure
    opens it again.

    Args:
        name: The upstream's name, for logs.
        policy: Thresholds.
        clock: Monotonic seconds; injectable for tests.
    """

    def __init__(
        self,
        name: str,
        policy: BreakerPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._consecutive = 0
        self._outcomes: deque[bool] = deque(maxlen=self.policy.window)
        self._probing = False

    @property
    def state(self) -> BreakerState:
        """The current state (an elapsed open period reads as half-open)."""
        if self._state is BreakerState.OPEN and self._open_elapsed():
            return BreakerState.HALF_OPEN
        return self._state

    def retry_after(self) -> int:
        """Whole seconds until the breaker lets a probe through (at least 1)."""
        left = self._opened_at + self.policy.open_seconds - self._clock()
        return max(1, math.ceil(left))

    def acquire(self) -> Admission:
        """Say whether a call may go ahead now, and whether it is the half-open probe."""
        if self._state is BreakerState.CLOSED:
            return Admission.PASS
        if self._state is BreakerState.OPEN:
            if not self._open_elapsed():
                return Admission.REJECTED
            self._state = BreakerState.HALF_OPEN
        if self._probing:
            return Admission.REJECTED
        self._probing = True
        return Admission.PROBE

    def record(self, admission: Admission, success: bool) -> None:
        """Count the outcome of a call :meth:`acquire` admitted as ``admission``.

        Outcomes of calls admitted before the breaker opened are ignored once it is open: only
        the probe decides whether it closes.
        """
        if admission is Admission.PROBE:
            self._probing = False
            if success:
                self._close()
            else:
                self._open()
            return
        if self._state is not BreakerState.CLOSED:
            return
        self._outcomes.append(success)
        self._consecutive = 0 if success else self._consecutive + 1
        if not success and self._should_open():
            self._open()

    def release(self, admission: Admission) -> None:
        """Forget a call that ended without an outcome (cancelled), freeing the probe slot."""
        if admission is Admission.PROBE:
            self._probing = False

    def _should_open(self) -> bool:
        if self._consecutive >= self.policy.consecutive_failures:
            return True
        calls = len(self._outcomes)
        if calls < self.policy.min_calls:
            return False
        failures = calls - sum(self._outcomes)
        return failures / calls >= self.policy.failure_ratio

    def _open_elapsed(self) -> bool:
        return self._clock() - self._opened_at >= self.policy.open_seconds

    def _open(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()
        log.warning("gateway.circuit_opened", upstream=self.name, seconds=self.policy.open_seconds)

    def _close(self) -> None:
        self._state = BreakerState.CLOSED
        self._consecutive = 0
        self._outcomes.clear()
        log.info("gateway.circuit_closed", upstream=self.name)


@dataclass(frozen=True)
class UpstreamPolicy:
    """How the gateway treats one upstream.

    Attributes:
        timeout: Seconds for a whole exchange (every attempt, headers and body).
        max_concurrent: Requests in flight to the upstream at once.
        queue_timeout: Seconds a request may wait for a free slot before a 503; short on
            purpose: queueing behind a saturated upstream only turns a 503 into a 504.
        max_retries: Extra attempts for idempotent requests after a connection error, 502 or 503.
        backoff_base: Seconds of the first backoff; each retry doubles it, with full jitter.
        backoff_cap: Upper bound of one backoff, in seconds.
        breaker: Circuit breaker thresholds.
    """

    timeout: float = 10.0
    max_concurrent: int = 256
    queue_timeout: float = 0.05
    max_retries: int = 2
    backoff_base: float = 0.05
    backoff_cap: float = 0.5
    breaker: BreakerPolicy = BreakerPolicy()

    def backoff(self, attempt: int) -> float:
        """Seconds to sleep before retry number ``attempt`` (1-based), with full jitter."""
        ceiling: float = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)


class UpstreamGuard:
    """The breaker and the concurrency bound of one upstream, shared by every request to it.

    Args:
        name: The upstream's name.
        policy: Its timeout, bounds, retries and breaker thresholds.
        clock: Monotonic seconds for the breaker; injectable for tests.
    """

    def __init__(
        self, name: str, policy: UpstreamPolicy, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self.policy = policy
        self.breaker = CircuitBreaker(name, policy.breaker, clock)
        self._slots = asyncio.Semaphore(policy.max_concurrent)

    async def enter(self) -> None:
        """Take a concurrency slot, or raise :class:`Unavailable` (503) quickly.

        Raises:
            Unavailable: ``upstream_overloaded`` when every slot stays busy for
                ``queue_timeout`` seconds.
        """
        if not self._slots.locked():
            await self._slots.acquire()  # a free slot: returns without suspending
            return
        try:
            async with asyncio.timeout(self.policy.queue_timeout):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise Unavailable("upstream_overloaded", retry_after=1) from exc

    def leave(self) -> None:
        """Give back the slot taken by :meth:`enter`."""
        self._slots.release()


class UpstreamGuards:
    """One :class:`UpstreamGuard` per upstream, created on first use.

    Args:
        default: Policy of upstreams without their own entry.
        overrides: Policies by upstream name.
        clock: Monotonic seconds for the breakers; injectable for tests.
    """

    def __init__(
        self,
        default: UpstreamPolicy | None = None,
        overrides: dict[str, UpstreamPolicy] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._default = default or UpstreamPolicy()
        self._overrides = dict(overrides or {})
        self._clock = clock
        self._guards: dict[str, UpstreamGuard] = {}

    def get(self, name: str) -> UpstreamGuard:
        """Return the guard of upstream ``name``."""
        guard = self._guards.get(name)
        if guard is None:
            policy = self._overrides.get(name, self._default)
            guard = self._guards[name] = UpstreamGuard(name, policy, self._clock)
        return guard
