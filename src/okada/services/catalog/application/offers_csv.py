"""Bulk offer import and export as CSV, the format store managers keep in a spreadsheet.

Import semantics (documented for merchants):

- The file is UTF-8 (a byte-order mark is fine), comma- or semicolon-separated (French
  spreadsheets export ``;``), with a header row. Required columns: ``sku`` and ``price_xaf``;
  optional ``listed`` (``true/false``, ``1/0``, ``yes/no``, ``oui/non``; empty or absent keeps
  an existing offer's listing and lists a new one). Unknown columns are ignored, so an export
  imports back unchanged.
- Rows are numbered as a spreadsheet shows them: the header is row 1, the first product row 2.
- A file that cannot be read as CSV, or lacks a required column, is refused as a whole (4xx)
  and nothing changes.
- Otherwise every row is checked on its own. **Good rows are applied, bad rows are reported**
  (row, field, code) and change nothing; the good rows are written together in one
  transaction, so a crash leaves either all of them or none.
- Operations (not store staff) may create products for unknown SKUs by adding ``name_fr``,
  ``name_en``, ``category`` (slug), ``unit_fr`` and optionally ``unit_en``, ``brand``,
  ``barcode``, ``tags`` (``|``-separated) and ``sold_by_weight``. Product columns never
  change an existing product: that is ``PATCH /v1/merchant/products/{id}``.
- A row that changes nothing counts as imported and ``unchanged`` and publishes nothing.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from okada.contracts.catalog.v1 import offer_id
from okada.kernel.authz import Principal, ensure_store_access
from okada.kernel.errors import OkadaError
from okada.kernel.ids import new_id
from okada.services.catalog.application import events
from okada.services.catalog.application.errors import (
    CsvMalformed,
    CsvMissingColumns,
    CsvTooLarge,
    StoreNotFound,
)
from okada.services.catalog.application.model import LocalText, Offer, Product
from okada.services.catalog.application.ports import CatalogReader, CatalogUnitOfWork
from okada.services.catalog.application.validation import check_product, parse_price

MAX_ROWS = 5_000
REQUIRED_COLUMNS = ("sku", "price_xaf")
PRODUCT_COLUMNS = ("name_fr", "name_en", "category", "unit_fr")
EXPORT_COLUMNS = (
    "sku",
    "price_xaf",
    "listed",
    "in_stock",
    "product_id",
    "name_fr",
    "name_en",
    "unit_fr",
    "unit_en",
)
_TRUE = frozenset({"true", "1", "yes", "y", "oui", "o", "vrai"})
_FALSE = frozenset({"false", "0", "no", "n", "non", "faux"})
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class RowError:
    """Why one row was not imported; ``code`` selects a translated message."""

    row: int
    field: str
    code: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclass
class ImportReport:
    """The outcome of an import: counts and the rejected rows in file order."""

    imported: int = 0
    unchanged: int = 0
    created_products: int = 0
    failed: int = 0
    errors: list[RowError] = dataclasses.field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Line:
    row: int
    sku: str
    price: int
    listed: bool | None
    values: dict[str, str]


def _parse_bool(text: str) -> bool | None:
    value = text.strip().lower()
    if not value:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(value)


def read_csv(data: bytes) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Decode and split an uploaded CSV into its header and numbered rows.

    Raises:
        CsvMalformed: Not UTF-8, empty, or not parseable (unbalanced quotes...).
        CsvTooLarge: More than :data:`MAX_ROWS` rows.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvMalformed(reason="encoding") from exc
    if "\x00" in text:
        raise CsvMalformed(reason="encoding")
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    if not first_line:
        raise CsvMalformed(reason="empty")
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        # Records are numbered from 1 as a spreadsheet numbers its rows, blank ones included.
        for number, cells in enumerate(reader, start=1):
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header = [h.strip().lower() for h in cells]
                continue
            if len(rows) >= MAX_ROWS:
                raise CsvTooLarge(limit=MAX_ROWS)
            rows.append((number, dict(zip(header, cells, strict=False))))
    except csv.Error as exc:
        raise CsvMalformed(reason="syntax") from exc
    if header is None:
        raise CsvMalformed(reason="empty")
    return header, rows


class OfferImporter:
    """Imports and exports a store's offers as CSV (see the module docstring for the rules).

    Args:
        uow_factory: Opens a catalog unit of work.
        reader: Read-side queries (the export).
    """

    def __init__(
        self, *, uow_factory: Callable[[], CatalogUnitOfWork], reader: CatalogReader
    ) -> None:
        self._uow = uow_factory
        self._reader = reader

    async def import_offers(
        self, principal: Principal | None, store_id: uuid.UUID, data: bytes
    ) -> ImportReport:
        """Apply the good rows of a CSV to a store's offers and report the bad ones.

        Business rules: the store's own staff and operations only; see the module docstring.

        Raises:
            Forbidden: Another store's staff or a customer (nothing changes).
            StoreNotFound: No such store.
            CsvMalformed: The file is not readable CSV.
            CsvMissingColumns: ``sku`` or ``price_xaf`` is missing from the header.
        """
        caller = ensure_store_access(principal, store_id)
        header, rows = read_csv(data)
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise CsvMissingColumns(columns=", ".join(missing))
        may_create = caller.is_staff and all(c in header for c in PRODUCT_COLUMNS)
        report = ImportReport()
        lines = self._check_rows(rows, report)
        async with self._uow() as uow:
            seq = await uow.change_seq()
            store = await uow.stores.get(store_id)
            if store is None or store.deleted:
                raise StoreNotFound()
            known = await uow.products.by_skus([line.sku for line in lines])
            new_products = await self._new_products(uow, lines, known, may_create, report)
            if new_products:
                await uow.products.add_many(new_products, seq=seq)
                for created_product in new_products:
                    uow.publish(events.product_event(created_product))
                    known[created_product.sku] = created_product
                report.created_products = len(new_products)
            offers = await uow.offers.for_store(store_id)
            levels = await uow.stock.for_store(store_id)
            created: list[Offer] = []
            for line in lines:
                product = known.get(line.sku)
                if product is None:
                    continue  # reported by _new_products
                if product.deleted:
                    report.errors.append(
                        RowError(line.row, "sku", "unknown_product", {"sku": line.sku})
                    )
                    continue
                report.imported += 1
                offer = offers.get(product.id)
                if offer is None:
                    level = levels.get(product.id)
                    new = Offer(
                        id=offer_id(store_id, product.id),
                        store_id=store_id,
                        product_id=product.id,
                        price_xaf=line.price,
                        listed=True if line.listed is None else line.listed,
                        in_stock=level.in_stock if level is not None else True,
                    )
                    created.append(new)
                    uow.publish(events.price_changed(new, None))
                    continue
                listed = offer.listed if line.listed is None else line.listed
                if offer.price_xaf == line.price and offer.listed == listed:
                    report.unchanged += 1
                    continue
                changed = dataclasses.replace(
                    offer, price_xaf=line.price, listed=listed, version=offer.version + 1
                )
                await uow.offers.save(changed, expected_version=offer.version, seq=seq)
                uow.publish(events.price_changed(changed, offer.price_xaf))
            if created:
                await uow.offers.add_many(created, seq=seq)
            await uow.commit()
        report.errors.sort(key=lambda e: e.row)
        report.failed = len({e.row for e in report.errors})
        return report

    @staticmethod
    def _check_rows(
        rows: Sequence[tuple[int, dict[str, str]]], report: ImportReport
    ) -> list[_Line]:
        lines: list[_Line] = []
        seen: dict[str, int] = {}
        for number, values in rows:
            sku = (values.get("sku") or "").strip()
            if not sku:
                report.errors.append(RowError(number, "sku", "required_field", {"field": "sku"}))
                continue
            if sku in seen:
                report.errors.append(
                    RowError(number, "sku", "duplicate_sku", {"sku": sku, "first": seen[sku]})
                )
                continue
            seen[sku] = number
            try:
                price = parse_price(values.get("price_xaf") or "")
            except OkadaError as exc:
                report.errors.append(RowError(number, "price_xaf", exc.code, dict(exc.params)))
                continue
            try:
                listed = _parse_bool(values.get("listed") or "")
            except ValueError:
                report.errors.append(
                    RowError(number, "listed", "invalid_listed", {"value": values["listed"][:20]})
                )
                continue
            lines.append(_Line(number, sku, price, listed, values))
        return lines

    @staticmethod
    async def _new_products(
        uow: CatalogUnitOfWork,
        lines: Sequence[_Line],
        known: dict[str, Product],
        may_create: bool,
        report: ImportReport,
    ) -> list[Product]:
        unknown = [line for line in lines if line.sku not in known]
        if not unknown:
            return []
        if not may_create:
            for line in unknown:
                report.errors.append(
                    RowError(line.row, "sku", "unknown_product", {"sku": line.sku})
                )
            return []
        created: list[Product] = []
        categories: dict[str, uuid.UUID | None] = {}
        for line in unknown:
            v = {k: (val or "").strip() for k, val in line.values.items()}
            slug = v.get("category", "")
            if slug not in categories:
                category = await uow.categories.by_slug(slug) if slug else None
                categories[slug] = (
                    category.id if category is not None and not category.deleted else None
                )
            category_id = categories[slug]
            if category_id is None:
                report.errors.append(
                    RowError(line.row, "category", "unknown_category", {"category": slug[:40]})
                )
                continue
            try:
                sold_by_weight = bool(_parse_bool(v.get("sold_by_weight", "")))
            except ValueError:
                report.errors.append(
                    RowError(
                        line.row,
                        "sold_by_weight",
                        "invalid_catalog_field",
                        {"field": "sold_by_weight"},
                    )
                )
                continue
            unit_fr = v.get("unit_fr", "")
            product = Product(
                id=new_id(),
                sku=line.sku,
                category_id=category_id,
                name=LocalText(fr=v.get("name_fr", ""), en=v.get("name_en", "")),
                unit=LocalText(fr=unit_fr, en=v.get("unit_en") or unit_fr),
                brand=v.get("brand") or None,
                barcode=v.get("barcode") or None,
                tags=[t.strip() for t in v.get("tags", "").split("|") if t.strip()],
                sold_by_weight=sold_by_weight,
            )
            try:
                check_product(product)
            except OkadaError as exc:
                field_name = str(exc.params.get("field", "sku"))
                report.errors.append(RowError(line.row, field_name, exc.code, dict(exc.params)))
                continue
            created.append(product)
        return created

    async def export_offers(self, principal: Principal | None, store_id: uuid.UUID) -> str:
        """Return every offer of a store (listed or not) as CSV, ordered by SKU.

        Business rules: the store's own staff and operations only. Cells that a spreadsheet
        would run as a formula (starting with ``=``, ``+``, ``-``, ``@``) are prefixed with
        ``'``; only name columns can hold them and import ignores those for known SKUs.

        Raises:
            Forbidden: Another store's staff or a customer.
            StoreNotFound: No such store.
        """
        ensure_store_access(principal, store_id)
        if await self._reader.store(store_id) is None:
            raise StoreNotFound()
        rows = await self._reader.offers_export(store_id)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(EXPORT_COLUMNS)
        for row in rows:
            writer.writerow(
                [
                    row["sku"],
                    row["price_xaf"],
                    "true" if row["listed"] else "false",
                    "true" if row["in_stock"] else "false",
                    row["product_id"],
                    *(_safe_cell(row[c]) for c in EXPORT_COLUMNS[5:]),
                ]
            )
        return out.getvalue()


def _safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text
