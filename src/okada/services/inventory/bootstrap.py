"""Composition root of the inventory service."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path

from okada.contracts.base import IntegrationEvent
from okada.infra.db.uow import idempotent_consumer
from okada.infra.hosting import HostContext, ServiceRuntime, Subscription, service_store
from okada.infra.http.app import create_service_app
from okada.infra.http.idempotency import IdempotencyOptions
from okada.infra.i18n import register_catalog_dir
from okada.services.inventory.adapters.orm import metadata
from okada.services.inventory.adapters.repositories import InventoryUoW
from okada.services.inventory.adapters.seed import read_seed
from okada.services.inventory.application.catalog import CONSUMER, HANDLED, on_catalog_event
from okada.services.inventory.application.reservations import ExpirySweeper, ReservationService
from okada.services.inventory.application.stock import StockService
from okada.services.inventory.domain.reservation import ReservationPolicy
from okada.services.inventory.entrypoints.api import install_problem_details, make_router
from okada.services.inventory.entrypoints.workers import run_sweeper
from okada.services.inventory.settings import InventorySettings

NAME = "inventory"


async def build(ctx: HostContext) -> ServiceRuntime:
    """Wire the inventory service for the host's mode."""
    register_catalog_dir(Path(__file__).parent / "locales")
    settings = ctx.settings_for(NAME, InventorySettings)
    store = service_store(ctx, NAME, metadata)
    uow_kwargs = store.uow_kwargs(ctx.clock)

    def uow_factory() -> InventoryUoW:
        return InventoryUoW(**uow_kwargs)

    policy = ReservationPolicy(
        default_ttl_seconds=settings.reservation_default_ttl_seconds,
        max_ttl_seconds=settings.reservation_max_ttl_seconds,
        max_hold_seconds=settings.reservation_max_hold_seconds,
    )
    quiet_levels = settings.stock_level_events == "availability"
    reservations = ReservationService(uow_factory=uow_factory, clock=ctx.clock, policy=policy,
                                      quiet_levels=quiet_levels)
    stock = StockService(uow_factory=uow_factory, clock=ctx.clock)
    sweeper = ExpirySweeper(
        uow_factory=uow_factory, clock=ctx.clock, batch_size=settings.sweep_batch_size,
        quiet_levels=quiet_levels,
    )
    idempotency = IdempotencyOptions(store.engine, store.tables["idempotency_keys"], ctx.clock)
    app = create_service_app(
        service=NAME,
        routers=[make_router(reservations, stock)],
        resolver=ctx.principal_resolver(),
        readiness=store.readiness(ctx),
        max_body_bytes=settings.max_body_bytes,
        description="Stock per dark store, basket reservations and merchant adjustments.",
        extra_state={"reservations": reservations, "stock": stock, "sweeper": sweeper},
        idempotency=idempotency,
    )
    install_problem_details(app)

    async def handle(event: IntegrationEvent, uow: InventoryUoW) -> None:
        await on_catalog_event(event, uow)

    async def seed() -> int:
        return await stock.seed(await asyncio.to_thread(read_seed))

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
            partial(run_sweeper, sweeper, interval_seconds=settings.sweep_interval_seconds),
            idempotency.reaper,
        ],
        dead_letter=store.record_dead_letter,
        seed=seed,
    )
