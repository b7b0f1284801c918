"""Inventory: stock per dark store, basket reservations with expiry, merchant adjustments."""

from pathlib import Path

from okada.infra.hosting import ServiceSpec
from okada.services.inventory.bootstrap import build

service = ServiceSpec(
    name="inventory", build=build, migrations=Path(__file__).parent / "migrations"
)
