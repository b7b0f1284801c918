"""Notifications entrypoints."""
