"""Which wallet pays: the provider follows the payer number's operator.

Business rules: an MTN number pays with MTN MoMo, an Orange number with Orange Money; other
operators (Nexttel, Camtel) have no wallet we accept, so the customer is told to pay cash.
The payer may be any of the customer's *verified* numbers, not only the primary one.
Numbers can be ported, so the prefix only pre-selects the provider; the provider's answer
(``PAYER_NOT_FOUND``) stays authoritative.
"""

from __future__ import annotations

from okada.services.payments.domain.attempts import Provider
from okada.services.payments.domain.errors import OperatorNotSupported

PROVIDER_BY_OPERATOR = {"mtn": Provider.MTN_MOMO, "orange": Provider.ORANGE_MONEY}


def provider_for(operator: str, masked_phone: str) -> Provider:
    """The provider of a payer number's operator; 422 suggesting cash for the others."""
    provider = PROVIDER_BY_OPERATOR.get(operator)
    if provider is None:
        raise OperatorNotSupported(phone=masked_phone, operator=operator)
    return provider


def mask(e164: str) -> str:
    """``+2376****4321``: what logs, events and other people may see of a number."""
    if len(e164) < 9:
        return "****"
    return f"{e164[:5]}****{e164[-4:]}"
