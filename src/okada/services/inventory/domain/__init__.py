"""Inventory domain: stock items and basket reservations, pure Python."""
