"""Alembic environment of the catalog service."""

from okada.infra.db.migrations import run_env
from okada.services.catalog.adapters.orm import metadata

run_env(metadata)
