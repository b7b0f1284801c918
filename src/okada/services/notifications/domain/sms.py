"""SMS text rules: the GSM-7 alphabet, transliteration and segment counting.

Business rules:
    - Okada SMS are written in the GSM-7 alphabet: accents are transliterated (é→e, ç→c,
      ê→e, typographic quotes to ASCII ones) because one character outside GSM-7 switches
      the whole message to UCS-2 (70 characters instead of 160) and several Cameroonian
      routes mangle accents.
    - A GSM-7 message of up to 160 septets is one segment; longer ones are cut in parts of
      153 septets. The extension characters ``^ { } \\ [ ~ ] | €`` cost two septets.
    - A UCS-2 message of up to 70 UTF-16 units is one segment; longer ones use parts of 67.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67

# Characters NFKD does not reduce to something in GSM-7.
_REPLACEMENTS = {
    "\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u00ab": '"', "\u00bb": '"', "\u201e": '"',
    "\u2013": "-", "\u2014": "-", "\u2011": "-", "\u2212": "-",
    "\u2026": "...", "\u2022": "-", "\u00b7": ".",
    "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " ", "\t": " ",
    "œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss", "ø": "o", "Ø": "O",
    "å": "a", "Å": "A",
}


def transliterate(text: str) -> str:
    """Rewrite ``text`` with plain letters of the GSM-7 alphabet.

    Every accented letter becomes its base letter (``é→e`` too: some operator routes mangle
    even the accents GSM-7 has); typographic quotes, dashes and the narrow no-break spaces
    of French number formatting become their ASCII forms. Anything still outside GSM-7
    becomes ``?`` so the message never silently switches to UCS-2.
    """
    out: list[str] = []
    for char in text:
        if char in _REPLACEMENTS:
            out.append(_REPLACEMENTS[char])
            continue
        if char.isascii():
            out.append(char)
            continue
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        if base and all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in base):
            out.append(base)
        elif char in GSM7_BASIC:
            out.append(char)
        else:
            out.append("?")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class SmsLength:
    """How an SMS text travels: its encoding, its length in units and its segment count."""

    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` exists in GSM-7 (basic set or extension)."""
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def measure(text: str) -> SmsLength:
    """Encoding, length and number of segments of ``text`` as an operator bills it."""
    if is_gsm7(text):
        septets = sum(2 if c in GSM7_EXTENSION else 1 for c in text)
        single, part, encoding, units = GSM7_SINGLE, GSM7_PART, "GSM-7", septets
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = UCS2_SINGLE, UCS2_PART, "UCS-2"
    segments = 1 if units <= single else math.ceil(units / part)
    return SmsLength(encoding=encoding, units=units, segments=max(1, segments))


def fit_one_segment(text: str) -> str:
    """Transliterate ``text`` and, if it still needs two segments, shorten it to one.

    Templates are written to fit; this only guards against long store names or landmarks.
    """
    plain = transliterate(text)
    if measure(plain).segments == 1:
        return plain
    budget = GSM7_SINGLE - 3
    while plain and measure(plain[:budget] + "...").units > GSM7_SINGLE:
        budget -= 1
    return plain[:budget].rstrip() + "..."
