"""Composition root of the delivery service."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from functools import partial
from pathlib import Path

from okada.contracts.base import IntegrationEvent
from okada.infra.db.uow import idempotent_consumer
from okada.infra.hosting import HostContext, ServiceRuntime, Subscription, service_store
from okada.infra.http.app import create_service_app
from okada.infra.http.idempotency import IdempotencyOptions
from okada.infra.i18n import register_catalog_dir
from okada.infra.settings import Mode
from okada.kernel.clock import Clock
from okada.services.delivery.adapters.gazetteer_file import read_gazetteer
from okada.services.delivery.adapters.geoindex import MemoryGeoIndex, RedisGeoIndex
from okada.services.delivery.adapters.identity_places import IdentityPlaces
from okada.services.delivery.adapters.orm import metadata
from okada.services.delivery.adapters.ping_writer import PgPingWriter
from okada.services.delivery.adapters.repositories import DeliveryUoW
from okada.services.delivery.application.clienttime import ClientTimePolicy
from okada.services.delivery.application.consumers import CONSUMER, HANDLED, EventHandlers
from okada.services.delivery.application.deliveries import DeliveryService, LifecyclePolicy
from okada.services.delivery.application.dispatch import DispatchPolicy, DispatchService
from okada.services.delivery.application.geocoding import GeoService, QuoteService
from okada.services.delivery.application.places import PlaceCorrectionService
from okada.services.delivery.application.ports import DeliveryUnitOfWork, GeoIndex, PingWriter
from okada.services.delivery.application.riders import RiderService
from okada.services.delivery.domain.gazetteer import Gazetteer
from okada.services.delivery.domain.pricing import FeeRules, SpeedTable
from okada.services.delivery.entrypoints.api import Services, make_router
from okada.services.delivery.entrypoints.workers import run_dispatcher, run_place_corrections
from okada.services.delivery.settings import DeliverySettings

NAME = "delivery"


def make_geo_index(ctx: HostContext, settings: DeliverySettings) -> GeoIndex:
    """Redis GEO when distributed (or asked for), memory when embedded."""
    kind = settings.geo_index
    if kind == "redis" or (kind == "auto" and ctx.mode is Mode.DISTRIBUTED):
        return RedisGeoIndex(settings.redis_url, key=f"{settings.redis_prefix}delivery:geo:free")
    return MemoryGeoIndex()


def assemble(
    *, uow_factory: Callable[[], DeliveryUnitOfWork], clock: Clock, index: GeoIndex,
    gazetteer: Gazetteer, settings: DeliverySettings, ping_writer: PingWriter | None = None,
) -> tuple[Services, EventHandlers]:
    """The application services and event handlers, wired from settings."""
    speeds = SpeedTable(peak_kmh=settings.speed_peak_kmh, day_kmh=settings.speed_day_kmh,
                        night_kmh=settings.speed_night_kmh, road_factor=settings.road_factor)
    fees = FeeRules(base_xaf=settings.fee_base_xaf, per_km_xaf=settings.fee_per_km_xaf,
                    rounding_xaf=settings.fee_rounding_xaf,
                    zone_surcharges_xaf=dict(settings.zone_surcharges_xaf),
                    surge_xaf=settings.surge_xaf, max_xaf=settings.fee_max_xaf)
    times = ClientTimePolicy(
        max_age=dt.timedelta(hours=settings.client_time_max_age_hours),
        future_skew=dt.timedelta(seconds=settings.client_time_future_skew_seconds),
    )
    geo = GeoService(gazetteer)
    quotes = QuoteService(
        uow_factory=uow_factory, clock=clock, geo=geo, index=index, fees=fees,
        speeds=speeds, default_radius_m=settings.default_radius_m,
        surge_radius_m=settings.surge_radius_m, surge_min_riders=settings.surge_min_riders,
        default_rider_distance_m=settings.default_rider_distance_m,
        store_cache_ttl=dt.timedelta(seconds=settings.quote_store_cache_seconds),
    )
    riders = RiderService(
        uow_factory=uow_factory, clock=clock, index=index, times=times,
        stale_after=dt.timedelta(seconds=settings.rider_stale_after_seconds),
        ping_writer=ping_writer,
    )
    dispatch = DispatchService(
        uow_factory=uow_factory, clock=clock, index=index,
        policy=DispatchPolicy(
            search_radius_m=settings.search_radius_m,
            candidate_limit=settings.candidate_limit,
            rotation_bucket_m=settings.rotation_bucket_m,
            offer_timeout=dt.timedelta(seconds=settings.offer_timeout_seconds),
            offer_fanout=settings.offer_fanout,
            retry_after=dt.timedelta(seconds=settings.dispatch_retry_seconds),
            reoffer_after=dt.timedelta(seconds=settings.reoffer_after_seconds),
            default_float_limit_xaf=settings.default_float_limit_xaf,
            batch_size=settings.dispatch_batch_size,
        ),
    )
    deliveries = DeliveryService(
        uow_factory=uow_factory, clock=clock, index=index, geo=geo, quotes=quotes,
        speeds=speeds, times=times,
        policy=LifecyclePolicy(
            pickup_requires_ready=settings.pickup_requires_ready,
            pin_max_attempts=settings.pin_max_attempts,
            dispatch_lead=dt.timedelta(minutes=settings.dispatch_lead_minutes),
        ),
    )
    services = Services(geo=geo, quotes=quotes, riders=riders, dispatch=dispatch,
                        deliveries=deliveries, sse_poll_seconds=settings.sse_poll_seconds,
                        sse_max_seconds=settings.sse_max_seconds)
    return services, EventHandlers(deliveries=deliveries, index=index, clock=clock)


async def build(ctx: HostContext) -> ServiceRuntime:
    """Wire the delivery service for the host's mode."""
    register_catalog_dir(Path(__file__).parent / "locales")
    settings = ctx.settings_for(NAME, DeliverySettings)
    store = service_store(ctx, NAME, metadata)
    uow_kwargs = store.uow_kwargs(ctx.clock)

    def uow_factory() -> DeliveryUoW:
        return DeliveryUoW(**uow_kwargs)

    gazetteer = await asyncio.to_thread(read_gazetteer)
    index = make_geo_index(ctx, settings)
    ping_writer = (PgPingWriter(store.engine) if store.engine.dialect.name == "postgresql"
                   else None)
    services, handlers = assemble(uow_factory=uow_factory, clock=ctx.clock, index=index,
                                  gazetteer=gazetteer, settings=settings,
                                  ping_writer=ping_writer)
    dispatch = services.dispatch
    corrections = PlaceCorrectionService(
        uow_factory=uow_factory, clock=ctx.clock,
        places=IdentityPlaces(lambda: ctx.directory.client("identity"), ctx.codec),
        max_attempts=settings.place_correction_max_attempts,
    )
    idempotency = IdempotencyOptions(store.engine, store.tables["idempotency_keys"], ctx.clock)
    app = create_service_app(
        service=NAME,
        routers=[make_router(services)],
        resolver=ctx.principal_resolver(),
        readiness=store.readiness(ctx),
        max_body_bytes=settings.max_body_bytes,
        description="Addresses and geocoding, quotes, riders, dispatch and live tracking.",
        extra_state={"services": services, "geo_index": index},
        idempotency=idempotency,
    )
    async def handle(event: IntegrationEvent, uow: DeliveryUoW) -> None:
        await handlers(event, uow)

    async def close_index() -> None:
        if isinstance(index, RedisGeoIndex):
            await index.aclose()

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
            partial(run_dispatcher, dispatch, services.riders,
                    interval_seconds=settings.dispatch_interval_seconds),
            partial(run_place_corrections, corrections,
                    interval_seconds=settings.place_correction_interval_seconds),
            idempotency.reaper,
        ],
        dead_letter=store.record_dead_letter,
        on_stop=[close_index],
    )
