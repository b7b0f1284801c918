"""Contracts published by the catalog service."""
