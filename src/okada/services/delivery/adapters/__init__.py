"""Delivery adapters layer."""
