"""Sync: WatermelonDB sync of the customer and rider apps, and tus resumable uploads."""

from pathlib import Path

from okada.infra.hosting import ServiceSpec
from okada.services.sync.bootstrap import build

service = ServiceSpec(name="sync", build=build, migrations=Path(__file__).parent / "migrations")
