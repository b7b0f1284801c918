"""Inventory settings: ``INVENTORY_*`` first, then ``OKADA_*``."""

from __future__ import annotations

from okada.infra.settings import PlatformSettings


class InventorySettings(PlatformSettings):
    """Reservation hold times and the expiry sweeper's pace."""

    reservation_default_ttl_seconds: int = 900
    reservation_max_ttl_seconds: int = 1800
    reservation_max_hold_seconds: int = 3600
    sweep_interval_seconds: float = 1.0
    sweep_batch_size: int = 200
