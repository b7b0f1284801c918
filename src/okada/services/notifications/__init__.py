"""Notifications: push with SMS fallback, in-app inbox, in French and English."""

from pathlib import Path

from okada.infra.hosting import ServiceSpec
from okada.services.notifications.bootstrap import build

service = ServiceSpec(
    name="notifications", build=build, migrations=Path(__file__).parent / "migrations"
)
