"""Shared technical adapters with no business knowledge."""
