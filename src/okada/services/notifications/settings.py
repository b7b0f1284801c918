"""Notifications settings: ``NOTIFICATIONS_*`` first, then ``OKADA_*``."""

from __future__ import annotations

from pydantic import SecretStr

from okada.infra.settings import PlatformSettings


class NotificationsSettings(PlatformSettings):
    """Providers, the fallback window, quiet hours, caps, retries and the dispatcher's pace."""

    # Push: FCM HTTP v1. Without ``fcm_base_url`` the directory's client of ``push_provider``
    # is used (the simulator, in process in embedded mode).
    push_provider: str = "simulators"
    push_path_prefix: str = "/_sim/push"
    fcm_base_url: str | None = None
    fcm_project_id: str = "okada-dev"
    fcm_access_token: str = "dev-oauth-token"  # noqa: S105 - the simulator accepts any bearer
    # Production: the JSON key file of a Google service account allowed to send with FCM;
    # access tokens are then minted from it (RFC 7523) and renewed before they expire.
    fcm_service_account_json: SecretStr | None = None
    # SMS: primary and backup providers (directory names and paths).
    sms_primary_name: str = "sim-sms"
    sms_primary_service: str = "simulators"
    sms_primary_send_path: str = "/_sim/sms/send"
    sms_primary_status_path: str = "/_sim/sms/messages/{id}"
    sms_backup_name: str = "sim-sms-backup"
    sms_backup_service: str = "simulators"
    sms_backup_send_path: str = "/_sim/sms-backup/send"
    sms_backup_status_path: str = "/_sim/sms-backup/messages/{id}"
    sms_sender_id: str = "OKADA"
    provider_timeout_seconds: float = 5.0
    # Policy.
    push_receipt_window_seconds: float = 60.0
    quiet_start_hour: int = 21
    quiet_end_hour: int = 7
    hourly_cap: int = 10
    max_attempts: int = 10
    failover_after: int = 2
    backoff_base_seconds: float = 5.0
    backoff_max_seconds: float = 300.0
    sms_receipt_delay_seconds: float = 10.0
    sms_receipt_checks: int = 5
    # Dispatcher.
    dispatch_interval_seconds: float = 1.0
    dispatch_batch_size: int = 50
    dispatch_worker_enabled: bool = True
