"""Cameroonian phone numbers: what people type, normalised to E.164, with the operator."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType, carrier

from okada.kernel.errors import Unprocessable


class Operator(enum.StrEnum):
    """Mobile operators of Cameroon (by original number allocation)."""

    MTN = "mtn"
    ORANGE = "orange"
    NEXTTEL = "nexttel"
    CAMTEL = "camtel"
    OTHER = "other"


_CARRIERS = {
    "MTN Cameroon": Operator.MTN,
    "Orange": Operator.ORANGE,
    "NEXTTEL": Operator.NEXTTEL,
    "Camtel": Operator.CAMTEL,
}
_MOBILE_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A validated mobile number in E.164 form.

    ``operator`` comes from the prefix's original allocation; numbers can be ported, so it
    only pre-selects a mobile-money provider and the provider's answer stays authoritative.
    """

    e164: str
    operator: Operator
    region: str

    @property
    def masked(self) -> str:
        """The number as logs and other people may see it: ``+237 6** ** ** 56``."""
        return f"{self.e164[:5]}*****{self.e164[-2:]}"

    @property
    def prefix(self) -> str:
        """The number minus its last four digits: the unit SMS-pumping caps count by."""
        return self.e164[:-4]

    @property
    def national(self) -> str:
        """The national significant number (``677123456`` for Cameroon)."""
        return self.e164[4:] if self.e164.startswith("+237") else self.e164.lstrip("+")


def parse_phone(raw: str, *, allowed_regions: frozenset[str] = frozenset({"CM"})) -> PhoneNumber:
    """Normalise what a person typed (``6 77 12 34 56``, ``00237…``) to a mobile number.

    Business rules: only mobile numbers of ``allowed_regions`` are accepted (Cameroon by
    default), because codes and payments go to mobiles and SMS pumping targets foreign
    premium ranges.
    """
    text = re.sub(r"[\s\-.()/]", "", raw or "")
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text or len(text) > 20 or not re.fullmatch(r"\+?\d+", text):
        raise Unprocessable("invalid_phone")
    try:
        number = phonenumbers.parse(text, "CM")
    except phonenumbers.NumberParseException as exc:
        raise Unprocessable("invalid_phone") from exc
    if not phonenumbers.is_valid_number(number):
        raise Unprocessable("invalid_phone")
    region = phonenumbers.region_code_for_number(number) or ""
    if region not in allowed_regions:
        raise Unprocessable("phone_country_not_supported")
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise Unprocessable("phone_not_mobile")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    operator = _CARRIERS.get(carrier.name_for_number(number, "en"), Operator.OTHER)
    return PhoneNumber(e164=e164, operator=operator, region=region)
