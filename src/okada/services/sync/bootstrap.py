"""Composition root of the sync service."""

from __future__ import annotations

import datetime as dt
from functools import partial
from pathlib import Path

from okada.contracts.base import IntegrationEvent
from okada.infra.db.uow import idempotent_consumer
from okada.infra.hosting import HostContext, ServiceRuntime, Subscription, service_store
from okada.infra.http.app import create_service_app
from okada.infra.http.idempotency import IdempotencyOptions
from okada.infra.i18n import register_catalog_dir
from okada.services.sync.adapters.files import DiskBlobStore
from okada.services.sync.adapters.orm import metadata
from okada.services.sync.adapters.owners import HttpOwnerCommands
from okada.services.sync.adapters.repositories import SyncUoW
from okada.services.sync.application.ports import OwnerCommands
from okada.services.sync.application.projections import CONSUMER, HANDLED, on_event
from okada.services.sync.application.sync import SyncPolicy, SyncService
from okada.services.sync.application.uploads import UploadPolicy, UploadService
from okada.services.sync.domain.schema import MOBILE_SCHEMA, Registry
from okada.services.sync.entrypoints.api import install_problem_details, make_router
from okada.services.sync.entrypoints.tus import make_tus_router
from okada.services.sync.entrypoints.workers import retention_cutoff, run_periodic
from okada.services.sync.settings import SyncSettings

NAME = "sync"


async def build(ctx: HostContext) -> ServiceRuntime:
    """Wire the sync service for the host's mode.

    Tests may put ``sync.registry`` (a newer mobile schema) and ``sync.owners`` (fake owning
    services) in ``ctx.overrides``.
    """
    register_catalog_dir(Path(__file__).parent / "locales")
    registry: Registry = ctx.overrides.get("sync.registry", MOBILE_SCHEMA)
    owners: OwnerCommands = ctx.overrides.get("sync.owners") or HttpOwnerCommands(
        ctx.directory, ctx.codec)
    settings = ctx.settings_for(NAME, SyncSettings)
    store = service_store(ctx, NAME, metadata)
    uow_kwargs = store.uow_kwargs(ctx.clock)

    def uow_factory() -> SyncUoW:
        return SyncUoW(**uow_kwargs)

    sync = SyncService(
        uow_factory=uow_factory, registry=registry, owners=owners, clock=ctx.clock,
        policy=SyncPolicy(page_size=settings.sync_page_size,
                          max_push_records=settings.sync_max_push_records),
        cache=ctx.cache)
    blobs = DiskBlobStore(Path(settings.data_dir) / NAME / "uploads")
    uploads = UploadService(
        uow_factory=uow_factory, blobs=blobs, clock=ctx.clock,
        policy=UploadPolicy(max_bytes=settings.upload_max_bytes,
                            expires_after=dt.timedelta(hours=settings.upload_expires_hours)))
    idempotency = IdempotencyOptions(store.engine, store.tables["idempotency_keys"], ctx.clock)
    app = create_service_app(
        service=NAME,
        routers=[make_router(sync, max_push_bytes=settings.sync_max_push_bytes),
                 make_tus_router(uploads, blobs)],
        resolver=ctx.principal_resolver(),
        readiness=store.readiness(ctx),
        max_body_bytes=max(settings.sync_max_push_bytes, settings.upload_max_bytes + 65536),
        description="WatermelonDB sync of the customer and rider apps; tus uploads.",
        extra_state={"sync": sync, "uploads": uploads, "uow_factory": uow_factory},
        idempotency=idempotency,
    )
    install_problem_details(app)

    async def handle(event: IntegrationEvent, uow: SyncUoW) -> None:
        await on_event(event, uow)

    async def purge() -> int:
        cutoff = retention_cutoff(ctx.clock.now(), settings.tombstone_retention_days)
        return await sync.purge_tombstones(cutoff)

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
            partial(run_periodic, "tombstones_purged", purge,
                    interval_seconds=settings.retention_interval_seconds),
            partial(run_periodic, "uploads_expired", uploads.expire,
                    interval_seconds=settings.upload_sweep_interval_seconds),
            idempotency.reaper,
        ],
        dead_letter=store.record_dead_letter,
    )
