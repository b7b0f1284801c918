"""The home aggregate: one round trip, concurrent parts, partial answers, size on the wire."""

from __future__ import annotations

import gzip
import time
import uuid

import brotli  # type: ignore[import-untyped]
import httpx
import orjson

from okada.gateway.resilience import BreakerPolicy, UpstreamPolicy
from okada.runtime.registry import SERVICES
from tests.gateway.support import FakeUpstream, Reply, Seen, TokenIssuer, build_gateway, client_for

CLOSED_STORE = str(uuid.uuid4())
OPEN_STORE = str(uuid.uuid4())
POINT = {"lat": "4.0511", "lng": "9.7679"}  # Akwa, Douala


def catalog_app() -> FakeUpstream:
    def answer(seen: Seen) -> Reply | None:
        if seen.path == "/v1/catalog/stores":
            return Reply(body={"data": [
                {"id": CLOSED_STORE, "name": "Okada Bonapriso", "is_open": False},
                {"id": OPEN_STORE, "name": "Okada Akwa", "is_open": True, "eta_minutes": 18},
            ]})
        if seen.path == "/v1/catalog/categories":
            return Reply(body={"data": [
                {"id": str(uuid.uuid4()), "name": name, "parent_id": None}
                for name in ["Boissons", "Épicerie", "Produits frais", "Hygiène", "Bébé",
                             "Entretien", "Boulangerie", "Surgelés", "Fruits", "Légumes",
                             "Viandes", "Poissons", "Snacks", "Petit-déjeuner", "Conserves",
                             "Condiments", "Riz et pâtes", "Huiles", "Lait", "Eau"]
            ]})
        if seen.path == f"/v1/catalog/stores/{OPEN_STORE}/products":
            return Reply(body={"data": [
                {"id": str(uuid.uuid4()), "name": f"Produit vedette {i}", "unit": "1 kg",
                 "price": 1500 + 250 * i, "currency": "XAF", "in_stock": True,
                 "image_url": f"https://cdn.okada.cm/p/{i}.webp", "category_id": "c1"}
                for i in range(40)  # more than asked for: the gateway keeps 12
            ]})
        return Reply(status=404, body={"code": "not_found"})

    return FakeUpstream(answer)


def orders_app() -> FakeUpstream:
    return FakeUpstream(lambda seen: Reply(body={"data": [
        {"id": str(uuid.uuid4()), "status": "preparing", "total": 12500, "eta_at": 1760000000000}
    ]}))


async def test_home_happy_path_in_one_round_trip() -> None:
    catalog, orders = catalog_app(), orders_app()
    issuer = TokenIssuer()
    user = uuid.uuid4()
    app = build_gateway({"catalog": catalog, "orders": orders}, issuer=issuer)
    async with client_for(app) as client:
        r = await client.get("/v1/app/home", params=POINT, headers=issuer.bearer(user))
    assert r.status_code == 200, r.text
    home = r.json()
    assert home["partial"] == []
    assert home["store"]["id"] == OPEN_STORE  # the nearest *open* store
    assert len(home["categories"]) == 20
    assert len(home["featured"]) == 12
    assert home["active_order"]["status"] == "preparing"
    assert r.headers["ratelimit-policy"].startswith('"reads"')
    products = next(s for s in catalog.seen if s.path.endswith("/products"))
    assert "limit=12" in products.query and "featured=1" in products.query
    [order_call] = orders.seen
    assert "status=active" in order_call.query and "limit=1" in order_call.query
    assert order_call.header("x-okada-principal")  # the caller's identity, signed
    assert all(not s.header("x-okada-principal") for s in catalog.seen)

    raw = orjson.dumps(home)
    gz, br = gzip.compress(raw, 6), brotli.compress(raw, quality=4)
    print(f"\nhome aggregate: {len(raw)} B json, {len(gz)} B gzip-6, {len(br)} B brotli-4")
    assert len(br) < len(gz) < 50_000  # performance.md W12: home <= 50 KB compressed


async def test_anonymous_home_skips_orders() -> None:
    catalog, orders = catalog_app(), orders_app()
    app = build_gateway({"catalog": catalog, "orders": orders})
    async with client_for(app) as client:
        r = await client.get("/v1/app/home", params=POINT)
    assert r.status_code == 200
    assert r.json()["active_order"] is None
    assert r.json()["partial"] == []
    assert orders.hits == 0


