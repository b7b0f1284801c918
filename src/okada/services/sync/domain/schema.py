"""The column registry of the mobile apps' WatermelonDB schema and the value sanitizer.

One registry drives everything the protocol needs per column: the allowlist of tables and
columns, how pushed values are coerced (never rejected), which columns a client may write,
which schema version introduced a column (migration syncs and per-version write filtering),
and how pulled values are serialised (strings, finite numbers, booleans, ``null`` only in
optional columns).
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
"""Record ids: WatermelonDB makes 16 alphanumerics; server ids are UUIDs (36 chars)."""

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
"""Table and column names the server accepts at all (no ``__proto__``, no odd characters)."""

LOCAL_COLUMNS = frozenset({"_status", "_changed"})
"""WatermelonDB's local bookkeeping: ignored in pushes, never sent in pulls."""

MAX_NUMBER = 2**53 - 1
"""Largest integer a JavaScript number holds exactly."""


class ColumnType(enum.StrEnum):
    """WatermelonDB column types."""

    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"


class Access(enum.StrEnum):
    """What a client may do with a table's records."""

    READ_WRITE = "read_write"
    CREATE_ONLY = "create_only"
    COLUMN_WRITABLE = "column_writable"  # existing records, writable columns only
    READ_ONLY = "read_only"


class App(enum.StrEnum):
    """Which app's database holds the table."""

    CUSTOMER = "customer"
    RIDER = "rider"


@dataclass(frozen=True)
class Column:
    """One raw column of a synced table."""

    name: str
    type: ColumnType
    optional: bool = False
    writable: bool = False
    since: int = 1
    """The mobile schema version that added the column."""
    max_length: int = 500
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    """Allowed values of an enum-like string column; anything else becomes the default."""
    integer: bool = False

    @property
    def default(self) -> Any:
        """What WatermelonDB itself would put in a missing column."""
        if self.optional:
            return None
        if self.choices:
            return self.choices[0]
        return {ColumnType.STRING: "", ColumnType.NUMBER: 0, ColumnType.BOOLEAN: False}[self.type]


@dataclass(frozen=True)
class TableSpec:
    """A synced table: its app, access and columns."""

    name: str
    app: App
    access: Access
    columns: tuple[Column, ...]
    since: int = 1

    def column(self, name: str) -> Column | None:
        """The column called ``name``, if the table has it."""
        for column in self.columns:
            if column.name == name:
                return column
        return None

    def columns_at(self, version: int) -> tuple[Column, ...]:
        """Columns a client on schema ``version`` knows."""
        return tuple(c for c in self.columns if c.since <= version)


@dataclass(frozen=True)
class Correction:
    """A pushed value the sanitizer changed (logged with the client id)."""

    table: str
    record_id: str
    column: str
    reason: str


@dataclass(frozen=True)
class Registry:
    """The synced tables of every supported mobile schema version."""

    tables: tuple[TableSpec, ...]
    current_version: int = 1
    min_version: int = 1
    by_name: dict[str, TableSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {t.name: t for t in self.tables})

    def table(self, name: str) -> TableSpec | None:
        """The table called ``name``, if synced."""
        return self.by_name.get(name)

    def tables_for(self, apps: Iterable[App], version: int) -> list[TableSpec]:
        """Tables of ``apps`` that a client on schema ``version`` has."""
        wanted = set(apps)
        return [t for t in self.tables if t.app in wanted and t.since <= version]

    def extended(self, *tables: TableSpec, columns: Mapping[str, Iterable[Column]] = {},
                 current_version: int | None = None) -> Registry:
        """A registry with more tables and columns (a newer mobile schema)."""
        merged: list[TableSpec] = []
        for spec in self.tables:
            extra = tuple(columns.get(spec.name, ()))
            merged.append(TableSpec(spec.name, spec.app, spec.access, spec.columns + extra,
                                    spec.since))
        return Registry(tuple(merged) + tables,
                        current_version=current_version or self.current_version,
                        min_version=self.min_version)


def _s(name: str, **kw: Any) -> Column:
    return Column(name, ColumnType.STRING, **kw)


def _n(name: str, **kw: Any) -> Column:
    return Column(name, ColumnType.NUMBER, **kw)


def _b(name: str, **kw: Any) -> Column:
    return Column(name, ColumnType.BOOLEAN, **kw)


DELIVERY_UPDATE_STATUSES = ("AT_STORE", "PICKED_UP", "ARRIVING", "DELIVERED", "FAILED")

