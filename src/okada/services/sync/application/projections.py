"""Read models of the synced tables, built only from integration events.

Every handler runs in the consumer's unit of work (the inbox claim is already taken) and
ignores events whose version is not newer than the one it holds. A change to a synced row
draws a seq from the change counter, so devices receive it on their next pull; a row that
would not change is left alone (no needless echo).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from okada.contracts.base import IntegrationEvent
from okada.contracts.catalog.v1 import PriceChanged, ProductRemoved, ProductUpserted, StoreUpdated
from okada.contracts.delivery.v1 import (
    DeliveryCompleted,
    DeliveryEvent,
    DeliveryFailed,
    DeliveryPickedUp,
    RiderArriving,
    RiderAssigned,
    RiderAtStore,
)
from okada.contracts.identity.v1 import PlaceChanged
from okada.contracts.inventory.v1 import StockLevelChanged
from okada.contracts.notifications.v1 import InboxItemChanged
from okada.contracts.orders import v1 as orders_v1
from okada.services.sync.application.ports import (
    StoreInfo,
    SyncUnitOfWork,
    store_scope,
    user_scope,
)

CONSUMER = "sync"

_ORDER_EVENTS: list[type[IntegrationEvent]] = [
    orders_v1.OrderPlaced, orders_v1.OrderConfirmed, orders_v1.OrderAccepted,
    orders_v1.OrderPreparing, orders_v1.OrderReady, orders_v1.OrderPickedUp,
    orders_v1.OrderDelivered, orders_v1.OrderCancelled, orders_v1.OrderExpired,
    orders_v1.OrderDeliveryFailed, orders_v1.OrderAmended,
]
_DELIVERY_EVENTS: list[type[IntegrationEvent]] = [
    RiderAssigned, RiderAtStore, DeliveryPickedUp, RiderArriving, DeliveryCompleted,
    DeliveryFailed,
]

_OTHER_EVENTS: list[type[IntegrationEvent]] = [
    StoreUpdated, ProductUpserted, ProductRemoved, PriceChanged, StockLevelChanged,
    PlaceChanged, InboxItemChanged,
]
HANDLED: dict[str, type[IntegrationEvent]] = {
    cls.schema_name: cls for cls in [*_OTHER_EVENTS, *_ORDER_EVENTS, *_DELIVERY_EVENTS]
}


def epoch_ms(moment: dt.datetime | None) -> int | None:
    """A time as WatermelonDB columns hold it."""
    return None if moment is None else int(moment.timestamp() * 1000)


async def on_event(event: IntegrationEvent, uow: SyncUnitOfWork) -> None:
    """Apply one integration event to the read models."""
    if isinstance(event, StoreUpdated):
        s = event.state
        await uow.catalog.save_store(
            StoreInfo(event.entity_id, s.name, s.lat, s.lng, s.status, s.deleted), event.version)
    elif isinstance(event, ProductUpserted | ProductRemoved):
        state = event.state.model_dump(mode="json")
        if isinstance(event, ProductRemoved):
            state["deleted"] = True
        if await uow.catalog.save_product(event.entity_id, event.version, state):
            for store in await uow.catalog.stores_offering(event.entity_id):
                await refresh_product(uow, store, event.entity_id)
    elif isinstance(event, PriceChanged):
        o = event.state
        if await uow.catalog.save_offer(o.store_id, o.product_id, event.version, o.price_xaf,
                                        o.listed):
            await refresh_product(uow, o.store_id, o.product_id)
    elif isinstance(event, StockLevelChanged):
        st = event.state
        if await uow.catalog.save_stock(st.store_id, st.product_id, event.version, st.available):
            await refresh_product(uow, st.store_id, st.product_id)
    elif isinstance(event, PlaceChanged):
        await _on_place(event, uow)
    elif isinstance(event, InboxItemChanged):
        n = event.state
        await _save(uow, "notifications", user_scope(n.user_id), str(event.entity_id),
                    event.version, {"title": n.title, "body": n.body, "kind": n.kind,
                                    "order_id": str(n.order_id) if n.order_id else None,
                                    "read": n.read, "sent_at": epoch_ms(n.sent_at)})
    elif isinstance(event, orders_v1.OrderEvent):
        order = event.state
        await _save(uow, "orders", user_scope(order.customer_id), str(event.entity_id),
                    event.version, {"store_id": str(order.store_id), "status": order.status,
                                    "total": order.total_xaf, "payable": order.payable_xaf,
                                    "payment_method": order.payment.method,
                                    "placed_at": epoch_ms(order.placed_at),
                                    "eta_at": epoch_ms(order.eta_at)})
    elif isinstance(event, DeliveryEvent):
        await _on_delivery(event, uow)


async def _save(uow: SyncUnitOfWork, table: str, scope: str, record_id: str, version: int,
                data: Mapping[str, Any]) -> bool:
    existing = await uow.records.get(table, scope, record_id)
    if existing is not None and (existing.source_version or 0) >= version:
        return False
    if (table == "notifications" and existing is None
            and await uow.records.tombstone_seq(table, scope, record_id) is not None):
        return False  # the user removed it from their inbox; later changes stay away
    await uow.records.upsert(table, scope, record_id, data, seq=await uow.records.next_seq(),
                             client_id=None, source_version=version)
    return True


async def _on_place(event: PlaceChanged, uow: SyncUnitOfWork) -> None:
    p = event.state
    scope = user_scope(p.user_id)
    linked = await uow.links.record_for_place(event.entity_id)
    record_id = linked[1] if linked else str(event.entity_id)
    existing = await uow.records.get("places", scope, record_id)
    if existing is not None and (existing.source_version or 0) >= event.version:
        return
    if p.deleted:
        if existing is not None:
            await uow.records.delete("places", scope, record_id,
                                     seq=await uow.records.next_seq())
        return
    data = {"label": p.label, "city": p.city, "quartier": p.quartier, "landmark": p.landmark,
            "directions": p.directions, "lat": p.lat, "lng": p.lng, "plus_code": p.plus_code,
            "contact_phone": p.contact_phone, "is_default": p.is_default,
            "place_id": str(event.entity_id)}
    if existing is None and await uow.records.tombstone_seq("places", scope, record_id):
        return  # deleted here after this version was made; identity's deletion follows
    await uow.records.upsert("places", scope, record_id, data,
                             seq=await uow.records.next_seq(),
                             client_id=existing.created_by_client if existing else None,
                             source_version=event.version)


async def _on_delivery(event: DeliveryEvent, uow: SyncUnitOfWork) -> None:
    """A delivery is synced to its assigned rider; a reassignment deletes it from the former
    rider's device (a revocation is a deletion)."""
    d = event.state
    record_id = str(event.entity_id)
    rows = [r for s in await uow.records.scopes_of("deliveries", record_id)
            if (r := await uow.records.get("deliveries", s, record_id)) is not None]
    if any((r.source_version or 0) >= event.version for r in rows):
        return
    target = user_scope(d.rider_id) if d.rider_id else None
    for row in rows:
        if row.scope != target:
            await uow.records.delete("deliveries", row.scope, record_id,
                                     seq=await uow.records.next_seq())
    if target is None:
        return
    await uow.records.upsert("deliveries", target, record_id, {
        "order_id": str(d.order_id), "status": d.status, "store_name": d.store_name,
        "store_lat": d.store_lat, "store_lng": d.store_lng, "drop_lat": d.drop_lat,
        "drop_lng": d.drop_lng, "drop_landmark": d.drop_landmark,
        "customer_phone_masked": d.customer_phone_masked,
        "cash_to_collect": d.cash_to_collect_xaf,
    }, seq=await uow.records.next_seq(), client_id=None, source_version=event.version)


