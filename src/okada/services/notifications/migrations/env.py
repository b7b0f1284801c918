"""Alembic environment of the notifications service."""

from okada.infra.db.migrations import run_env
from okada.services.notifications.adapters.orm import metadata

run_env(metadata)
