"""Checkout: validate, re-price from local read models, quote, reserve, append ``OrderPlaced``.

The path is kept lean because it is the platform's headline benchmark: one read transaction on
local read models (no N+1: offers come in one query), at most two HTTP calls (the delivery
quote and the inventory reservation) and one write transaction (events, projection, outbox and
saga rows together).

Crash safety: a process that dies after the reservation and before the append leaves a hold
that inventory expires after its TTL; a retry with the same order id (client-generated, or the
same Idempotency-Key replaying the first outcome) asks inventory again with the same id and
lines and gets the same hold back, or, if it expired meanwhile, holds again under a derived
reservation id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from okada.kernel.clock import Clock
from okada.kernel.errors import Unavailable
from okada.kernel.ids import new_id
from okada.services.orders.application.ports import (
    DeliveryPort,
    InventoryPort,
    OrdersUnitOfWork,
    ReservationEnded,
    StreamConflict,
)
from okada.services.orders.application.saga import derived_reservation_id, schedule_steps
from okada.services.orders.domain import checkout as rules
from okada.services.orders.domain.errors import (
    AddressRequired,
    OrderIdConflict,
    OutsideDeliveryArea,
    PlaceNotFound,
    StoreClosed,
    TooManyUnpaidOrders,
    UnknownStore,
)
from okada.services.orders.domain.order import MOBILE_MONEY, Actor, Order


@dataclass(frozen=True, slots=True)
class CheckoutLimits:
    """Settings checkout applies."""

    max_line_quantity: int = 50
    max_lines: int = 100
    max_unpaid_orders: int = 3
    flat_delivery_fee_xaf: int = 1000
    flat_eta_minutes: int = 45
    payment_window_seconds: int = 600
    payment_grace_seconds: int = 120
    mobile_money_hold_seconds: int = 900
    cash_hold_seconds: int = 1800


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """Command: the customer's checkout request (already shape-validated)."""

    order_id: uuid.UUID | None
    customer_id: uuid.UUID
    store_id: uuid.UUID
    lines: Sequence[tuple[uuid.UUID, int]]
    place_id: uuid.UUID | None
    address: dict[str, Any] | None
    payment_method: str
    payer_phone: str | None
    note: str | None
    language: str

    def fingerprint(self) -> str:
        """What makes two submissions of one order id "the same request"."""
        body = {
            "store_id": str(self.store_id),
            "lines": sorted([str(p), q] for p, q in self.lines),
            "place_id": str(self.place_id) if self.place_id else None,
            "address": self.address,
            "payment": [self.payment_method, self.payer_phone],
            "note": self.note,
        }
        return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Placed:
    """The outcome: the order's public state, and whether it existed already."""

    state: dict[str, Any]
    existing: bool


