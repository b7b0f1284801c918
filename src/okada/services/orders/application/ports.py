"""What the orders use cases need from the outside: event store, read models, saga rows, peers."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self

from okada.contracts.base import IntegrationEvent
from okada.kernel.errors import Conflict
from okada.kernel.messages import Envelope
from okada.services.orders.domain.checkout import OfferInfo, StoreInfo
from okada.services.orders.domain.order import DomainEvent, Order


class StreamConflict(Exception):
    """Another transaction appended to the stream at the same version first."""


class OutOfStock(Conflict):
    """Inventory could not hold every line (409); ``missing`` lists the short lines."""

    code = "out_of_stock"

    def __init__(self, missing: list[dict[str, Any]]) -> None:
        super().__init__(products=", ".join(str(m.get("product_id")) for m in missing))
        self.missing = missing

    def details(self) -> dict[str, Any]:
        """Extra problem members: the short lines."""
        return {"missing": self.missing}


class ReservationEnded(Exception):
    """The hold of this reservation id is over (released or expired); use a new id."""


class EventStore(Protocol):
    """The order streams: append-only, one optimistic check per append."""

    async def load(self, order_id: uuid.UUID) -> Order | None:
        """The order rebuilt from its newest snapshot and later events; None if no stream."""

    async def save(self, order: Order) -> list[DomainEvent]:
        """Append ``order``'s pending events, project them and queue their contract events.

        Raises:
            StreamConflict: The stream moved on since the order was loaded.
        """

    async def history(self, order_id: uuid.UUID) -> list[DomainEvent]:
        """Every event of the stream, oldest first."""


@dataclass(frozen=True, slots=True)
class ViewPage:
    """A page of order views (public states) and the cursor position after it."""

    items: list[dict[str, Any]]
    next_after: tuple[dt.datetime, uuid.UUID] | None


@dataclass(frozen=True, slots=True)
class ViewFilter:
    """Filters of an order listing; ``before`` is the keyset position (placed_at, id)."""

    customer_id: uuid.UUID | None = None
    store_ids: Sequence[uuid.UUID] | None = None
    statuses: Sequence[str] | None = None
    phone: str | None = None
    order_id: uuid.UUID | None = None
    before: tuple[dt.datetime, uuid.UUID] | None = None
    limit: int = 20


class OrderViews(Protocol):
    """The ``orders_view`` projection (read side)."""

    async def get(self, order_id: uuid.UUID) -> dict[str, Any] | None:
        """The public state of an order with ``id`` and ``version``."""

    def render(self, order: Order) -> dict[str, Any]:
        """What :meth:`get` returns for ``order`` once projected (no I/O)."""

    async def count_unpaid(self, customer_id: uuid.UUID) -> int:
        """How many orders of the customer wait for a mobile-money payment."""

    async def page(self, where: ViewFilter) -> ViewPage:
        """Orders matching ``where``, newest first."""


class LocalReadModels(Protocol):
    """Stores, offers, products, users and places built from catalog and identity events."""

    async def store(self, store_id: uuid.UUID) -> StoreInfo | None:
        """A store, None when unknown."""

    async def offers(self, store_id: uuid.UUID,
                     product_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, OfferInfo]:
        """The store's offers of these products (one query)."""

    async def user_language(self, user_id: uuid.UUID) -> str | None:
        """The user's language, None when unknown."""

    async def place(self, place_id: uuid.UUID) -> tuple[uuid.UUID, dict[str, Any]] | None:
        """(owner, address) of a live saved place."""

    async def upsert(self, kind: str, key: tuple[uuid.UUID, ...], version: int,
                     values: dict[str, Any]) -> bool:
        """Store a newer version of an entity; False when ``version`` is not newer."""


@dataclass(frozen=True, slots=True)
class SagaStep:
    """A due step of an order's saga (``step`` is its idempotency key within the order)."""

    order_id: uuid.UUID
    step: str
    due_at: dt.datetime
    attempts: int
    payload: dict[str, Any] = field(default_factory=dict)


class SagaSteps(Protocol):
    """Due-time rows the saga worker scans."""

    async def schedule(self, order_id: uuid.UUID, step: str, due_at: dt.datetime,
                       payload: dict[str, Any]) -> None:
        """Add the step once (a repeat of the same key is ignored)."""

    async def due(self, now: dt.datetime, limit: int) -> list[SagaStep]:
        """Unfinished steps due now, oldest first."""

    async def claim(self, step: SagaStep, lease_until: dt.datetime) -> bool:
        """Take the step until ``lease_until`` (compare-and-set on its due time)."""

    async def finish(self, order_id: uuid.UUID, step: str, now: dt.datetime,
                     note: str | None = None) -> None:
        """Mark the step done."""

    async def retry_at(self, order_id: uuid.UUID, step: str, due_at: dt.datetime,
                       error: str) -> None:
        """Schedule the next attempt."""

    async def pending(self, order_id: uuid.UUID) -> list[str]:
        """Unfinished step keys of an order."""


class OrdersUnitOfWork(Protocol):
    """One transaction on the orders database."""

    orders: EventStore
    views: OrderViews
    local: LocalReadModels
    saga: SagaSteps

    def read_only(self) -> Self:
        """Only read in this unit of work (no transaction needed; it may not commit)."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None:
        """Commit state, projections, outbox and saga rows together."""

    async def rollback(self) -> None:
        """Discard the transaction."""

    def publish(self, event: IntegrationEvent, *, aggregate_id: str | None = None) -> Envelope:
        """Queue an integration event for the outbox of this transaction."""


@dataclass(frozen=True, slots=True)
class Quote:
    """The delivery service's answer (or the local fallback's)."""

    serviceable: bool
    fee_xaf: int
    eta_minutes: int | None
    reason: str | None = None
    lat: float | None = None
    lng: float | None = None


class InventoryPort(Protocol):
    """Inventory's reservation API, called with the service role; every call has a timeout."""

    async def reserve(self, reservation_id: uuid.UUID, store_id: uuid.UUID,
                      lines: Sequence[tuple[uuid.UUID, int]], ttl_seconds: int) -> None:
        """Hold the basket (idempotent on the reservation id and lines).

        Raises:
            OutOfStock, ProductsUnavailable, ReservationEnded, OrderIdConflict, Unavailable.
        """

    async def release(self, reservation_id: uuid.UUID, reason: str) -> str:
        """Give the basket back; returns the reservation status ("missing" when none)."""

    async def confirm(self, reservation_id: uuid.UUID) -> str:
        """The goods leave with the rider; returns the status, or "lost" if the hold ended."""

    async def extend(self, reservation_id: uuid.UUID, ttl_seconds: int) -> str:
        """Hold longer; returns the status, or "ended"."""

    async def status(self, reservation_id: uuid.UUID) -> str:
        """held, confirmed, released, expired, or "missing"."""

    async def return_goods(self, store_id: uuid.UUID, product_id: uuid.UUID, quantity: int,
                           key: str, note: str) -> None:
        """Put delivered-failed goods back on the shelf (idempotent on ``key``)."""


class DeliveryPort(Protocol):
    """The delivery service's quote; None when it is not there or too slow."""

    async def quote(self, store_id: uuid.UUID, address: dict[str, Any]) -> Quote | None:
        """Fee, ETA and whether the store serves the address."""
