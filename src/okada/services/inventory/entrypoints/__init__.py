"""Inventory entrypoints: the HTTP API and the expiry sweeper loop."""
