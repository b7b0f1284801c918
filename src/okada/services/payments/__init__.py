"""Payments: MTN MoMo and Orange Money collection, refunds, rider cash, double-entry ledger."""

from pathlib import Path

from okada.infra.hosting import ServiceSpec
from okada.services.payments.bootstrap import build

service = ServiceSpec(
    name="payments", build=build, migrations=Path(__file__).parent / "migrations"
)
