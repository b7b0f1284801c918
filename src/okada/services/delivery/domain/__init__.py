"""Delivery domain layer."""