async def refresh_product(uow: SyncUnitOfWork, store_id: uuid.UUID,
                          product_id: uuid.UUID) -> None:
    """Recompute the products row of (store, product) from the catalog read model.

    Business rule: a product is on the device while the store lists it and the catalog has
    not withdrawn it; ``in_stock`` is inventory's available quantity above zero (unknown
    stock counts as out of stock). Names and units are kept in French and English and sent
    in the caller's language.
    """
    scope = store_scope(store_id)
    record_id = str(product_id)
    offer = await uow.catalog.offer(store_id, product_id)
    product = await uow.catalog.product(product_id)
    existing = await uow.records.get("products", scope, record_id)
    visible = (offer is not None and offer[2] and product is not None
               and not product[1].get("deleted"))
    if not visible or offer is None or product is None:
        if existing is not None:
            await uow.records.delete("products", scope, record_id,
                                     seq=await uow.records.next_seq())
        return
    state = product[1]
    images = state.get("images") or []
    available = await uow.catalog.available(store_id, product_id)
    data = {
        "store_id": str(store_id),
        "category_id": str(state.get("category_id")),
        "name_fr": state["name"]["fr"], "name_en": state["name"]["en"],
        "unit_fr": state["unit"]["fr"], "unit_en": state["unit"]["en"],
        "price": offer[1],
        "image_url": images[0]["url"] if images else None,
        "in_stock": bool(available and available > 0),
    }
    if existing is not None and dict(existing.data) == data:
        return
    await uow.records.upsert("products", scope, record_id, data,
                             seq=await uow.records.next_seq(), client_id=None)