class CheckoutService:
    """``POST /v1/orders``."""

    def __init__(self, *, uow_factory: Callable[[], OrdersUnitOfWork], clock: Clock,
                 inventory: InventoryPort, delivery: DeliveryPort,
                 limits: CheckoutLimits) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._inventory = inventory
        self._delivery = delivery
        self.limits = limits

    async def place(self, command: PlaceOrder) -> Placed:
        """Place an order, or return the one already placed under this id.

        Business rules: see the module docstring and issue #6 (validations in the caller's
        language, at most ``max_unpaid_orders`` unpaid mobile-money orders per customer,
        totals in whole XAF, 409 ``out_of_stock`` naming the short lines).
        """
        limits = self.limits
        order_id = command.order_id or new_id()
        fingerprint = command.fingerprint()
        lines = rules.basket(command.lines, max_quantity=limits.max_line_quantity,
                             max_lines=limits.max_lines)
        phone = rules.payer_phone(command.payment_method, command.payer_phone)
        if (command.place_id is None) == (command.address is None):
            raise AddressRequired()
        if command.address is not None:
            rules.contact_phone(command.address.get("contact_phone"))
        now = self._clock.now()
        # Reads only (no transaction: each read sees the latest committed rows, the write
        # transaction below is the one that decides).
        async with self._uow().read_only() as uow:
            existing = await uow.orders.load(order_id)
            if existing is not None:
                return await self._existing(uow, existing, command, fingerprint)
            store = await uow.local.store(command.store_id)
            if store is None or store.deleted:
                raise UnknownStore()
            rules.ensure_open(store, now)
            offers = await uow.local.offers(command.store_id, [p for p, _ in lines])
            language = await uow.local.user_language(command.customer_id) or command.language
            priced = rules.price(lines, offers, language)
            address = await self._address(uow, command)
            if command.payment_method in MOBILE_MONEY:
                unpaid = await uow.views.count_unpaid(command.customer_id)
                if unpaid >= limits.max_unpaid_orders:
                    raise TooManyUnpaidOrders(limits.max_unpaid_orders)
        fee, eta_minutes = await self._fee(store, address)
        subtotal = sum(x.line_total_xaf for x in priced)
        mobile = command.payment_method in MOBILE_MONEY
        ttl = limits.mobile_money_hold_seconds if mobile else limits.cash_hold_seconds
        reservation_id = await self._reserve(order_id, command.store_id, lines, ttl)
        draft = Order(
            id=order_id,
            customer_id=command.customer_id,
            store_id=command.store_id,
            status="",
            lines=priced,
            subtotal_xaf=subtotal,
            delivery_fee_xaf=fee,
            total_xaf=subtotal + fee,
            payable_xaf=subtotal + fee,
            payment_method=command.payment_method,
            payer_phone=phone,
            payment_status="",
            address=address,
            placed_at=now,
            updated_at=now,
            note=command.note,
            language=language,
            eta_at=now + dt.timedelta(minutes=eta_minutes) if eta_minutes else None,
            payment_due_at=(now + dt.timedelta(seconds=limits.payment_window_seconds)
                            if mobile else None),
            reservation_id=reservation_id,
            request_hash=fingerprint,
        )
        order = Order.place(draft, Actor(command.customer_id, "customer"), now)
        try:
            async with self._uow() as uow:
                events = await uow.orders.save(order)
                await schedule_steps(uow, order, events, now, limits)
                await uow.commit()
            state = uow.views.render(order)
        except StreamConflict:
            # Two submissions of one new order id raced: the other one won the append.
            async with self._uow() as uow:
                winner = await uow.orders.load(order_id)
                if winner is None:
                    raise Unavailable("orders_busy", retry_after=1) from None
                return await self._existing(uow, winner, command, fingerprint)
        return Placed(state=state, existing=False)

    async def _existing(self, uow: OrdersUnitOfWork, order: Order, command: PlaceOrder,
                        fingerprint: str) -> Placed:
        if order.customer_id != command.customer_id or order.request_hash != fingerprint:
            raise OrderIdConflict()
        state = await uow.views.get(order.id)
        assert state is not None
        return Placed(state=state, existing=True)

    async def _address(self, uow: OrdersUnitOfWork, command: PlaceOrder) -> dict[str, Any]:
        if command.place_id is not None:
            found = await uow.local.place(command.place_id)
            if found is None or found[0] != command.customer_id:
                raise PlaceNotFound()
            return {**found[1], "place_id": str(command.place_id)}
        assert command.address is not None
        phone = rules.contact_phone(command.address.get("contact_phone"))
        return {**command.address, "contact_phone": phone, "place_id": None}

    async def _fee(self, store: rules.StoreInfo, address: dict[str, Any]) -> tuple[int, int]:
        quote = await self._delivery.quote(store.id, address)
        if quote is not None:
            if quote.serviceable:
                if address.get("lat") is None and quote.lat is not None:
                    # Delivery geocoded the text address: keep the point the rider will use.
                    address["lat"], address["lng"] = quote.lat, quote.lng
                return quote.fee_xaf, quote.eta_minutes or self.limits.flat_eta_minutes
            if quote.reason == "store_closed":
                raise StoreClosed()
            if quote.reason in ("outside_delivery_area", "address_not_found"):
                raise OutsideDeliveryArea()
        # No usable quote: our own radius/polygon check and the flat fee.
        rules.ensure_serves(store, address.get("lat"), address.get("lng"),
                            str(address.get("city", "")))
        return self.limits.flat_delivery_fee_xaf, self.limits.flat_eta_minutes + store.prep_minutes

    async def _reserve(self, order_id: uuid.UUID, store_id: uuid.UUID,
                       lines: Sequence[tuple[uuid.UUID, int]], ttl: int) -> uuid.UUID:
        # The order id is the reservation id, so a retry after a crash gets the same hold
        # back. If that hold already ended (the retry came after its TTL), hold again under a
        # derived id: nothing of the first hold is left to reuse.
        candidates = [order_id, *(derived_reservation_id(order_id, f"retry-{n}")
                                  for n in range(1, 4))]
        for reservation_id in candidates:
            try:
                await self._inventory.reserve(reservation_id, store_id, lines, ttl)
                return reservation_id
            except ReservationEnded:
                continue
        raise Unavailable("inventory_unavailable", retry_after=1)
