"""Reactions to catalog events: offers create stock items, withdrawals stop sales."""

from __future__ import annotations

from okada.contracts.base import IntegrationEvent
from okada.contracts.catalog.v1 import PriceChanged, ProductRemoved, ProductUpserted
from okada.services.inventory.application.model import ProductStatus
from okada.services.inventory.application.ports import InventoryUnitOfWork
from okada.services.inventory.application.publishing import publish_level_change
from okada.services.inventory.domain.stock import StockItem

CONSUMER = "inventory"

HANDLED: dict[str, type[IntegrationEvent]] = {
    PriceChanged.schema_name: PriceChanged,
    ProductRemoved.schema_name: ProductRemoved,
    ProductUpserted.schema_name: ProductUpserted,
}


async def on_catalog_event(event: IntegrationEvent, uow: InventoryUnitOfWork) -> None:
    """Apply one catalog event inside the consumer's unit of work (inbox already claimed).

    Business rules:
        - ``PriceChanged`` (an offer was created, repriced, listed or delisted): a new offer
          gets a stock item with nothing on hand; an existing item takes the ``listed`` flag.
          Offer versions not newer than the one applied are ignored.
        - ``ProductRemoved`` marks every item of the product unsellable (reservations are
          refused, levels are kept); ``ProductUpserted`` that is not deleted makes them
          sellable again. Product versions not newer than the one applied are ignored, and a
          withdrawal that arrives before the offer still applies to the item created later.
    """
    if isinstance(event, PriceChanged):
        await _on_offer(event, uow)
    elif isinstance(event, ProductRemoved | ProductUpserted):
        await _on_product(event, uow, removed=isinstance(event, ProductRemoved)
                          or event.state.deleted)


async def _on_offer(event: PriceChanged, uow: InventoryUnitOfWork) -> None:
    offer = event.state
    applied = await uow.stock.offer_version(offer.store_id, offer.product_id)
    if applied is None:
        status = await uow.catalog.product_status(offer.product_id)
        item = StockItem(
            store_id=offer.store_id,
            product_id=offer.product_id,
            on_hand=0,
            reserved=0,
            listed=offer.listed,
            removed=status.removed if status is not None else False,
        )
        if await uow.stock.add(item, offer_version=event.version):
            publish_level_change(uow, item, reason="created", before_available=0)
            return
        applied = await uow.stock.offer_version(offer.store_id, offer.product_id)
    if applied is not None and event.version > applied:
        await uow.stock.set_listing(
            offer.store_id, offer.product_id, listed=offer.listed, offer_version=event.version
        )


async def _on_product(
    event: ProductRemoved | ProductUpserted, uow: InventoryUnitOfWork, *, removed: bool
) -> None:
    current = await uow.catalog.product_status(event.entity_id)
    if current is not None and event.version <= current.version:
        return
    await uow.catalog.save_product_status(
        ProductStatus(product_id=event.entity_id, version=event.version, removed=removed)
    )
    await uow.stock.set_removed(event.entity_id, removed)
