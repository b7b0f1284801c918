"""Availability from inventory: ``inventory.v1.StockLevelChanged`` sets an offer's
``in_stock``."""

from __future__ import annotations

from okada.contracts.base import IntegrationEvent
from okada.contracts.inventory.v1 import StockLevelChanged
from okada.services.catalog.application.model import StockLevel
from okada.services.catalog.application.ports import CatalogUnitOfWork

CONSUMER = "catalog"
STOCK_EVENTS: dict[str, type[IntegrationEvent]] = {StockLevelChanged.schema_name: StockLevelChanged}


async def on_stock_level_changed(event: IntegrationEvent, uow: CatalogUnitOfWork) -> None:
    """Record inventory's stock level of a (store, product) and flip the offer's ``in_stock``.

    Business rules: an item is in stock when inventory says ``available > 0``; an item
    inventory never reported counts as in stock (a new product is sold before its first
    count, and inventory corrects it on the first reservation). Only an event whose version
    is newer than the stored one is applied, so duplicates and late, out-of-order
    deliveries change nothing. The level is kept even when the store does not offer the
    product yet, so a later offer starts with the right availability. Only a flip of
    ``in_stock`` stamps the offer for the delta feed (stock moves on every order; the feed
    only shows availability).

    Args:
        event: A ``StockLevelChanged`` (other events are ignored).
        uow: The consumer's unit of work; the caller commits it.
    """
    if not isinstance(event, StockLevelChanged):
        return
    state = event.state
    level = StockLevel(
        store_id=state.store_id,
        product_id=state.product_id,
        available=max(0, state.available),
        version=event.version,
    )
    if not await uow.stock.put_if_newer(level):
        return  # a duplicate or an older level than the one held
    offer = await uow.offers.get(state.store_id, state.product_id)
    if offer is not None and offer.in_stock != level.in_stock:
        seq = await uow.change_seq()
        await uow.offers.set_in_stock(state.store_id, state.product_id, level.in_stock, seq=seq)
