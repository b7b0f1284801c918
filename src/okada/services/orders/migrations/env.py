"""Alembic environment of the orders service."""

from okada.infra.db.migrations import run_env
from okada.services.orders.adapters.orm import metadata

run_env(metadata)
