"""Integration events of the sync service."""
