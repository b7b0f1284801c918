"""Notifications adapters."""
