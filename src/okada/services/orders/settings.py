"""Orders settings: ``ORDERS_*`` first, then ``OKADA_*``."""

from __future__ import annotations

from okada.infra.settings import PlatformSettings


class OrdersSettings(PlatformSettings):
    """Checkout limits, fees, hold times, the saga worker's pace and the event store."""

    max_line_quantity: int = 50
    max_lines: int = 100
    max_unpaid_orders: int = 3
    flat_delivery_fee_xaf: int = 1000
    flat_eta_minutes: int = 45
    delivery_quote_timeout_seconds: float = 1.5
    inventory_timeout_seconds: float = 5.0
    # Mobile money: payments owns a 10 min window; orders expires unpaid orders itself after
    # the window plus this grace (backstop), and holds stock a little longer than both.
    payment_window_seconds: int = 600
    payment_grace_seconds: int = 120
    mobile_money_hold_seconds: int = 900
    # Cash: held as long as inventory allows one request; extended once the order is confirmed.
    cash_hold_seconds: int = 1800
    snapshot_every: int = 10
    saga_interval_seconds: float = 1.0
    saga_batch_size: int = 100
    saga_max_backoff_seconds: float = 300.0
