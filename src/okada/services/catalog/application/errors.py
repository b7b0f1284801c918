"""Catalog errors; each code has a title and detail in ``locales/en.po`` and ``fr.po``."""

from __future__ import annotations

from okada.kernel.errors import Conflict, ErrorKind, NotFound, OkadaError, Unprocessable


class StoreNotFound(NotFound):
    """No such store (or it was removed)."""

    code = "store_not_found"


class ProductNotFound(NotFound):
    """No such product (or it was withdrawn)."""

    code = "product_not_found"


class CategoryNotFound(NotFound):
    """No such category."""

    code = "category_not_found"


class InvalidPrice(Unprocessable):
    """A price is not a whole number of francs above zero."""

    code = "invalid_price"


class InvalidField(Unprocessable):
    """A field of a store, category or product breaks a rule; ``field`` names it."""

    code = "invalid_catalog_field"


class UnknownField(Unprocessable):
    """``fields=`` names a field the resource does not have."""

    code = "unknown_field"


class UnknownCategory(Unprocessable):
    """A product or filter names a category that does not exist."""

    code = "unknown_category"


class SkuTaken(Conflict):
    """Another product already has this SKU."""

    code = "sku_taken"


class SlugTaken(Conflict):
    """Another store or category already has this slug."""

    code = "slug_taken"


class PreconditionFailed(OkadaError):
    """The client edited from a stale copy (its ``If-Match`` no longer matches): 412."""

    kind = ErrorKind.PRECONDITION_FAILED
    code = "precondition_failed"


class CsvMalformed(OkadaError):
    """The uploaded file is not readable CSV (encoding, quoting, empty): 400."""

    kind = ErrorKind.INVALID
    code = "csv_malformed"


class CsvMissingColumns(Unprocessable):
    """The CSV header lacks required columns."""

    code = "csv_missing_columns"


class CsvTooLarge(Unprocessable):
    """The CSV has more rows than one import accepts."""

    code = "csv_too_many_rows"
