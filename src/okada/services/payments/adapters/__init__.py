"""Payments adapters."""
