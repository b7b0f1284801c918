"""Okada quick-commerce backend."""
