"""Payments application."""
