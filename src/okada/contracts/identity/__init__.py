"""Contracts published by the identity service."""
