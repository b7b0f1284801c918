"""Composition root of the orders service."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from okada.contracts.base import IntegrationEvent
from okada.infra.db.uow import idempotent_consumer
from okada.infra.hosting import HostContext, ServiceRuntime, Subscription, service_store
from okada.infra.http.app import create_service_app
from okada.infra.http.idempotency import IdempotencyOptions
from okada.infra.i18n import register_catalog_dir
from okada.services.orders.adapters.clients import HttpDelivery, HttpInventory
from okada.services.orders.adapters.orm import metadata
from okada.services.orders.adapters.repositories import OrdersUoW, rebuild_projections
from okada.services.orders.application.checkout import CheckoutLimits, CheckoutService
from okada.services.orders.application.commands import OrderCommands
from okada.services.orders.application.reactions import CONSUMER, HANDLED, Reactions
from okada.services.orders.application.saga import SagaRunner
from okada.services.orders.entrypoints.api import install_problem_details, make_router
from okada.services.orders.entrypoints.workers import run_saga
from okada.services.orders.settings import OrdersSettings

NAME = "orders"


async def build(ctx: HostContext) -> ServiceRuntime:
    """Wire the orders service for the host's mode."""
    register_catalog_dir(Path(__file__).parent / "locales")
    settings = ctx.settings_for(NAME, OrdersSettings)
    store = service_store(ctx, NAME, metadata)
    uow_kwargs = store.uow_kwargs(ctx.clock)

    def uow_factory() -> OrdersUoW:
        return OrdersUoW(snapshot_every=settings.snapshot_every, **uow_kwargs)

    def headers() -> dict[str, str]:
        return ctx.service_principal_header(NAME)

    inventory = HttpInventory(lambda: ctx.directory.client("inventory"), headers,
                              settings.inventory_timeout_seconds)
    delivery = HttpDelivery(lambda: ctx.directory.client("delivery"), headers,
                            settings.delivery_quote_timeout_seconds)
    limits = CheckoutLimits(
        max_line_quantity=settings.max_line_quantity,
        max_lines=settings.max_lines,
        max_unpaid_orders=settings.max_unpaid_orders,
        flat_delivery_fee_xaf=settings.flat_delivery_fee_xaf,
        flat_eta_minutes=settings.flat_eta_minutes,
        payment_window_seconds=settings.payment_window_seconds,
        payment_grace_seconds=settings.payment_grace_seconds,
        mobile_money_hold_seconds=settings.mobile_money_hold_seconds,
        cash_hold_seconds=settings.cash_hold_seconds,
    )
    checkout = CheckoutService(uow_factory=uow_factory, clock=ctx.clock, inventory=inventory,
                               delivery=delivery, limits=limits)
    commands = OrderCommands(uow_factory=uow_factory, clock=ctx.clock, limits=limits)
    saga = SagaRunner(uow_factory=uow_factory, clock=ctx.clock, inventory=inventory,
                      limits=limits, batch_size=settings.saga_batch_size,
                      max_backoff_seconds=settings.saga_max_backoff_seconds)
    reactions = Reactions(clock=ctx.clock, limits=limits)

    async def rebuild(truncate: bool = True) -> int:
        """Rebuild (or, without truncate, replay) the read models from the event store."""
        async with uow_factory() as uow:
            applied = await rebuild_projections(uow, truncate=truncate)
            await uow.commit()
        return applied

    idempotency = IdempotencyOptions(store.engine, store.tables["idempotency_keys"], ctx.clock,
                                     required_paths=(r"/v1/orders",))
    app = create_service_app(
        service=NAME,
        routers=[make_router(checkout, commands)],
        resolver=ctx.principal_resolver(),
        readiness=store.readiness(ctx),
        max_body_bytes=settings.max_body_bytes,
        description="Orders: checkout, the event-sourced order lifecycle and its saga.",
        extra_state={"checkout": checkout, "commands": commands, "saga": saga,
                     "inventory": inventory, "limits": limits,
                     "uow_factory": uow_factory, "rebuild_projections": rebuild},
        idempotency=idempotency,
    )
    install_problem_details(app)

    async def handle(event: IntegrationEvent, uow: OrdersUoW) -> None:
        await reactions.handle(event, uow)

    return ServiceRuntime(
        name=NAME,
        app=app,
        metadata=metadata,
        migrations=Path(__file__).parent / "migrations",
        subscriptions=[
            Subscription(
                consumer=CONSUMER,
                schemas=sorted(HANDLED),
                handler=idempotent_consumer(CONSUMER, uow_factory, handle, dict(HANDLED)),
            )
        ],
        workers=[
            store.relay.run,
            partial(run_saga, saga, interval_seconds=settings.saga_interval_seconds),
            idempotency.reaper,
        ],
        dead_letter=store.record_dead_letter,
    )
