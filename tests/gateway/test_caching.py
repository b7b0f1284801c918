"""Response cache: hits, tags and invalidation by events, private requests, conditional GETs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from okada.gateway.caching import (
    CONSUMER,
    ResponseCache,
    cache_tags,
    gateway_cache_subscription,
    tags_for_event,
)
from okada.infra.bus.inprocess import InProcessBus
from okada.infra.bus.policy import FAST_TEST_POLICY
from okada.infra.cache.memory import MemoryCache
from okada.infra.cache.redis import RedisCache
from okada.kernel.messages import Envelope
from okada.kernel.ports import Cache
from tests.gateway.support import FakeUpstream, Reply, Seen, TokenIssuer, build_gateway, client_for
from tests.support.services import require_redis

STORE = "5f0c6d1e-0000-4000-8000-000000000001"
PRODUCTS = f"/v1/catalog/stores/{STORE}/products"


def catalog_upstream() -> FakeUpstream:
    counter = {"n": 0}

    def answer(seen: Seen) -> Reply:
        counter["n"] += 1
        return Reply(body={"data": [{"id": "p1", "name": "Riz 5 kg"}], "version": counter["n"]})

    return FakeUpstream(answer)


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    if request.param == "memory":
        yield MemoryCache()
        return
    require_redis()
    redis_cache = RedisCache("redis://127.0.0.1:6379/0", prefix=f"test:gw:{uuid.uuid4().hex}:")
    try:
        yield redis_cache
    finally:
        await redis_cache.aclose()


async def test_a_public_get_is_served_from_cache(cache: Cache) -> None:
    catalog = catalog_upstream()
    app = build_gateway({"catalog": catalog}, cache=cache)
    async with client_for(app) as client:
        first = await client.get(PRODUCTS, params={"limit": "12", "featured": "1"})
        # same query in another order: the same entry
        second = await client.get(PRODUCTS, params={"featured": "1", "limit": "12"})
    assert first.status_code == second.status_code == 200
    assert catalog.hits == 1
    assert first.headers["x-cache"] == "MISS"
    assert second.headers["x-cache"] == "HIT"
    assert second.json() == first.json()
    assert second.headers["etag"] == first.headers["etag"]
    assert "accept-language" in second.headers["vary"].lower()
    assert "accept-encoding" in second.headers["vary"].lower()


async def test_language_and_encoding_get_their_own_entries(cache: Cache) -> None:
    catalog = catalog_upstream()
    app = build_gateway({"catalog": catalog}, cache=cache)
    async with client_for(app) as client:
        await client.get(PRODUCTS, headers={"accept-language": "fr"})
        await client.get(PRODUCTS, headers={"accept-language": "en"})
        await client.get(PRODUCTS, headers={"accept-language": "en"})
    assert catalog.hits == 2


async def test_invalidating_a_store_tag_makes_the_next_get_miss(cache: Cache) -> None:
    catalog = catalog_upstream()
    app = build_gateway({"catalog": catalog}, cache=cache)
    responses: ResponseCache = app.state.responses
    async with client_for(app) as client:
        before = await client.get(PRODUCTS)
        await client.get("/v1/catalog/categories")
        await responses.invalidate([f"catalog:store:{STORE}"])
        after = await client.get(PRODUCTS)
        categories = await client.get("/v1/catalog/categories")
    assert after.headers["x-cache"] == "MISS"
    assert after.json()["version"] > before.json()["version"]
    # another store's change leaves unrelated entries alone
    assert categories.headers["x-cache"] == "HIT"
    assert catalog.hits == 3


async def test_a_product_update_event_invalidates_through_the_subscription(cache: Cache) -> None:
    catalog = catalog_upstream()
    app = build_gateway({"catalog": catalog}, cache=cache)
    bus = InProcessBus(FAST_TEST_POLICY)
    consumer, schemas, handler = gateway_cache_subscription(
        cache, schemas=["catalog.v1.PriceChanged"]
    )
    assert consumer == CONSUMER
    bus.subscribe(consumer, schemas, handler)
    await bus.start()
    try:
        async with client_for(app) as client:
            await client.get(PRODUCTS)
            assert (await client.get(PRODUCTS)).headers["x-cache"] == "HIT"
            event = Envelope(
                schema="catalog.v1.PriceChanged",
                producer="catalog",
                payload={
                    "entity_id": str(uuid.uuid4()),
                    "version": 2,
                    "state": {
                        "store_id": STORE,
                        "product_id": str(uuid.uuid4()),
                        "price_xaf": 4500,
                        "listed": True,
                    },
                    "previous_price_xaf": 4200,
                },
            )
            await bus.publish([event])  # resolves once every consumer applied it
            after = await client.get(PRODUCTS)
    finally:
        await bus.close()
    assert after.headers["x-cache"] == "MISS"
    assert catalog.hits == 2


async def test_requests_with_authorization_are_never_cached_or_served_from_cache(
    cache: Cache,
) -> None:
    catalog = catalog_upstream()
    issuer = TokenIssuer()
    app = build_gateway({"catalog": catalog}, issuer=issuer, cache=cache)
    async with client_for(app) as client:
        await client.get(PRODUCTS)  # fills the anonymous entry
        signed = [await client.get(PRODUCTS, headers=issuer.bearer()) for _ in range(2)]
        anonymous = await client.get(PRODUCTS)
    assert catalog.hits == 3
    assert all("x-cache" not in r.headers for r in signed)
    # the signed-in calls reached the upstream with a principal; the anonymous fill did not
    assert catalog.seen[1].header("x-okada-principal")
    assert not catalog.seen[0].header("x-okada-principal")
    assert anonymous.headers["x-cache"] == "HIT"


@pytest.mark.parametrize(
    "header",
    [("cache-control", "private, max-age=60"), ("cache-control", "no-store"),
     ("set-cookie", "session=abc"), ("vary", "Authorization")],
)
async def test_private_responses_are_not_stored(header: tuple[str, str]) -> None:
    catalog = FakeUpstream()
    catalog.default = Reply(headers=[header])
    app = build_gateway({"catalog": catalog})
    async with client_for(app) as client:
        await client.get("/v1/catalog/categories")
        second = await client.get("/v1/catalog/categories")
    assert catalog.hits == 2
    assert second.headers.get("x-cache") != "HIT"


async def test_errors_are_not_cached() -> None:
    catalog = FakeUpstream()
    catalog.default = Reply(status=404, body={"code": "not_found"})
    app = build_gateway({"catalog": catalog})
    async with client_for(app) as client:
        await client.get("/v1/catalog/products/nope")
        second = await client.get("/v1/catalog/products/nope")
    assert second.status_code == 404
    assert catalog.hits == 2


async def test_if_none_match_gets_a_304_from_the_cache(cache: Cache) -> None:
    catalog = catalog_upstream()
    app = build_gateway({"catalog": catalog}, cache=cache)
    async with client_for(app) as client:
        first = await client.get(PRODUCTS, headers={"accept-encoding": "br"})
        etag = first.headers["etag"]
        again = await client.get(
            PRODUCTS, headers={"if-none-match": etag, "accept-encoding": "br"}
        )
        other = await client.get(
            PRODUCTS, headers={"if-none-match": 'W/"other"', "accept-encoding": "br"}
        )
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert other.status_code == 200
    assert catalog.hits == 1
    # the client's validator was answered by the gateway, never sent upstream
    assert not catalog.seen[0].header("if-none-match")


async def test_the_upstreams_own_etag_is_kept() -> None:
    catalog = FakeUpstream()
    catalog.default = Reply(headers=[("etag", '"v7"')])
    app = build_gateway({"catalog": catalog})
    async with client_for(app) as client:
        plain = await client.get("/v1/catalog/categories", headers={"accept-encoding": "identity"})
        again = await client.get(
            "/v1/catalog/categories",
            headers={"accept-encoding": "identity", "if-none-match": '"v7"'},
        )
    assert plain.headers["etag"] == '"v7"'
    assert again.status_code == 304


async def test_the_cache_being_down_costs_hit_rate_not_availability() -> None:
    catalog = catalog_upstream()
    down = RedisCache("redis://127.0.0.1:1/0", socket_timeout=0.2)
    app = build_gateway({"catalog": catalog}, cache=down)
    try:
        async with client_for(app) as client:
            results = [await client.get(PRODUCTS) for _ in range(2)]
    finally:
        await down.aclose()
    assert [r.status_code for r in results] == [200, 200]
    assert catalog.hits == 2


def test_tags_come_from_the_path_and_the_event() -> None:
    assert cache_tags("catalog", f"/v1/catalog/stores/{STORE}/products", "") == [
        "catalog",
        f"catalog:store:{STORE}",
    ]
    assert cache_tags("catalog", "/v1/catalog/products/p9", "") == [
        "catalog",
        "catalog:product:p9",
    ]
    assert cache_tags("catalog", "/v1/catalog/categories", "") == ["catalog"]
    assert cache_tags("search", "/v1/search/products", f"q=riz&store_id={STORE}") == [
        "search",
        f"catalog:store:{STORE}",
    ]
    stock = _event("inventory.v1.StockLevelChanged", "o1", {"store_id": STORE, "product_id": "p9"})
    assert tags_for_event(stock) == [f"catalog:store:{STORE}", "catalog:product:p9"]
    price = _event("catalog.v1.PriceChanged", "o1", {"store_id": STORE, "product_id": "p9"})
    assert tags_for_event(price) == [f"catalog:store:{STORE}", "catalog:product:p9", "search"]
    product = _event("catalog.v1.ProductUpserted", "p9", {"sku": "RIZ-5"})
    assert tags_for_event(product) == ["catalog", "catalog:product:p9", "search"]
    store = _event("catalog.v1.StoreUpdated", STORE, {"status": "closed"})
    assert tags_for_event(store) == [f"catalog:store:{STORE}", "catalog", "search"]
    category = _event("catalog.v1.CategoryUpserted", "c1", {"slug": "boissons"})
    assert tags_for_event(category) == ["catalog", "search"]


def _event(schema: str, entity: str, state: dict[str, object]) -> Envelope:
    payload = {"entity_id": entity, "version": 1, "state": state}
    return Envelope(schema=schema, producer=schema.split(".")[0], payload=payload)


def test_the_default_subscription_covers_catalog_and_inventory_events() -> None:
    _, schemas, _ = gateway_cache_subscription(MemoryCache())
    assert "catalog.v1.PriceChanged" in schemas
    assert "inventory.v1.StockLevelChanged" in schemas
    assert all(s.startswith(("catalog.", "inventory.")) for s in schemas)


async def test_answers_for_a_gps_point_are_not_cached() -> None:
    catalog = catalog_upstream()
    app = build_gateway({"catalog": catalog})
    async with client_for(app) as client:
        for _ in range(2):
            r = await client.get("/v1/catalog/stores", params={"lat": "4.05", "lng": "9.76"})
    assert catalog.hits == 2
    assert "x-cache" not in r.headers


async def test_concurrent_misses_share_one_upstream_call() -> None:
    catalog = FakeUpstream()
    catalog.default = Reply(delay=0.1)
    app = build_gateway({"catalog": catalog})
    async with client_for(app) as client:
        results = await asyncio.gather(*(client.get("/v1/catalog/categories") for _ in range(10)))
    assert all(r.status_code == 200 for r in results)
    assert catalog.hits == 1
