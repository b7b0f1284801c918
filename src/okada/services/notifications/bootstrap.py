"""Composition root of the notifications service."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import httpx

from okada.contracts.base import IntegrationEvent
from okada.infra.db.uow import idempotent_consumer
from okada.infra.hosting import HostContext, ServiceRuntime, Subscription, service_store
from okada.infra.http.app import create_service_app
from okada.infra.i18n import register_catalog_dir
from okada.kernel.messages import Envelope
from okada.services.notifications.adapters.fcm_auth import (
    ServiceAccount,
    ServiceAccountTokens,
    StaticToken,
)
from okada.services.notifications.adapters.orm import metadata
from okada.services.notifications.adapters.push import FcmPushGateway
from okada.services.notifications.adapters.repositories import NotificationsUoW
from okada.services.notifications.adapters.sms import HttpSmsGateway
from okada.services.notifications.application.dispatch import Dispatcher
from okada.services.notifications.application.events import CONSUMER, HANDLED, EventRouter
from okada.services.notifications.application.services import (
    DeviceService,
    InboxService,
    NotificationAdmin,
    OtpSender,
)
from okada.services.notifications.domain.policy import DeliveryPolicy
from okada.services.notifications.entrypoints.api import make_router
from okada.services.notifications.entrypoints.workers import Wakeup, run_dispatcher
from okada.services.notifications.settings import NotificationsSettings

NAME = "notifications"


def policy_from(settings: NotificationsSettings) -> DeliveryPolicy:
    """The delivery policy as configured."""
    return DeliveryPolicy(
        receipt_window_seconds=settings.push_receipt_window_seconds,
        quiet_start_hour=settings.quiet_start_hour,
        quiet_end_hour=settings.quiet_end_hour,
        hourly_cap=settings.hourly_cap,
        max_attempts=settings.max_attempts,
        failover_after=settings.failover_after,
        backoff_base_seconds=settings.backoff_base_seconds,
        backoff_max_seconds=settings.backoff_max_seconds,
        sms_receipt_delay_seconds=settings.sms_receipt_delay_seconds,
        sms_receipt_checks=settings.sms_receipt_checks,
    )


async def build(ctx: HostContext) -> ServiceRuntime:
    """Wire the notifications service for the host's mode."""
    register_catalog_dir(Path(__file__).parent / "locales")
    settings = ctx.settings_for(NAME, NotificationsSettings)
    store = service_store(ctx, NAME, metadata)
    uow_kwargs = store.uow_kwargs(ctx.clock)

    def uow_factory() -> NotificationsUoW:
        return NotificationsUoW(**uow_kwargs)

    timeout = httpx.Timeout(settings.provider_timeout_seconds, connect=3.0)
    owned_clients: list[httpx.AsyncClient] = []
    if settings.fcm_base_url:
        push_client = httpx.AsyncClient(base_url=settings.fcm_base_url, timeout=timeout)
        owned_clients.append(push_client)
    else:
        push_client = ctx.directory.client(settings.push_provider)
    tokens: StaticToken | ServiceAccountTokens = StaticToken(settings.fcm_access_token)
    if settings.fcm_service_account_json is not None:
        account = ServiceAccount.from_json(settings.fcm_service_account_json.get_secret_value())
        if settings.fcm_base_url:
            oauth_client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
            owned_clients.append(oauth_client)
        else:
            oauth_client = push_client  # the simulator also plays Google's token endpoint
        tokens = ServiceAccountTokens(
            account, oauth_client, timeout=settings.provider_timeout_seconds
        )
    push = FcmPushGateway(
        push_client,
        path_prefix="" if settings.fcm_base_url else settings.push_path_prefix,
        project_id=settings.fcm_project_id,
        tokens=tokens,
        timeout=settings.provider_timeout_seconds,
    )
    sms = [
        HttpSmsGateway(
            ctx.directory.client(settings.sms_primary_service),
            name=settings.sms_primary_name,
            send_path=settings.sms_primary_send_path,
            status_path=settings.sms_primary_status_path,
            sender_id=settings.sms_sender_id,
            timeout=settings.provider_timeout_seconds,
        ),
        HttpSmsGateway(
            ctx.directory.client(settings.sms_backup_service),
            name=settings.sms_backup_name,
            send_path=settings.sms_backup_send_path,
            status_path=settings.sms_backup_status_path,
            sender_id=settings.sms_sender_id,
            timeout=settings.provider_timeout_seconds,
        ),
    ]
    policy = policy_from(settings)
    dispatcher = Dispatcher(
        uow_factory=uow_factory,
        clock=ctx.clock,
        policy=policy,
        push=push,
        sms=sms,
        batch_size=settings.dispatch_batch_size,
    )
    router = EventRouter(clock=ctx.clock, policy=policy)
    inbox = InboxService(uow_factory=uow_factory)
    devices = DeviceService(uow_factory=uow_factory, clock=ctx.clock)
    admin = NotificationAdmin(uow_factory=uow_factory, dispatcher=dispatcher)
    otp = OtpSender(uow_factory=uow_factory, clock=ctx.clock, dispatcher=dispatcher)
    wakeup = Wakeup()
    app = create_service_app(
        service=NAME,
        routers=[make_router(inbox, devices, admin, otp)],
        resolver=ctx.principal_resolver(),
        readiness=store.readiness(ctx),
        max_body_bytes=settings.max_body_bytes,
        description="Push with SMS fallback, in-app inbox, in French and English.",
        extra_state={"dispatcher": dispatcher, "devices": devices, "inbox": inbox},
    )

    async def handle(event: IntegrationEvent, uow: NotificationsUoW) -> None:
        await router.handle(event, uow)

    consume = idempotent_consumer(CONSUMER, uow_factory, handle, dict(HANDLED))

    async def consume_and_wake(envelope: Envelope) -> None:
        await consume(envelope)
        wakeup.wake()

    async def close_clients() -> None:
        for client in owned_clients:
            await client.aclose()

    workers = [store.relay.run]
    if settings.dispatch_worker_enabled:
        workers.append(
            partial(run_dispatcher, dispatcher, wakeup, interval=settings.dispatch_interval_seconds)
        )
    return ServiceRuntime(
        name=NAME,
        app=app,
        metadata=metadata,
        migrations=Path(__file__).parent / "migrations",
        subscriptions=[
            Subscription(consumer=CONSUMER, schemas=sorted(HANDLED), handler=consume_and_wake)
        ],
        workers=workers,
        dead_letter=store.record_dead_letter,
        on_stop=[close_clients],
    )
