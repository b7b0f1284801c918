"""Inventory use cases: reservations, stock levels and adjustments, catalog events, expiry."""
