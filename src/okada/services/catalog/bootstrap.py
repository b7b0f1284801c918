"""Composition root of the catalog service."""

from __future__ import annotations

from pathlib import Path

import orjson

from okada.infra.db.uow import idempotent_consumer
from okada.infra.hosting import HostContext, ServiceRuntime, Subscription, service_store
from okada.infra.http.app import create_service_app
from okada.infra.http.idempotency import IdempotencyOptions
from okada.infra.i18n import register_catalog_dir
from okada.services.catalog.adapters.orm import metadata
from okada.services.catalog.adapters.reader import SqlaCatalogReader
from okada.services.catalog.adapters.repositories import CatalogUoW
from okada.services.catalog.application.admin import CatalogAdmin
from okada.services.catalog.application.offers_csv import OfferImporter
from okada.services.catalog.application.queries import CatalogQueries
from okada.services.catalog.application.seed import seed_catalog
from okada.services.catalog.application.stock import (
    CONSUMER,
    STOCK_EVENTS,
    on_stock_level_changed,
)
from okada.services.catalog.entrypoints.api import make_router
from okada.services.catalog.entrypoints.merchant import make_merchant_router
from okada.services.catalog.settings import CatalogSettings

NAME = "catalog"
HERE = Path(__file__).parent
SEED_FILE = HERE / "seed" / "catalog.json"


async def build(ctx: HostContext) -> ServiceRuntime:
    """Wire the catalog service for the host's mode."""
    register_catalog_dir(HERE / "locales")
    settings = ctx.settings_for(NAME, CatalogSettings)
    store = service_store(ctx, NAME, metadata)
    uow_kwargs = store.uow_kwargs(ctx.clock)

    def uow_factory() -> CatalogUoW:
        return CatalogUoW(**uow_kwargs)

    reader = SqlaCatalogReader(store.engine)
    queries = CatalogQueries(reader=reader, clock=ctx.clock)
    admin = CatalogAdmin(uow_factory=uow_factory)
    importer = OfferImporter(uow_factory=uow_factory, reader=reader)

    async def seed() -> int:
        return await seed_catalog(orjson.loads(SEED_FILE.read_bytes()), uow_factory=uow_factory)

    idempotency = IdempotencyOptions(store.engine, store.tables["idempotency_keys"], ctx.clock)
    app = create_service_app(
        service=NAME,
        routers=[make_router(queries), make_merchant_router(admin, importer, queries)],
        resolver=ctx.principal_resolver(),
        readiness=store.readiness(ctx),
        max_body_bytes=settings.max_body_bytes,
        description="Stores, categories, products and XAF prices; merchant management.",
        extra_state={"queries": queries, "admin": admin, "uow_factory": uow_factory},
        idempotency=idempotency,
    )
    stock_handler = idempotent_consumer(CONSUMER, uow_factory, on_stock_level_changed, STOCK_EVENTS)
    return ServiceRuntime(
        name=NAME,
        app=app,
        metadata=metadata,
        migrations=HERE / "migrations",
        subscriptions=[
            Subscription(consumer=CONSUMER, schemas=list(STOCK_EVENTS), handler=stock_handler)
        ],
        workers=[store.relay.run, idempotency.reaper],
        dead_letter=store.record_dead_letter,
        seed=seed,
    )
