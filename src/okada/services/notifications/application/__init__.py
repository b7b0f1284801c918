"""Notifications application."""
