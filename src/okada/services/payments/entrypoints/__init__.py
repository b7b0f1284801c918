"""Payments entrypoints."""
