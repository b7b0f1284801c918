"""Catalog: stores and their delivery areas, the category tree, products and XAF prices."""

from pathlib import Path

from okada.infra.hosting import ServiceSpec
from okada.services.catalog.bootstrap import build

service = ServiceSpec(name="catalog", build=build, migrations=Path(__file__).parent / "migrations")