MOBILE_SCHEMA = Registry(
    tables=(
        TableSpec("places", App.CUSTOMER, Access.READ_WRITE, (
            _s("label", writable=True, max_length=60),
            _s("city", writable=True, max_length=40),
            _s("quartier", writable=True, max_length=80),
            _s("landmark", optional=True, writable=True, max_length=160),
            _s("directions", optional=True, writable=True, max_length=500),
            _n("lat", optional=True, writable=True, minimum=-90, maximum=90),
            _n("lng", optional=True, writable=True, minimum=-180, maximum=180),
            _s("plus_code", optional=True, writable=True, max_length=40),
            _s("contact_phone", optional=True, writable=True, max_length=32),
            _b("is_default", writable=True),
        )),
        TableSpec("cart_items", App.CUSTOMER, Access.READ_WRITE, (
            _s("store_id", writable=True, max_length=64),
            _s("product_id", writable=True, max_length=64),
            _n("quantity", writable=True, minimum=1, maximum=99, integer=True),
            _n("added_at", optional=True, writable=True, minimum=0, maximum=MAX_NUMBER,
               integer=True),
        )),
        TableSpec("products", App.CUSTOMER, Access.READ_ONLY, (
            _s("store_id"), _s("category_id"), _s("name"), _s("unit"),
            _n("price", integer=True), _s("image_url", optional=True), _b("in_stock"),
        )),
        TableSpec("orders", App.CUSTOMER, Access.READ_ONLY, (
            _s("store_id"), _s("status"), _n("total", integer=True), _s("payment_method"),
            _n("placed_at", integer=True), _n("eta_at", optional=True, integer=True),
        )),
        TableSpec("notifications", App.CUSTOMER, Access.COLUMN_WRITABLE, (
            _s("title"), _s("body"), _s("kind"), _s("order_id", optional=True),
            _b("read", writable=True), _n("sent_at", integer=True),
        )),
        TableSpec("deliveries", App.RIDER, Access.READ_ONLY, (
            _s("order_id"), _s("status"), _s("store_name", optional=True),
            _n("store_lat"), _n("store_lng"), _n("drop_lat", optional=True),
            _n("drop_lng", optional=True), _s("drop_landmark", optional=True),
            _s("customer_phone_masked", optional=True), _n("cash_to_collect", integer=True),
        )),
        TableSpec("delivery_updates", App.RIDER, Access.CREATE_ONLY, (
            _s("delivery_id", writable=True, max_length=64),
            _s("status", writable=True, choices=DELIVERY_UPDATE_STATUSES),
            _n("lat", optional=True, writable=True, minimum=-90, maximum=90),
            _n("lng", optional=True, writable=True, minimum=-180, maximum=180),
            _n("at", writable=True, minimum=0, maximum=MAX_NUMBER, integer=True),
            _s("pin", optional=True, writable=True, max_length=8),
        )),
    ),
)
"""Mobile schema version 1 (api-essentials.md, "Sync tables")."""


def sanitize_value(column: Column, value: Any) -> tuple[Any, str | None]:
    """Coerce a pushed value to the column's type; return it and why it changed (or None).

    Rules (offline-sync.md 4.7): strings are truncated, numbers clamped and rounded when the
    column is whole, booleans accept ``true/false`` and ``1/0``, unknown enum values become
    the default, and anything unusable becomes ``null`` (optional column) or the default.
    """
    if value is None:
        return (None, None) if column.optional else (column.default, "null_in_required")
    if column.type is ColumnType.STRING:
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int | float) and not isinstance(value, bool):
            text = str(value) if math.isfinite(value) else ""
        elif isinstance(value, str):
            text = value
        else:
            return column.default, "not_a_string"
        reason = None if isinstance(value, str) else "coerced_to_string"
        if column.choices and text not in column.choices:
            return column.default, "unknown_choice"
        if len(text) > column.max_length:
            return text[: column.max_length], "truncated"
        return text, reason
    if column.type is ColumnType.BOOLEAN:
        if isinstance(value, bool):
            return value, None
        if value in (0, 1):
            return bool(value), None
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1"), "coerced_to_boolean"
        return column.default if not column.optional else None, "not_a_boolean"
    number: float
    if isinstance(value, bool | int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return column.default, "not_a_number"
    else:
        return column.default, "not_a_number"
    if not math.isfinite(number):
        return column.default, "not_finite"
    reason = None if isinstance(value, int | float) and not isinstance(value, bool) else (
        "coerced_to_number")
    low = column.minimum if column.minimum is not None else -MAX_NUMBER
    high = column.maximum if column.maximum is not None else MAX_NUMBER
    if number < low or number > high:
        number = float(min(max(number, low), high))
        reason = "clamped"
    if column.integer:
        whole = round(number)
        if whole != number and reason is None:
            reason = "rounded"
        return whole, reason
    return (int(number) if number.is_integer() and isinstance(value, int) else number), reason


def sanitize_row(
    spec: TableSpec, raw: Mapping[str, Any], *, version: int, record_id: str
) -> tuple[dict[str, Any], list[Correction]]:
    """The writable columns of a pushed row known to schema ``version``, sanitized.

    Unknown columns, local bookkeeping (``_status``/``_changed``), server-owned columns and
    columns newer than the client's schema are dropped; missing ones are left out.
    """
    values: dict[str, Any] = {}
    corrections: list[Correction] = []
    for column in spec.columns_at(version):
        if not column.writable or column.name not in raw:
            continue
        value, reason = sanitize_value(column, raw[column.name])
        values[column.name] = value
        if reason is not None:
            corrections.append(Correction(spec.name, record_id, column.name, reason))
    return values, corrections


def serialize_row(spec: TableSpec, record_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A full raw row for the client: every column, typed, defaults for missing values.

    Extra columns of newer schema versions are sent too (older clients drop them).
    """
    row: dict[str, Any] = {"id": record_id}
    for column in spec.columns:
        value = data.get(column.name)
        if value is None:
            row[column.name] = column.default
            continue
        if column.type is ColumnType.BOOLEAN:
            row[column.name] = bool(value)
        elif column.type is ColumnType.NUMBER:
            number = float(value) if not isinstance(value, int | float) else value
            row[column.name] = number if math.isfinite(number) else column.default
        else:
            row[column.name] = str(value)
    return row


def is_default(column: Column, value: Any) -> bool:
    """Whether ``value`` is what a client that never saw the column would hold."""
    return value is None or value == column.default
