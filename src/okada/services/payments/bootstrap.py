"""Composition root of the payments service."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import httpx

from okada.infra.hosting import HostContext, ServiceRuntime, Subscription, service_store
from okada.infra.http.app import create_service_app
from okada.infra.http.idempotency import IdempotencyOptions
from okada.infra.i18n import register_catalog_dir
from okada.infra.settings import Mode
from okada.services.payments.adapters.orm import metadata
from okada.services.payments.adapters.providers import (
    MomoCredentials,
    MomoGateway,
    OrangeCredentials,
    OrangeGateway,
    ProviderHttp,
)
from okada.services.payments.adapters.repositories import PaymentsUoW
from okada.services.payments.application.payments import PaymentPolicy, PaymentService
from okada.services.payments.application.ports import ProviderGateway
from okada.services.payments.domain.attempts import Provider
from okada.services.payments.domain.ledger import SplitRates
from okada.services.payments.entrypoints.api import make_router
from okada.services.payments.entrypoints.consumers import CONSUMER, HANDLED, make_handler
from okada.services.payments.entrypoints.workers import run_poller
from okada.services.payments.settings import PaymentsSettings

NAME = "payments"
PROVIDER_SCHEDULE = (15.0, 15.0, 30.0, 60.0, 60.0, 120.0)
"""MTN's advice: first status query ~15 s after the request, then back off."""
EMBEDDED_SCHEDULE = (2.0, 5.0, 15.0, 30.0, 60.0, 120.0)
"""The in-process simulators answer at once: lost callbacks are noticed within seconds."""
REMITTANCES = r"^/v1/admin/payments/riders/[^/]+/remittances$"
PAYOUT_BATCHES = r"^/v1/admin/payments/payout-batches$"
SWITCHES = r"^/v1/payments/orders/[^/]+/switch$"


def provider_http(ctx: HostContext, settings: PaymentsSettings, provider: str,
                  base_url: str | None, sim_prefix: str,
                  owned: list[httpx.AsyncClient]) -> ProviderHttp:
    """The provider's real host when configured, else the simulators (in process if hosted)."""
    timeout = httpx.Timeout(settings.provider_timeout_seconds,
                            connect=min(3.0, settings.provider_timeout_seconds))
    if base_url:
        client = httpx.AsyncClient(base_url=base_url, timeout=timeout, follow_redirects=False,
                                   trust_env=False)
        owned.append(client)
        prefix = ""
    else:
        client = ctx.directory.client("simulators")
        prefix = sim_prefix
    return ProviderHttp(client, prefix, provider=provider,
                        timeout_seconds=settings.provider_timeout_seconds,
                        max_body_bytes=settings.max_provider_body_bytes)


async def build(ctx: HostContext) -> ServiceRuntime:
    """Wire the payments service for the host's mode."""
    register_catalog_dir(Path(__file__).parent / "locales")
    settings = ctx.settings_for(NAME, PaymentsSettings)
    store = service_store(ctx, NAME, metadata)
    uow_kwargs = store.uow_kwargs(ctx.clock)

    def uow_factory() -> PaymentsUoW:
        return PaymentsUoW(**uow_kwargs)

    owned: list[httpx.AsyncClient] = []
    gateways: dict[Provider, ProviderGateway] = {
        Provider.MTN_MOMO: MomoGateway(
            provider_http(ctx, settings, "mtn_momo", settings.momo_base_url,
                          "/_sim/mtn-momo", owned),
            MomoCredentials(
                api_user=settings.momo_api_user,
                api_key=settings.momo_api_key.get_secret_value(),
                collection_key=settings.momo_collection_key.get_secret_value(),
                disbursement_key=settings.momo_disbursement_key.get_secret_value(),
                target_environment=settings.momo_target_environment,
                currency=settings.momo_currency,
            ),
            ctx.clock,
        ),
        Provider.ORANGE_MONEY: OrangeGateway(
            provider_http(ctx, settings, "orange_money", settings.orange_base_url,
                          "/_sim/orange-money", owned),
            OrangeCredentials(
                username=settings.orange_username,
                password=settings.orange_password.get_secret_value(),
                x_auth_token=settings.orange_x_auth_token.get_secret_value(),
                channel_msisdn=settings.orange_channel_msisdn,
                pin=settings.orange_pin.get_secret_value(),
            ),
            ctx.clock,
        ),
    }
    policy = PaymentPolicy(
        window_seconds=settings.payment_window_seconds,
        check_schedule=tuple(settings.check_schedule_seconds or (
            EMBEDDED_SCHEDULE if ctx.mode is Mode.EMBEDDED else PROVIDER_SCHEDULE)),
        late_check_seconds=settings.late_check_seconds,
        late_checks=settings.late_checks,
        payer_limit=settings.payer_request_limit,
        payer_window_seconds=settings.payer_request_window_seconds,
        float_limit_xaf=settings.rider_float_limit_xaf,
        callback_budget_seconds=settings.callback_budget_seconds,
        check_concurrency=settings.poll_concurrency,
        currencies={"mtn_momo": settings.momo_currency, "orange_money": "XAF"},
        callback_base_url=settings.callback_base_url or settings.public_base_url,
        rates=SplitRates(commission_bps=settings.commission_bps,
                         rider_share_bps=settings.rider_delivery_share_bps,
                         fee_bps=(("mtn_momo", settings.momo_fee_bps),
                                  ("orange_money", settings.orange_fee_bps))),
    )
    service = PaymentService(uow_factory=uow_factory, gateways=gateways, clock=ctx.clock,
                             policy=policy)
    idempotency = IdempotencyOptions(store.engine, store.tables["idempotency_keys"], ctx.clock,
                                     required_paths=(REMITTANCES, PAYOUT_BATCHES, SWITCHES))
    app = create_service_app(
        service=NAME,
        routers=[make_router(service)],
        resolver=ctx.principal_resolver(),
        readiness=store.readiness(ctx),
        max_body_bytes=settings.max_body_bytes,
        description="Mobile-money collection (MTN MoMo, Orange Money), refunds, rider cash "
                    "and the double-entry ledger.",
        extra_state={"payments": service},
        idempotency=idempotency,
    )

    async def close_clients() -> None:
        await service.aclose()
        for client in owned:
            await client.aclose()

    return ServiceRuntime(
        name=NAME,
        app=app,
        metadata=metadata,
        migrations=Path(__file__).parent / "migrations",
        subscriptions=[
            Subscription(consumer=CONSUMER, schemas=sorted(HANDLED),
                         handler=make_handler(service, uow_factory))
        ],
        workers=[
            store.relay.run,
            partial(run_poller, service, interval_seconds=settings.poll_interval_seconds,
                    batch_size=settings.poll_batch_size),
            idempotency.reaper,
        ],
        dead_letter=store.record_dead_letter,
        on_stop=[close_clients],
    )
