"""Business errors of payments; each code has a title and detail in ``locales`` (fr, en)."""

from __future__ import annotations

from okada.kernel.errors import Conflict, NotFound, RateLimited, Unprocessable


class OperatorNotSupported(Unprocessable):
    """The number's operator has no wallet we accept: pay cash instead (422)."""

    code = "operator_not_supported"


class PayerPhoneRequired(Unprocessable):
    """Mobile money needs a payer number (422)."""

    code = "payer_phone_required"


class PayerPhoneNotVerified(Unprocessable):
    """The payer number is not one of the customer's verified numbers (422)."""

    code = "payer_phone_not_verified"


class UnknownMethod(Unprocessable):
    """The payment method is not one we offer (422)."""

    code = "payment_method_unknown"


class RemittanceExceedsCash(Conflict):
    """A rider cannot remit more cash than they hold (409)."""

    code = "remittance_exceeds_cash"


class DiscrepancyReasonRequired(Unprocessable):
    """Counted cash differs from the cash expected: say why (422)."""

    code = "discrepancy_reason_required"


class PaymentNotSwitchable(Conflict):
    """Only a cash payment not yet collected can switch to mobile money (409)."""

    code = "payment_not_switchable"


class PayerRateLimited(RateLimited):
    """Too many payment prompts sent to this number lately (429)."""

    code = "payer_rate_limited"


class PaymentNotFound(NotFound):
    """No payment is known for this order (or the caller may not see it) (404)."""

    code = "payment_not_found"


class PayerPhoneInvalid(Unprocessable):
    """The payer number is not a Cameroonian mobile number (422)."""

    code = "payer_phone_invalid"
