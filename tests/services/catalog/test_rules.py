"""Catalog rules without a database: geometry, opening hours, folding, prices, fields, CSV."""

from __future__ import annotations

import datetime as dt

import pytest

from okada.kernel.errors import OkadaError
from okada.services.catalog.application.errors import (
    CsvMalformed,
    InvalidPrice,
    UnknownField,
)
from okada.services.catalog.application.geo import area_box, haversine_m, in_polygon, serves
from okada.services.catalog.application.hours import is_open
from okada.services.catalog.application.model import OpeningSlot, StoreStatus
from okada.services.catalog.application.offers_csv import read_csv
from okada.services.catalog.application.queries import LIST_FIELDS, select_fields
from okada.services.catalog.application.text import normalise, query_terms
from okada.services.catalog.application.validation import check_price, parse_price

AKWA = (4.0485, 9.6990)
BONAMOUSSADI = (4.0940, 9.7430)
DAILY = [OpeningSlot(d, "07:00", "22:00") for d in range(7)]
LATE_FRIDAY = [OpeningSlot(4, "07:00", "01:00")]


def douala(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """An instant given in Douala local time (UTC+1) on January ``day`` 2026 (the 5th is a
    Monday)."""
    return dt.datetime(2026, 1, day, hour, minute, tzinfo=dt.UTC) - dt.timedelta(hours=1)


def test_haversine_akwa_to_bonamoussadi_is_about_seven_km() -> None:
    # 0.0455 degrees north (5,059 m) and 0.044 degrees east (4,880 m at 4 degrees N).
    distance = haversine_m(*AKWA, *BONAMOUSSADI)
    assert 7_020 < distance < 7_040
    assert haversine_m(*AKWA, *AKWA) == 0


def test_radius_includes_its_edge_and_excludes_beyond() -> None:
    north = (AKWA[0] + 4_000 / 111_195, AKWA[1])  # 4 km due north, to a metre
    assert serves(*AKWA, 4_001, None, *north)
    assert not serves(*AKWA, 3_990, None, *north)


def test_polygon_contains_inside_points_only_even_when_concave() -> None:
    # An L shape: the notch at the top right is outside.
    ring = [(0.0, 0.0), (0.0, 2.0), (1.0, 2.0), (1.0, 1.0), (2.0, 1.0), (2.0, 0.0)]
    assert in_polygon(0.5, 0.5, ring)
    assert in_polygon(0.5, 1.5, ring)
    assert not in_polygon(1.5, 1.5, ring)
    assert not in_polygon(3.0, 0.5, ring)
    assert serves(0.5, 0.5, None, ring, 0.5, 1.5)


def test_bounding_box_holds_the_whole_area() -> None:
    box = area_box(*AKWA, 4_000, None)
    assert box.min_lat < AKWA[0] - 0.035 and box.max_lat > AKWA[0] + 0.035
    assert box.min_lng < AKWA[1] - 0.035 and box.max_lng > AKWA[1] + 0.035
    ring = [(4.0, 9.6), (4.1, 9.7), (4.0, 9.8)]
    polygon_box = area_box(4.05, 9.7, None, ring)
    assert polygon_box.min_lat <= 4.0 and polygon_box.max_lng >= 9.8


@pytest.mark.parametrize(
    ("at", "slots", "status", "expected"),
    [
        (douala(5, 7, 0), DAILY, StoreStatus.OPEN, True),  # opening minute is inside
        (douala(5, 6, 59), DAILY, StoreStatus.OPEN, False),
        (douala(5, 21, 59), DAILY, StoreStatus.OPEN, True),
        (douala(5, 22, 0), DAILY, StoreStatus.OPEN, False),  # closing minute is outside
        (douala(5, 12, 0), DAILY, StoreStatus.BUSY, True),  # busy still takes orders
        (douala(5, 12, 0), DAILY, StoreStatus.CLOSED, False),  # closed beats the hours
        (douala(9, 23, 30), LATE_FRIDAY, StoreStatus.OPEN, True),  # Friday night
        (douala(10, 0, 30), LATE_FRIDAY, StoreStatus.OPEN, True),  # ...into Saturday
        (douala(10, 1, 0), LATE_FRIDAY, StoreStatus.OPEN, False),
        (douala(10, 23, 30), LATE_FRIDAY, StoreStatus.OPEN, False),  # no Saturday slot
        # no hours declared: no limit (the one rule of okada.kernel.hours, as orders and
        # delivery always applied it)
        (douala(11, 12, 0), [], StoreStatus.OPEN, True),
    ],
)
def test_open_now_uses_douala_local_time(
    at: dt.datetime, slots: list[OpeningSlot], status: StoreStatus, expected: bool
) -> None:
    assert is_open(status, slots, at, "Africa/Douala") is expected


def test_folding_finds_what_phone_keyboards_type() -> None:
    assert normalise("Feuilles de Ndolé") == "feuilles de ndole"
    assert normalise("MÜTZIG  65 cl") == "mutzig 65 cl"
    assert normalise("Bœuf sans os") == "boeuf sans os"
    assert query_terms("  Ndolé   LAVÉES ") == ["ndole", "lavees"]
    assert query_terms("") == []


@pytest.mark.parametrize("value", [0, -5, 12.5, "abc", True, 10_000_001, None])
def test_check_price_refuses_anything_but_a_positive_whole_franc(value: object) -> None:
    with pytest.raises(InvalidPrice):
        check_price(value)


def test_prices_typed_in_a_spreadsheet() -> None:
    assert parse_price("3500") == 3500
    assert parse_price(" 3 500 ") == 3500
    assert parse_price("3\u202f500") == 3500
    for bad in ("12.5", "12,5", "-5", "0", "abc", "", "3500 FCFA", "٣٥٠٠"):
        with pytest.raises(InvalidPrice):
            parse_price(bad)


def test_sparse_fieldset_always_keeps_id_and_refuses_unknown_names() -> None:
    assert select_fields("name,price_xaf") == ("id", "name", "price_xaf")
    assert select_fields(None) == LIST_FIELDS
    assert select_fields(" ") == LIST_FIELDS
    with pytest.raises(UnknownField) as raised:
        select_fields("name,prix")
    assert raised.value.params["field"] == "prix"


def test_csv_reader_handles_semicolons_bom_and_numbers_rows_like_a_spreadsheet() -> None:
    header, rows = read_csv("\ufeffSKU;Price_XAF\r\nA;100\r\n\r\nB;200\r\n".encode())
    assert header == ["sku", "price_xaf"]
    assert rows == [(2, {"sku": "A", "price_xaf": "100"}), (4, {"sku": "B", "price_xaf": "200"})]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"\n\n  \n", "empty"),
        (b'sku,price_xaf\n"A,100\n', "syntax"),
        ("sku,price_xaf\nCafé,100\n".encode("latin-1"), "encoding"),
    ],
)
def test_unreadable_csv_is_refused_whole(data: bytes, reason: str) -> None:
    with pytest.raises(CsvMalformed) as raised:
        read_csv(data)
    assert raised.value.params["reason"] == reason
    assert isinstance(raised.value, OkadaError)
