"""Inventory settings: ``INVENTORY_*`` first, then ``OKADA_*``."""

from __future__ import annotations

from typing import Literal

from okada.infra.settings import PlatformSettings


class InventorySettings(PlatformSettings):
    """Reservation hold times and the expiry sweeper's pace."""

    reservation_default_ttl_seconds: int = 900
    reservation_max_ttl_seconds: int = 1800
    reservation_max_hold_seconds: int = 3600
    sweep_interval_seconds: float = 1.0
    sweep_batch_size: int = 200
    # "availability": order-flow changes (holds, confirmations, releases, expiries) publish
    # StockLevelChanged only when an item's availability crosses zero or its low-stock
    # threshold (what consumers show); "every": one event per touched item per change.
    stock_level_events: Literal["availability", "every"] = "availability"
