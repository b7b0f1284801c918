"""Sync settings: ``SYNC_*`` first, then ``OKADA_*``."""

from __future__ import annotations

from okada.infra.settings import PlatformSettings


class SyncSettings(PlatformSettings):
    """Protocol limits, tombstone retention and upload limits."""

    sync_page_size: int = 500
    sync_max_push_records: int = 1000
    sync_max_push_bytes: int = 5 * 1024 * 1024
    tombstone_retention_days: float = 90.0
    retention_interval_seconds: float = 3600.0
    upload_max_bytes: int = 10 * 1024 * 1024
    upload_expires_hours: float = 24.0
    upload_sweep_interval_seconds: float = 60.0
