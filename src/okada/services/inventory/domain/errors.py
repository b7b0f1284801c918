"""Business errors of the inventory domain; each code has a title and detail in ``locales``."""

from __future__ import annotations

import uuid

from okada.kernel.errors import Conflict, Unprocessable


class InvalidQuantity(Unprocessable):
    """A quantity is not a positive whole number within the allowed maximum."""

    code = "invalid_quantity"

    def __init__(self, product_id: uuid.UUID, quantity: int, maximum: int) -> None:
        super().__init__(product_id=str(product_id), quantity=quantity, maximum=maximum)
        self.product_id = product_id


class InvalidBasket(Unprocessable):
    """A basket is empty or has more lines than one reservation may hold."""

    code = "invalid_basket"

    def __init__(self, maximum: int) -> None:
        super().__init__(maximum=maximum)


class InvalidTtl(Unprocessable):
    """A hold time is outside the allowed range."""

    code = "invalid_ttl"

    def __init__(self, ttl_seconds: int, maximum: int) -> None:
        super().__init__(ttl_seconds=ttl_seconds, maximum=maximum)


class StockBelowReserved(Conflict):
    """An adjustment would leave fewer units on the shelf than are reserved for orders."""

    code = "stock_below_reserved"

    def __init__(self, on_hand: int, reserved: int) -> None:
        super().__init__(on_hand=on_hand, reserved=reserved)


class ReservationExpired(Conflict):
    """The reservation's hold time ran out; its stock went back on sale."""

    code = "reservation_expired"


class ReservationReleased(Conflict):
    """The reservation was released (cancelled order, failed payment)."""

    code = "reservation_released"


class ReservationAlreadyConfirmed(Conflict):
    """The reserved goods already left with the order; the reservation cannot be released."""

    code = "reservation_already_confirmed"


class ReservationMismatch(Conflict):
    """The order already holds a reservation with other lines or another store."""

    code = "reservation_mismatch"
