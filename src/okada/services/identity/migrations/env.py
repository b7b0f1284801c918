"""Alembic environment of the identity service."""

from okada.infra.db.migrations import run_env
from okada.services.identity.adapters.orm import metadata

run_env(metadata)
