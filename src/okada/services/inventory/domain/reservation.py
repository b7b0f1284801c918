"""The Reservation aggregate: a whole basket held for one order until confirmed or released."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from okada.kernel.aggregate import AggregateRoot
from okada.services.inventory.domain.errors import (
    InvalidBasket,
    InvalidQuantity,
    InvalidTtl,
    ReservationAlreadyConfirmed,
    ReservationExpired,
    ReservationReleased,
)

MAX_LINE_QUANTITY = 999
"""Largest quantity of one product in one basket; more is a typo or abuse, not shopping."""
MAX_LINES = 100


class ReservationStatus(enum.StrEnum):
    """Life cycle: ``held`` then exactly one of ``confirmed``, ``released``, ``expired``."""

    HELD = "held"
    CONFIRMED = "confirmed"
    RELEASED = "released"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True, order=True)
class Line:
    """One product of a basket and how many units of it."""

    product_id: uuid.UUID
    quantity: int


def basket(lines: Iterable[tuple[uuid.UUID, int]]) -> tuple[Line, ...]:
    """Validate and normalise basket lines.

    Business rules:
        - Every quantity is a whole number from 1 to 999, before and after merging.
        - Lines of the same product are merged into one.
        - Lines are sorted by product id. That order is also the order in which stock rows
          are locked, the same for every basket, so two baskets sharing products can never
          wait for each other in a cycle (no deadlocks on PostgreSQL).
        - A basket has 1 to 100 distinct products.

    Raises:
        InvalidQuantity: A quantity is out of range (names the product).
        InvalidBasket: No line, or too many products.
    """
    merged: dict[uuid.UUID, int] = {}
    for product_id, quantity in lines:
        if isinstance(quantity, bool) or not 1 <= quantity <= MAX_LINE_QUANTITY:
            raise InvalidQuantity(product_id, quantity, MAX_LINE_QUANTITY)
        merged[product_id] = merged.get(product_id, 0) + quantity
    if not merged or len(merged) > MAX_LINES:
        raise InvalidBasket(MAX_LINES)
    for product_id, quantity in merged.items():
        if quantity > MAX_LINE_QUANTITY:
            raise InvalidQuantity(product_id, quantity, MAX_LINE_QUANTITY)
    return tuple(sorted(Line(p, q) for p, q in merged.items()))


@dataclass(frozen=True, slots=True)
class ReservationPolicy:
    """How long stock may be held.

    Attributes:
        default_ttl_seconds: Hold time when the caller names none (15 min, longer than the
            5 min mobile-money approval window).
        max_ttl_seconds: Longest hold one request may ask for.
        max_hold_seconds: Longest total hold from creation, extensions included, so a
            payment stuck pending cannot keep goods off the shelf for ever.
    """

    default_ttl_seconds: int = 900
    max_ttl_seconds: int = 1800
    max_hold_seconds: int = 3600

    def ttl(self, requested: int | None) -> dt.timedelta:
        """The hold time for a request: the default, or ``requested`` seconds (1 to max).

        Raises:
            InvalidTtl: ``requested`` is out of range.
        """
        seconds = self.default_ttl_seconds if requested is None else requested
        if isinstance(seconds, bool) or not 1 <= seconds <= self.max_ttl_seconds:
            raise InvalidTtl(seconds, self.max_ttl_seconds)
        return dt.timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True)
class ReservationHeld:
    """Domain event: a basket is held."""


@dataclass(frozen=True, slots=True)
class ReservationConfirmed:
    """Domain event: the held goods left the shelf with the order."""


@dataclass(frozen=True, slots=True)
class ReservationEnded:
    """Domain event: the hold ended without a sale (``released`` or ``expired``)."""

    reason: str


@dataclass(eq=False)
class Reservation(AggregateRoot):
    """A basket held for an order, all or nothing.

    Business rules:
        - One reservation per order id. Asking again with the same store and lines returns
          the existing reservation; other lines are a conflict.
        - ``held`` moves to exactly one terminal state: ``confirmed`` (goods leave the
          shelf), ``released`` (order cancelled or payment failed) or ``expired`` (hold time
          over). Each transition is written with a guard on the current status, so of two
          concurrent attempts (two sweepers, a confirm racing the sweeper) one wins and only
          the winner moves stock.
        - A hold is due at ``expires_at``; a due reservation can no longer be confirmed or
          extended even before the sweeper reaches it.
        - ``version`` is 1 when held and 2 after the terminal transition.
    """

    order_id: uuid.UUID
    store_id: uuid.UUID
    lines: tuple[Line, ...]
    status: ReservationStatus
    created_at: dt.datetime
    expires_at: dt.datetime
    updated_at: dt.datetime
    version: int = 1
    release_reason: str | None = None
    pending_events: list[Any] = field(default_factory=list, repr=False)

    @classmethod
    def hold(
        cls,
        *,
        order_id: uuid.UUID,
        store_id: uuid.UUID,
        lines: tuple[Line, ...],
        now: dt.datetime,
        ttl: dt.timedelta,
    ) -> Reservation:
        """Create a held reservation (``lines`` as returned by :func:`basket`)."""
        reservation = cls(
            order_id=order_id,
            store_id=store_id,
            lines=lines,
            status=ReservationStatus.HELD,
            created_at=now,
            expires_at=now + ttl,
            updated_at=now,
        )
        reservation.record(ReservationHeld())
        return reservation

    def same_request(self, store_id: uuid.UUID, lines: tuple[Line, ...]) -> bool:
        """Whether a repeated request asks for exactly this basket."""
        return self.store_id == store_id and self.lines == lines

    def is_due(self, now: dt.datetime) -> bool:
        """Held and past its hold time."""
        return self.status is ReservationStatus.HELD and now >= self.expires_at

    def ensure_live(self, now: dt.datetime) -> None:
        """Refuse to act on a reservation that no longer holds stock.

        Raises:
            ReservationExpired: Expired, or held past its hold time.
            ReservationReleased: Released.
        """
        if self.status is ReservationStatus.EXPIRED or self.is_due(now):
            raise ReservationExpired()
        if self.status is ReservationStatus.RELEASED:
            raise ReservationReleased()

    def confirm(self, now: dt.datetime) -> bool:
        """Confirm the sale; False when it was already confirmed (a retried call).

        Raises:
            ReservationExpired: The hold time ran out first.
            ReservationReleased: The reservation was released first.
        """
        if self.status is ReservationStatus.CONFIRMED:
            return False
        self.ensure_live(now)
        self._end(ReservationStatus.CONFIRMED, now, None)
        self.record(ReservationConfirmed())
        return True

    def release(self, now: dt.datetime, reason: str) -> bool:
        """Give the stock back; False when it is already released or expired (a retry).

        A held reservation can be released even past its hold time: the stock goes back
        either way, and the caller's reason is the better record.

        Raises:
            ReservationAlreadyConfirmed: The goods already left with the order (a return is a
                stock adjustment, not a release).
        """
        if self.status is ReservationStatus.CONFIRMED:
            raise ReservationAlreadyConfirmed()
        if self.status is not ReservationStatus.HELD:
            return False
        self._end(ReservationStatus.RELEASED, now, reason)
        self.record(ReservationEnded(reason=reason))
        return True

    def expire(self, now: dt.datetime) -> bool:
        """Expire a due hold; False when it is not held or not yet due."""
        if not self.is_due(now):
            return False
        self._end(ReservationStatus.EXPIRED, now, "expired")
        self.record(ReservationEnded(reason="expired"))
        return True

    def extend(self, now: dt.datetime, ttl: dt.timedelta, policy: ReservationPolicy) -> None:
        """Hold for ``ttl`` more from now (a mobile-money payment is still pending).

        Business rules: extending never shortens a hold, and the hold never lasts more than
        ``policy.max_hold_seconds`` after creation.

        Raises:
            ReservationExpired: The hold time already ran out.
            ReservationReleased: The reservation was released.
            ReservationAlreadyConfirmed: Nothing is held any more; the sale is done.
        """
        if self.status is ReservationStatus.CONFIRMED:
            raise ReservationAlreadyConfirmed()
        self.ensure_live(now)
        cap = self.created_at + dt.timedelta(seconds=policy.max_hold_seconds)
        self.expires_at = max(self.expires_at, min(now + ttl, cap))
        self.updated_at = now

    def _end(self, status: ReservationStatus, now: dt.datetime, reason: str | None) -> None:
        self.status = status
        self.release_reason = reason
        self.updated_at = now
        self.version += 1
