"""Contracts published by the inventory service."""
