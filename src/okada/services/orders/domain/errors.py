"""Business errors of the orders domain; each code has a title and detail in ``locales``."""

from __future__ import annotations

import uuid
from typing import Any

from okada.kernel.errors import Conflict, Forbidden, NotFound, Unprocessable


class OrderNotFound(NotFound):
    """No such order, or the caller may not know it exists (404)."""

    code = "order_not_found"


class IllegalTransition(Conflict):
    """The order cannot move from its current status to the one asked (409)."""

    code = "illegal_transition"

    def __init__(self, current: str, target: str) -> None:
        super().__init__(current=current, target=target)


class TransitionNotAllowed(Forbidden):
    """The caller's role never makes this transition (a store cannot deliver) (403)."""

    code = "transition_not_allowed"

    def __init__(self, role: str, target: str) -> None:
        super().__init__(role=role, target=target)


class ReasonRequired(Unprocessable):
    """Rejections and forced transitions need a reason for the audit trail (422)."""

    code = "reason_required"


class EmptyBasket(Unprocessable):
    """The basket has no line (422)."""

    code = "empty_basket"


class TooManyLines(Unprocessable):
    """More distinct products than one order may hold (422)."""

    code = "too_many_lines"

    def __init__(self, maximum: int) -> None:
        super().__init__(maximum=maximum)


class InvalidLineQuantity(Unprocessable):
    """A quantity is not a whole number from 1 to the maximum (422)."""

    code = "invalid_line_quantity"

    def __init__(self, product_id: uuid.UUID, maximum: int) -> None:
        super().__init__(product_id=str(product_id), maximum=maximum)


class UnknownStore(Unprocessable):
    """The store does not exist (or was removed) (422)."""

    code = "unknown_store"


class StoreClosed(Conflict):
    """The store is closed now (status or opening hours in Africa/Douala) (409)."""

    code = "store_closed"


class ProductsUnavailable(Unprocessable):
    """Lines name products this store does not sell now (422); ``lines`` lists them."""

    code = "products_unavailable"

    def __init__(self, lines: list[tuple[uuid.UUID, str]]) -> None:
        super().__init__(products=", ".join(str(p) for p, _ in lines))
        self.lines = lines

    def details(self) -> dict[str, Any]:
        """Extra problem members: the refused lines and why."""
        return {"lines": [{"product_id": str(p), "reason": r} for p, r in self.lines]}


class OutsideDeliveryArea(Unprocessable):
    """The store does not deliver to this address (422)."""

    code = "outside_delivery_area"


class AddressRequired(Unprocessable):
    """Exactly one of a saved place or an inline address is required (422)."""

    code = "address_required"


class PlaceNotFound(Unprocessable):
    """The saved place is unknown, deleted or someone else's (422)."""

    code = "place_not_found"


class UnsupportedPaymentMethod(Unprocessable):
    """Only ``mtn_momo``, ``orange_money`` and ``cash`` are accepted (422)."""

    code = "unsupported_payment_method"

    def __init__(self, method: str) -> None:
        super().__init__(method=method[:40])


class PayerPhoneRequired(Unprocessable):
    """Mobile money needs the payer's phone (422)."""

    code = "payer_phone_required"


class PayerPhoneInvalid(Unprocessable):
    """The payer's phone is not a Cameroonian mobile number of the chosen operator (422)."""

    code = "payer_phone_invalid"

    def __init__(self, method: str) -> None:
        super().__init__(method=method)


class TooManyUnpaidOrders(Conflict):
    """The customer already has the maximum of unpaid mobile-money orders (409)."""

    code = "too_many_unpaid_orders"

    def __init__(self, maximum: int) -> None:
        super().__init__(maximum=maximum)


class OrderIdConflict(Conflict):
    """The client-generated order id is already used by another request (409)."""

    code = "order_id_conflict"


class LastLineUnavailable(Conflict):
    """The last available line cannot be marked unavailable: reject the order instead (409)."""

    code = "last_line_unavailable"


class LineNotInOrder(NotFound):
    """The order has no line of this product (404)."""

    code = "line_not_found"



class ContactPhoneInvalid(Unprocessable):
    """The address's contact phone is not a Cameroonian mobile number (422)."""

    code = "contact_phone_invalid"
