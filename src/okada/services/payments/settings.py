"""Payments settings: ``PAYMENTS_*`` first, then ``OKADA_*``.

Provider base URLs left empty mean "the in-process simulators" (embedded mode and tests):
calls then go through the service directory's ``simulators`` client under
``/_sim/mtn-momo`` and ``/_sim/orange-money``. Keys, passwords and the Orange Money
merchant PIN are secrets (``SecretStr``): they come from configuration only and are never
logged. The defaults are the simulators' sandbox credentials; production sets
``PAYMENTS_MOMO_TARGET_ENVIRONMENT=mtncameroon`` and ``PAYMENTS_MOMO_CURRENCY=XAF``.
"""

from __future__ import annotations

from pydantic import SecretStr

from okada.infra.settings import PlatformSettings


class PaymentsSettings(PlatformSettings):
    """Payment window, reconciliation pace, provider access and limits."""

    payment_window_seconds: int = 600
    check_schedule_seconds: tuple[float, ...] | None = None
    """Back-off between status queries; default MoMo's advice (first poll at 15 s) when
    distributed, quicker first polls in embedded mode where the simulator answers at once."""
    late_check_seconds: float = 900.0
    late_checks: int = 3
    poll_interval_seconds: float = 1.0
    poll_batch_size: int = 200
    poll_concurrency: int = 10
    provider_timeout_seconds: float = 10.0
    callback_budget_seconds: float = 1.5
    max_provider_body_bytes: int = 65_536
    payer_request_limit: int = 5
    payer_request_window_seconds: int = 600
    rider_float_limit_xaf: int = 50_000
    commission_bps: int = 1000
    """Platform commission on the goods part of an order, in basis points (1000 = 10 %)."""
    rider_delivery_share_bps: int = 8000
    """The rider's share of the delivery fee; the rest is platform delivery revenue."""
    momo_fee_bps: int = 100
    """MTN MoMo's collection fee (expense against its clearing account)."""
    orange_fee_bps: int = 150
    """Orange Money's collection fee."""
    callback_base_url: str | None = None
    """Public base URL the providers call back (defaults to ``public_base_url``)."""

    momo_base_url: str | None = None
    momo_target_environment: str = "sandbox"
    momo_currency: str = "EUR"  # the MoMo sandbox (and its simulator) only take EUR
    momo_api_user: str = "5f1b2c1e-7d3a-4c55-9a43-2d5e1c6b7a10"
    momo_api_key: SecretStr = SecretStr("sim-momo-api-key")
    momo_collection_key: SecretStr = SecretStr("sim-collection-key")
    momo_disbursement_key: SecretStr = SecretStr("sim-disbursement-key")

    orange_base_url: str | None = None
    orange_username: str = "sim-om-user"
    orange_password: SecretStr = SecretStr("sim-om-password")
    orange_x_auth_token: SecretStr = SecretStr("sim-om-x-auth-token")
    orange_channel_msisdn: str = "699999999"
    orange_pin: SecretStr = SecretStr("2222")
