"""Delivery application layer."""
