"""Which events empty the gateway's cached public pages."""

from __future__ import annotations

from okada.gateway.caching import invalidating_schemas


def test_availability_changes_invalidate_but_reservations_do_not() -> None:
    schemas = set(invalidating_schemas())
    assert {"catalog.v1.PriceChanged", "catalog.v1.StoreUpdated"} <= schemas
    assert {"inventory.v1.StockLevelChanged", "inventory.v1.LowStock"} <= schemas
    # A checkout's hold changes no page; invalidating on it emptied the store's cache per order.
    reservations = {
        "inventory.v1.StockReserved",
        "inventory.v1.StockShortage",
        "inventory.v1.ReservationConfirmed",
        "inventory.v1.ReservationReleased",
    }
    assert not schemas & reservations
