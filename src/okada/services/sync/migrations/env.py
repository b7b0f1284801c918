"""Alembic environment of the sync service."""

from okada.infra.db.migrations import run_env
from okada.services.sync.adapters.orm import metadata

run_env(metadata)
