"""Delivery entrypoints layer."""
