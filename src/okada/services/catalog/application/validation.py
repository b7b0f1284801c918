"""Rules every store, category, product and price must follow, whoever writes them."""

from __future__ import annotations

import re

from okada.services.catalog.application.errors import InvalidField, InvalidPrice
from okada.services.catalog.application.hours import validate_hours
from okada.services.catalog.application.model import (
    STORE_KINDS,
    Category,
    LocalText,
    Product,
    Store,
)

MAX_PRICE_XAF = 10_000_000
"""Ten million francs: far above anything a quick-commerce shelf sells; a typo guard."""

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
BARCODE = re.compile(r"^\d{8,14}$")

# Cameroon onshore (EPSG area 3226): a store or delivery point outside is a typo, usually
# latitude and longitude swapped.
LAT_RANGE = (1.6, 13.1)
LNG_RANGE = (8.4, 16.3)
RADIUS_RANGE_M = (100, 20_000)
PREP_RANGE_MIN = (1, 240)
_GROUPING = str.maketrans("", "", " \u00a0\u202f")


def check_price(value: object) -> int:
    """Return a valid price in whole XAF.

    Business rule: XAF has no minor unit, so a price is an integer number of francs, above
    zero and at most :data:`MAX_PRICE_XAF`. Booleans, decimals (even ``12.0``) and text
    are refused rather than rounded.

    Raises:
        InvalidPrice: The value is not such an integer (``field`` is ``price_xaf``).
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidPrice(field="price_xaf", value=str(value)[:20])
    if not 0 < value <= MAX_PRICE_XAF:
        raise InvalidPrice(field="price_xaf", value=str(value))
    return value


def parse_price(text: str) -> int:
    """Read a price typed in a spreadsheet cell: digits, optionally grouped by spaces.

    ``"3500"``, ``"3 500"`` and ``"3\u202f500"`` (French grouping) are 3500; ``"12.5"``,
    ``"12,5"``, ``"-5"``, ``"0"`` and ``"abc"`` are refused.

    Raises:
        InvalidPrice: The cell is not a valid price.
    """
    cleaned = text.strip().translate(_GROUPING)
    if not cleaned.isascii() or not cleaned.isdigit():
        raise InvalidPrice(field="price_xaf", value=text.strip()[:20])
    return check_price(int(cleaned))


def _text(value: LocalText, field: str, max_length: int) -> None:
    for text in (value.fr, value.en):
        if not text.strip() or len(text) > max_length:
            raise InvalidField(field=field)


def _in_cameroon(lat: float, lng: float, field: str) -> None:
    if not (LAT_RANGE[0] <= lat <= LAT_RANGE[1] and LNG_RANGE[0] <= lng <= LNG_RANGE[1]):
        raise InvalidField(field=field)


def check_store(store: Store) -> None:
    """Check a store before it is written.

    Business rules: a lowercase slug; a name; a kind (``dark_store`` or ``partner``); a
    location in Cameroon; a delivery area that is exactly one of a radius (100 m to 20 km) or
    a polygon of 3 to 200 points in Cameroon; a preparation estimate of 1 to 240 minutes;
    valid opening hours.

    Raises:
        InvalidField: The first broken rule, naming its field.
    """
    if not SLUG.match(store.slug):
        raise InvalidField(field="slug")
    if not store.name.strip() or len(store.name) > 120:
        raise InvalidField(field="name")
    if store.kind not in STORE_KINDS:
        raise InvalidField(field="kind")
    for field, value, limit in (
        ("city", store.city, 60),
        ("quartier", store.quartier, 80),
    ):
        if not value.strip() or len(value) > limit:
            raise InvalidField(field=field)
    if store.landmark is not None and len(store.landmark) > 160:
        raise InvalidField(field="landmark")
    _in_cameroon(store.lat, store.lng, "lat")
    has_radius = store.delivery_radius_m is not None
    has_polygon = bool(store.delivery_polygon)
    if has_radius == has_polygon:
        raise InvalidField(field="delivery_area")
    if store.delivery_radius_m is not None and not (
        RADIUS_RANGE_M[0] <= store.delivery_radius_m <= RADIUS_RANGE_M[1]
    ):
        raise InvalidField(field="delivery_radius_m")
    if store.delivery_polygon is not None and has_polygon:
        if not 3 <= len(store.delivery_polygon) <= 200:
            raise InvalidField(field="delivery_polygon")
        for lat, lng in store.delivery_polygon:
            _in_cameroon(lat, lng, "delivery_polygon")
    if not PREP_RANGE_MIN[0] <= store.prep_minutes <= PREP_RANGE_MIN[1]:
        raise InvalidField(field="prep_minutes")
    store.opening_hours = validate_hours(store.opening_hours)


def check_category(category: Category) -> None:
    """Check a category: a lowercase slug, names in both languages, a position >= 0.

    Raises:
        InvalidField: The first broken rule.
    """
    if not SLUG.match(category.slug):
        raise InvalidField(field="slug")
    _text(category.name, "name", 80)
    if category.position < 0:
        raise InvalidField(field="position")


def check_product(product: Product) -> None:
    """Check a product before it is written.

    Business rules: a SKU of letters, digits, ``.``, ``_`` and ``-``; name and unit in
    French and English; an 8 to 14 digit barcode when given; at most 10 https images and 20
    tags.

    Raises:
        InvalidField: The first broken rule.
    """
    if not SKU.match(product.sku):
        raise InvalidField(field="sku")
    _text(product.name, "name", 200)
    _text(product.unit, "unit", 60)
    if product.description is not None:
        _text(product.description, "description", 2000)
    if product.brand is not None and (not product.brand.strip() or len(product.brand) > 80):
        raise InvalidField(field="brand")
    if product.barcode is not None and not BARCODE.match(product.barcode):
        raise InvalidField(field="barcode")
    if len(product.images) > 10 or any(
        not image.url.startswith("https://") or not 16 <= image.width <= 4096
        for image in product.images
    ):
        raise InvalidField(field="images")
    if len(product.tags) > 20 or any(not t.strip() or len(t) > 40 for t in product.tags):
        raise InvalidField(field="tags")