async def test_a_failing_part_is_left_out_and_named_partial() -> None:
    catalog, orders = catalog_app(), orders_app()
    orders.default = Reply(status=500, body={"code": "internal_error"})
    orders.handler = None
    issuer = TokenIssuer()
    app = build_gateway({"catalog": catalog, "orders": orders}, issuer=issuer)
    async with client_for(app) as client:
        r = await client.get("/v1/app/home", params=POINT, headers=issuer.bearer())
    assert r.status_code == 200
    home = r.json()
    assert home["partial"] == ["orders"]
    assert home["active_order"] is None
    assert home["store"]["id"] == OPEN_STORE
    assert len(home["featured"]) == 12


async def test_an_unreachable_catalog_leaves_the_order_part() -> None:
    catalog, orders = catalog_app(), orders_app()
    catalog.connect_error = True
    issuer = TokenIssuer()
    app = build_gateway({"catalog": catalog, "orders": orders}, issuer=issuer)
    async with client_for(app) as client:
        r = await client.get("/v1/app/home", params=POINT, headers=issuer.bearer())
    assert r.status_code == 200
    home = r.json()
    assert home["partial"] == ["catalog"]
    assert home["store"] is None and home["categories"] == [] and home["featured"] == []
    assert home["active_order"]["status"] == "preparing"


async def test_a_slow_part_is_cut_at_its_own_deadline() -> None:
    catalog, orders = catalog_app(), orders_app()
    slow = catalog.handler

    def slow_categories(seen: Seen) -> Reply | None:
        reply = slow(seen) if slow else None
        if seen.path == "/v1/catalog/categories" and reply is not None:
            reply.delay = 3.0
        return reply

    catalog.handler = slow_categories
    app = build_gateway(
        {"catalog": catalog, "orders": orders},
        home_part_timeout=0.3,
        upstream_policy=UpstreamPolicy(breaker=BreakerPolicy(consecutive_failures=100)),
    )
    async with client_for(app) as client:
        started = time.perf_counter()
        r = await client.get("/v1/app/home", params=POINT)
        elapsed = time.perf_counter() - started
    home = r.json()
    assert r.status_code == 200
    assert elapsed < 0.6, elapsed
    assert home["partial"] == ["catalog"]
    assert home["categories"] == []
    assert home["store"]["id"] == OPEN_STORE  # the parts that answered are kept


async def test_public_catalog_parts_come_from_the_response_cache() -> None:
    catalog = catalog_app()
    app = build_gateway({"catalog": catalog})
    async with client_for(app) as client:
        for _ in range(3):
            assert (await client.get("/v1/app/home", params=POINT)).status_code == 200
        # the same data asked for directly is a hit too
        direct = await client.get(
            "/v1/catalog/categories", headers={"accept-encoding": "identity"}
        )
    calls = [s.path for s in catalog.seen]
    assert calls.count("/v1/catalog/categories") == 1
    assert calls.count(f"/v1/catalog/stores/{OPEN_STORE}/products") == 1
    assert calls.count("/v1/catalog/stores") == 3  # per GPS point: never cached
    assert direct.headers["x-cache"] == "HIT"


async def test_home_validates_the_point() -> None:
    app = build_gateway({"catalog": catalog_app()})
    async with client_for(app) as client:
        r = await client.get("/v1/app/home", params={"lat": "200", "lng": "9.7"},
                             headers={"accept-language": "en"})
        missing = await client.get("/v1/app/home")
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert missing.status_code == 422


async def test_home_on_the_embedded_platform_is_200_even_without_its_upstreams(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/v1/app/home", params=POINT)
    assert r.status_code == 200
    home = r.json()
    assert set(home) == {"store", "categories", "featured", "active_order", "partial"}
    assert home["active_order"] is None  # anonymous: orders is not asked
    assert "orders" not in home["partial"]
    if "catalog" not in SERVICES:  # not written yet: the whole catalog part is partial
        assert home == {
            "store": None,
            "categories": [],
            "featured": [],
            "active_order": None,
            "partial": ["catalog"],
        }
