"""Alembic environment of the inventory service."""

from okada.infra.db.migrations import run_env
from okada.services.inventory.adapters.orm import metadata

run_env(metadata)
