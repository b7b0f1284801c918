"""Delivery settings: ``DELIVERY_*`` first, then ``OKADA_*``."""

from __future__ import annotations

from okada.infra.settings import PlatformSettings


class DeliverySettings(PlatformSettings):
    """Fees (whole XAF), speeds, dispatch pace, ping limits and tracking stream bounds."""

    # Fees
    fee_base_xaf: int = 500
    fee_per_km_xaf: int = 100
    fee_rounding_xaf: int = 50
    fee_max_xaf: int = 5000
    zone_surcharges_xaf: dict[str, int] = {
        "japoma": 300, "yassa": 300, "pk14": 300, "logbessou": 200, "sodiko": 200,
        "odza": 200, "olembe": 200, "nkolbisson": 200, "simbock": 200,
    }
    """Surcharge by normalised quartier name (far or hard-to-reach quartiers)."""
    surge_xaf: int = 300
    surge_radius_m: int = 3000
    surge_min_riders: int = 2
    """Fewer free riders than this within ``surge_radius_m`` of the store: surge fee."""
    default_radius_m: int = 6000
    """Delivery radius of a store that declares neither radius nor polygon."""
    # Motorbike speeds (km/h) by time of day, Africa/Douala
    speed_peak_kmh: float = 14.0
    speed_day_kmh: float = 20.0
    speed_night_kmh: float = 28.0
    road_factor: float = 1.35
    quote_store_cache_seconds: float = 5.0
    """How long a quote may use a store's replica without reading it again."""
    default_rider_distance_m: int = 2000
    """Assumed distance of the next rider when none is free near the store (ETA only)."""
    # Dispatch
    dispatch_interval_seconds: float = 1.0
    dispatch_batch_size: int = 100
    dispatch_lead_minutes: int = 5
    """Offer the job this long before the store expects the order ready."""
    dispatch_retry_seconds: int = 20
    search_radius_m: int = 5000
    candidate_limit: int = 30
    rotation_bucket_m: int = 500
    offer_timeout_seconds: int = 30
    reoffer_after_seconds: int = 300
    """A rider who let an offer of a job lapse or declined it is not offered it again sooner."""
    offer_fanout: int = 1
    """Riders offered a job at once; the first to accept wins (claims are atomic)."""
    default_float_limit_xaf: int = 50_000
    pickup_requires_ready: bool = True
    pin_max_attempts: int = 5
    rider_stale_after_seconds: int = 600
    """An on-shift rider silent this long (no ping) is set offline; a job before pickup is
    handed to another rider."""
    # Pings and client clocks
    ping_max_batch: int = 200
    client_time_max_age_hours: int = 24
    client_time_future_skew_seconds: int = 120
    # Rider-corrected drop points pushed to identity's saved places
    place_correction_interval_seconds: float = 5.0
    place_correction_max_attempts: int = 8
    # Tracking
    sse_poll_seconds: float = 1.0
    sse_max_seconds: float = 60.0
    # Live geo index: "memory", "redis" or "auto" (redis when distributed)
    geo_index: str = "auto"
