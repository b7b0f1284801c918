"""Delivery: Cameroonian addresses, zones and fees, riders, dispatch and live tracking."""

from pathlib import Path

from okada.infra.hosting import ServiceSpec
from okada.services.delivery.bootstrap import build

service = ServiceSpec(
    name="delivery", build=build, migrations=Path(__file__).parent / "migrations"
)
