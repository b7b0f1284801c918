"""Alembic environment of the delivery service."""

from okada.infra.db.migrations import run_env
from okada.services.delivery.adapters.orm import metadata

run_env(metadata)
