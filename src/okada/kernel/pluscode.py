"""Open Location Code (Plus Codes): validate, decode and recover short codes, offline.

Shared by identity (saved places) and delivery (geocoding, drop points). A faithful port of
the reference algorithm (github.com/google/open-location-code), kept here in a few dozen
lines rather than as a dependency: the only published Python package dates from 2019 and
ships no type information. Integer arithmetic, as in the reference, so cell edges never
round the wrong way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ALPHABET = "23456789CFGHJMPQRVWX"
SEPARATOR = "+"
SEPARATOR_POSITION = 8
PADDING = "0"
PAIR_CODE_LENGTH = 10
GRID_CODE_LENGTH = 5
MAX_DIGITS = 15
_GRID_ROWS = 5
_GRID_COLUMNS = 4
_PAIR_PRECISION = 8000  # 1 / (20 ** -3): the pair part's finest step is 1/8000 degree
_LAT_MULTIPLIER = _PAIR_PRECISION * _GRID_ROWS**GRID_CODE_LENGTH
_LNG_MULTIPLIER = _PAIR_PRECISION * _GRID_COLUMNS**GRID_CODE_LENGTH


@dataclass(frozen=True, slots=True)
class CodeArea:
    """The rectangle a code stands for; ``code_length`` counts significant digits."""

    south: float
    west: float
    north: float
    east: float
    code_length: int

    @property
    def center(self) -> tuple[float, float]:
        """The middle of the cell as ``(lat, lng)``."""
        return (
            min((self.south + self.north) / 2, 90.0),
            min((self.west + self.east) / 2, 180.0),
        )


def is_valid(code: str) -> bool:
    """Return whether ``code`` is a well-formed full or short code."""
    if not code or code.count(SEPARATOR) != 1 or len(code) == 1:
        return False
    sep = code.find(SEPARATOR)
    if sep > SEPARATOR_POSITION or sep % 2 == 1:
        return False
    pad = code.find(PADDING)
    if pad != -1:
        if sep < SEPARATOR_POSITION or pad == 0:
            return False
        run = code[pad : code.rfind(PADDING) + 1]
        if len(run) % 2 == 1 or run.count(PADDING) != len(run) or not code.endswith(SEPARATOR):
            return False
    if len(code) - sep - 1 == 1:
        return False
    return all(ch.upper() in ALPHABET or ch in SEPARATOR + PADDING for ch in code)


def is_short(code: str) -> bool:
    """Return whether ``code`` is valid and short (needs a reference place to recover)."""
    return is_valid(code) and code.find(SEPARATOR) < SEPARATOR_POSITION


def is_full(code: str) -> bool:
    """Return whether ``code`` is a valid full code on the globe."""
    if not is_valid(code) or is_short(code):
        return False
    if ALPHABET.find(code[0].upper()) * 20 >= 180:
        return False
    return not (len(code) > 1 and ALPHABET.find(code[1].upper()) * 20 >= 360)


def decode(code: str) -> CodeArea:
    """Return the area of a full code; raise ``ValueError`` for anything else."""
    if not is_full(code):
        raise ValueError(f"not a full Plus Code: {code!r}")
    digits = code.replace(SEPARATOR, "").replace(PADDING, "").upper()[:MAX_DIGITS]
    lat = lng = 0
    # Place values start at 400 degrees and shrink before each digit: 20, 1, 1/20... degrees.
    lat_place = _LAT_MULTIPLIER * 400
    lng_place = _LNG_MULTIPLIER * 400
    for i in range(0, min(len(digits), PAIR_CODE_LENGTH), 2):
        lat_place //= 20
        lng_place //= 20
        lat += ALPHABET.index(digits[i]) * lat_place
        lng += ALPHABET.index(digits[i + 1]) * lng_place
    for ch in digits[PAIR_CODE_LENGTH:]:
        lat_place //= _GRID_ROWS
        lng_place //= _GRID_COLUMNS
        row, col = divmod(ALPHABET.index(ch), _GRID_COLUMNS)
        lat += row * lat_place
        lng += col * lng_place
    # Shift in integers, divide once: the edges come out as the nearest floats.
    lat -= 90 * _LAT_MULTIPLIER
    lng -= 180 * _LNG_MULTIPLIER
    return CodeArea(
        south=lat / _LAT_MULTIPLIER,
        west=lng / _LNG_MULTIPLIER,
        north=(lat + lat_place) / _LAT_MULTIPLIER,
        east=(lng + lng_place) / _LNG_MULTIPLIER,
        code_length=len(digits),
    )


def encode(lat: float, lng: float, length: int = PAIR_CODE_LENGTH) -> str:
    """Return the code of length ``length`` (2-15 digits) for a point."""
    if length < 2 or (length < PAIR_CODE_LENGTH and length % 2 == 1):
        raise ValueError(f"invalid Plus Code length {length}")
    length = min(length, MAX_DIGITS)
    lat_val = math.floor((min(max(lat, -90.0), 90.0) + 90) * _LAT_MULTIPLIER)
    lat_val = min(lat_val, 180 * _LAT_MULTIPLIER - 1)  # the north pole belongs to the cell below
    lng_val = math.floor(((lng + 180) % 360) * _LNG_MULTIPLIER)
    code = ""
    if length > PAIR_CODE_LENGTH:
        for _ in range(GRID_CODE_LENGTH):
            code = ALPHABET[(lat_val % _GRID_ROWS) * _GRID_COLUMNS + lng_val % _GRID_COLUMNS] + code
            lat_val //= _GRID_ROWS
            lng_val //= _GRID_COLUMNS
    else:
        lat_val //= _GRID_ROWS**GRID_CODE_LENGTH
        lng_val //= _GRID_COLUMNS**GRID_CODE_LENGTH
    for _ in range(PAIR_CODE_LENGTH // 2):
        code = ALPHABET[lat_val % 20] + ALPHABET[lng_val % 20] + code
        lat_val //= 20
        lng_val //= 20
    code = code[:SEPARATOR_POSITION] + SEPARATOR + code[SEPARATOR_POSITION:]
    if length >= SEPARATOR_POSITION:
        return code[: length + 1]
    return code[:length] + PADDING * (SEPARATOR_POSITION - length) + SEPARATOR


def recover_nearest(code: str, lat: float, lng: float) -> str:
    """Turn a short code (``GH5W+5F``) into the full code nearest a reference point."""
    if not is_short(code):
        if is_full(code):
            return code.upper()
        raise ValueError(f"not a Plus Code: {code!r}")
    code = code.upper()
    lat = min(max(lat, -90.0), 90.0)
    lng = (lng + 180) % 360 - 180
    padding = SEPARATOR_POSITION - code.find(SEPARATOR)
    resolution = 20.0 ** (2 - padding / 2)
    half = resolution / 2
    area = decode(encode(lat, lng)[:padding] + code)
    center_lat, center_lng = area.center
    if lat + half < center_lat and center_lat - resolution >= -90:
        center_lat -= resolution
    elif lat - half > center_lat and center_lat + resolution <= 90:
        center_lat += resolution
    if lng + half < center_lng:
        center_lng -= resolution
    elif lng - half > center_lng:
        center_lng += resolution
    return encode(center_lat, center_lng, area.code_length)
