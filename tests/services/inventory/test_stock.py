"""Adjustments with their audit trail, catalog events, seeding, transient-failure retries."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import pytest

from okada.contracts.base import IntegrationEvent
from okada.contracts.catalog.v1 import (
    OfferState,
    PriceChanged,
    ProductRemoved,
    ProductState,
    ProductUpserted,
    Text,
    offer_id,
)
from okada.infra.db.uow import idempotent_consumer
from okada.kernel.errors import Unavailable
from okada.kernel.messages import Envelope
from okada.services.inventory.adapters.seed import read_seed
from okada.services.inventory.application.catalog import CONSUMER, HANDLED, on_catalog_event
from okada.services.inventory.application.errors import (
    ProductNotOffered,
    StockItemNotFound,
    TransientConflict,
)
from okada.services.inventory.application.reservations import ReserveBasket
from okada.services.inventory.application.retry import with_retries
from okada.services.inventory.application.stock import AdjustStock
from okada.services.inventory.domain.errors import InvalidQuantity, StockBelowReserved
from okada.services.inventory.domain.stock import AdjustmentKind
from tests.services.inventory.conftest import Inventory


def _adjust(inv: Inventory, product: uuid.UUID, kind: str, quantity: int,
            actor: uuid.UUID, note: str | None = None) -> AdjustStock:
    return AdjustStock(store_id=inv.store_id, product_id=product, kind=AdjustmentKind(kind),
                       quantity=quantity, actor_id=actor, note=note)


async def test_adjustments_keep_an_audit_trail_and_never_go_below_reserved(
    inv: Inventory,
) -> None:
    # given 10 units of which 4 are reserved for an order
    actor = uuid.uuid4()
    product = await inv.add_item(10, threshold=3)
    await inv.reservations.reserve(ReserveBasket(order_id=uuid.uuid4(), store_id=inv.store_id,
                                                 lines=[(product, 4)]))

    # when staff receive 5, find 2 damaged, take 1 return, then count 7 on the shelf
    for kind, quantity in (("receipt", 5), ("damage", 2), ("return", 1), ("count", 7)):
        inv.clock.advance(seconds=1)
        await inv.stock.adjust(_adjust(inv, product, kind, quantity, actor, note=f"{kind}!"))

    # then every change is in the trail, newest first, with before and after
    page = await inv.stock.adjustments(inv.store_id, product_id=None, before=None, limit=3)
    rest = await inv.stock.adjustments(inv.store_id, product_id=product,
                                       before=page.next_after, limit=3)
    trail = [*page.items, *rest.items]
    assert rest.next_after is None
    assert [(r.kind.value, r.quantity, r.delta, r.on_hand_before, r.on_hand_after, r.reserved)
            for r in trail] == [
        ("count", 7, -7, 14, 7, 4), ("return", 1, 1, 13, 14, 4),
        ("damage", 2, -2, 15, 13, 4), ("receipt", 5, 5, 10, 15, 4)]
    assert {r.actor_id for r in trail} == {actor}
    assert trail[0].note == "count!"
    assert [t.created_at for t in trail] == sorted((t.created_at for t in trail), reverse=True)
    assert await inv.levels(product) == (7, 4)

    # and a count or damage that would leave less than the reserved 4 is refused
    with pytest.raises(StockBelowReserved):
        await inv.stock.adjust(_adjust(inv, product, "count", 3, actor))
    with pytest.raises(StockBelowReserved):
        await inv.stock.adjust(_adjust(inv, product, "damage", 4, actor))
    with pytest.raises(InvalidQuantity):
        await inv.stock.adjust(_adjust(inv, product, "receipt", 0, actor))
    with pytest.raises(StockItemNotFound):
        await inv.stock.adjust(_adjust(inv, uuid.uuid4(), "receipt", 1, actor))
    assert await inv.levels(product) == (7, 4)
    levels = await inv.outbox("inventory.v1.StockLevelChanged")
    assert [e["reason"] for e in levels] == ["reservation", "receipt", "damage", "return", "count"]
    low = await inv.outbox("inventory.v1.LowStock")
    assert [e["state"]["available"] for e in low] == [3]  # only the crossing: 6 -> 3


async def test_an_adjustment_racing_reservations_never_overwrites_them(inv: Inventory) -> None:
    import asyncio

    product = await inv.add_item(100)
    actor = uuid.uuid4()
    orders = [ReserveBasket(order_id=uuid.uuid4(), store_id=inv.store_id, lines=[(product, 1)])
              for _ in range(20)]

    await asyncio.gather(*(inv.reservations.reserve(o) for o in orders),
                         *(inv.stock.adjust(_adjust(inv, product, "receipt", 1, actor))
                           for _ in range(5)))

    assert await inv.levels(product) == (105, 20)


def _offer(store: uuid.UUID, product: uuid.UUID, version: int, listed: bool) -> Envelope:
    event = PriceChanged(entity_id=offer_id(store, product), version=version,
                         state=OfferState(store_id=store, product_id=product, price_xaf=500,
                                          listed=listed))
    return Envelope(schema=event.schema_name, payload=event.to_payload(), producer="catalog")


def _product(product: uuid.UUID, version: int, *, removed: bool) -> Envelope:
    state = ProductState(sku="SKU-1", category_id=uuid.uuid4(), name=Text(fr="Riz", en="Rice"),
                         description=None, brand=None, unit=Text(fr="1 kg", en="1 kg"),
                         barcode=None, images=[], tags=[], sold_by_weight=False,
                         deleted=removed)
    cls: type[IntegrationEvent] = ProductRemoved if removed else ProductUpserted
    event = cls(entity_id=product, version=version, state=state)
    return Envelope(schema=event.schema_name, payload=event.to_payload(), producer="catalog")


async def test_catalog_events_create_list_delist_and_withdraw_items(inv: Inventory) -> None:
    consume = idempotent_consumer(CONSUMER, inv.uow, on_catalog_event, HANDLED)
    store, product, late = inv.store_id, uuid.uuid4(), uuid.uuid4()

    async def reserve(p: uuid.UUID) -> None:
        await inv.reservations.reserve(
            ReserveBasket(order_id=uuid.uuid4(), store_id=store, lines=[(p, 1)]))

    # a new offer creates an item with nothing on hand; a duplicate delivery changes nothing
    first = _offer(store, product, 1, listed=True)
    await consume(first)
    await consume(first)
    assert await inv.levels(product) == (0, 0)
    created = await inv.outbox("inventory.v1.StockLevelChanged")
    assert [(e["reason"], e["version"]) for e in created] == [("created", 1)]
    await inv.stock.adjust(_adjust(inv, product, "receipt", 5, uuid.uuid4()))

    # delisting at version 3 stops sales; the late version 2 (listed) is ignored
    await consume(_offer(store, product, 3, listed=False))
    await consume(_offer(store, product, 2, listed=True))
    with pytest.raises(ProductNotOffered) as refused:
        await reserve(product)
    assert refused.value.lines[0].reason == "not_listed"
    await consume(_offer(store, product, 4, listed=True))
    await reserve(product)

    # the product withdrawn from the catalog: unsellable; a stale upsert does not revive it
    await consume(_product(product, 7, removed=True))
    await consume(_product(product, 6, removed=False))
    with pytest.raises(ProductNotOffered) as withdrawn:
        await reserve(product)
    assert withdrawn.value.lines[0].reason == "removed"
    await consume(_product(product, 8, removed=False))
    await reserve(product)
    assert await inv.levels(product) == (5, 2)

    # a withdrawal that arrives before the offer still applies to the item created later
    await consume(_product(late, 2, removed=True))
    await consume(_offer(store, late, 1, listed=True))
    async with inv.uow() as uow:
        item = (await uow.stock.get_many(store, [late]))[late]
    assert item.removed and not item.sellable


async def test_seed_fills_an_empty_table_only(inv: Inventory, tmp_path: Path) -> None:
    store, a, b = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    path = tmp_path / "stock.json"
    path.write_bytes(orjson.dumps([
        {"store_id": str(store), "product_id": str(a), "on_hand": 12, "low_stock_threshold": 3},
        {"store_id": str(store), "product_id": str(b), "on_hand": 0, "low_stock_threshold": 5},
    ]))
    rows = read_seed(path)

    assert await inv.stock.seed(rows) == 2
    assert await inv.stock.seed(rows) == 0
    levels = await inv.stock.levels(store, [b, a, uuid.uuid4()])
    assert [(i.product_id, i.on_hand, i.low_stock_threshold, i.sellable) for i in levels] == [
        (b, 0, 5, True), (a, 12, 3, True)]
    assert read_seed(tmp_path / "absent.json") == []


async def test_transient_failures_are_retried_three_times_then_503() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise TransientConflict()
        return "done"

    assert await with_retries(flaky) == "done"
    assert calls == 4

    async def always() -> str:
        raise TransientConflict()

    with pytest.raises(Unavailable):
        await with_retries(always)
