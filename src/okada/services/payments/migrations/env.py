"""Alembic environment of the payments service."""

from okada.infra.db.migrations import run_env
from okada.services.payments.adapters.orm import metadata

run_env(metadata)
