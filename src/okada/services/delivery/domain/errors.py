"""Business errors of the delivery domain; each code has a title and detail in ``locales``."""

from __future__ import annotations

from okada.kernel.errors import Conflict, ErrorKind, NotFound, OkadaError, Unprocessable


class PointOutsideCameroon(Unprocessable):
    """A position outside Cameroon's onshore envelope."""

    code = "point_outside_cameroon"


class AddressNotFound(NotFound):
    """Nothing in the gazetteer matches the text."""

    code = "address_not_found"


class QuartierNotFound(NotFound):
    """The point is in Cameroon but not near any quartier of a served city."""

    code = "quartier_not_found"


class InvalidPlusCode(Unprocessable):
    """Not a Plus Code, or a short one without a reference place."""

    code = "invalid_plus_code"


class InvalidTransition(Conflict):
    """The delivery cannot move from its status to the one asked."""

    code = "invalid_transition"

    def __init__(self, current: str, wanted: str) -> None:
        super().__init__(current=current, wanted=wanted)


class WrongPin(Unprocessable):
    """The delivery PIN given does not match; the attempts left are in the problem."""

    code = "wrong_pin"

    def __init__(self, attempts_left: int) -> None:
        super().__init__(attempts_left=attempts_left)


class PinLocked(OkadaError):
    """Too many wrong PINs: the rider must use photo proof (or operations)."""

    kind = ErrorKind.RATE_LIMITED
    code = "pin_locked"


class ProofRequired(Unprocessable):
    """A delivery is completed only with the customer's PIN or a photo proof."""

    code = "proof_required"


class ReasonRequired(Unprocessable):
    """A failed delivery needs a reason (customer unreachable, refused...)."""

    code = "reason_required"


class OrderNotReady(Conflict):
    """The store has not marked the order ready: the rider cannot leave with it yet."""

    code = "order_not_ready"


class ClientTimeInvalid(Unprocessable):
    """A client timestamp in the future or too old to be believed."""

    code = "client_time_invalid"


class PingsRejected(Unprocessable):
    """Every ping of a batch was refused (times in the future or too old, points abroad)."""

    code = "pings_rejected"

    def __init__(self, count: int, reasons: str) -> None:
        super().__init__(count=count, reasons=reasons)
