"""W12: bytes on the wire for the apps' catalog: sync deltas, the catalog delta feed, 304s.

Run: ``.venv/bin/python -m bench.w12_sync`` (about a minute; nothing external). It starts the
embedded platform (identity, catalog, inventory, sync) on a scratch data folder with the demo
seed, waits until the sync service has built the products of Okada Akwa from catalog and
inventory events, signs a customer in, then measures through the gateway:

* the first sync of that customer (``GET /v1/sync``, ``last_pulled_at=null``, the store's
  catalog in ``products``), identity and gzip;
* a delta sync after 1 % and after 2 % of the store's offers were repriced (operations
  ``PUT /v1/merchant/stores/{store}/offers/{product}``, which reach sync as
  ``catalog.v1.PriceChanged``), against the first sync;
* the catalog delta feed ``GET /v1/catalog/stores/{store}/changes``: the full download (all
  pages) versus the delta after the same churn;
* an unchanged feed page asked again with ``If-None-Match``: 304 versus 200.

Bytes on the wire = status line + response headers + body as sent (compressed when gzip was
negotiated). Goals (issue 10): delta after 1 % change at most 0.02 of a full download; 304 at
most 0.02 of the 200. Writes ``bench/results/w12_sync.md`` (``--no-write`` only prints).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from tests.support.journeys import bearer, sign_in

from bench._common import RESULTS, command_line, now_utc, table
from okada.infra.security.internal import PRINCIPAL_HEADER
from okada.infra.settings import Mode, PlatformSettings
from okada.kernel.authz import Principal, Role
from okada.runtime.embedded import create_embedded_app

AKWA = "9df0d27b-bce4-585c-8ca5-f94b8590276a"  # uuid5 of "store:akwa" (scripts/make_seed.py)
SERVICES = ["identity", "catalog", "inventory", "sync"]


def wire_bytes(response: httpx.Response) -> int:
    """Status line + headers + body as transmitted."""
    head = len(f"HTTP/1.1 {response.status_code} {response.reason_phrase}\r\n")
    head += sum(len(k) + len(v) + 4 for k, v in response.headers.raw) + 2
    body = int(response.headers.get("content-length", len(response.content)))
    return head + body


async def sync_products(app: Any) -> list[Any]:
    uow = app.state.host.runtimes["sync"].app.state.uow_factory()
    async with uow:
        rows: list[Any] = await uow.records.all_rows({f"s:{AKWA}": ["products"]}, upper=2**62)
    return rows


async def settle(app: Any, condition: Any, timeout: float = 120.0) -> None:
    """Wait until the sync read model satisfies ``condition(rows)``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if condition(await sync_products(app)):
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("sync read model did not settle")


async def quiet(app: Any, seconds: float = 1.5) -> None:
    """Wait until no event has changed a synced record for ``seconds`` (seed events done)."""
    last, stable = -1, 0.0
    while stable < seconds:
        uow = app.state.host.runtimes["sync"].app.state.uow_factory()
        async with uow:
            seq = await uow.records.current_seq()
        stable = stable + 0.25 if seq == last else 0.0
        last = seq
        await asyncio.sleep(0.25)


async def pull(client: httpx.AsyncClient, headers: dict[str, str], cursor: int | None,
               encoding: str) -> httpx.Response:
    response = await client.get("/v1/sync", params={
        "last_pulled_at": "null" if cursor is None else cursor, "schema_version": 1,
        "migration": "null", "store_id": AKWA}, headers={**headers, "accept-encoding": encoding})
    assert response.status_code == 200, response.text
    return response


async def feed(client: httpx.AsyncClient, since: str | None, encoding: str
               ) -> tuple[int, int, str | None, list[httpx.Response]]:
    """Follow the catalog delta feed from ``since``: (bytes, items, next cursor, pages)."""
    total, items, pages = 0, 0, []
    cursor = since
    while True:
        params = {"limit": 200} if cursor is None else {"limit": 200, "since": cursor}
        response = await client.get(f"/v1/catalog/stores/{AKWA}/changes", params=params,
                                    headers={"accept-encoding": encoding,
                                             "accept-language": "fr"})
        assert response.status_code == 200, response.text
        body = response.json()
        total += wire_bytes(response)
        items += len(body["changes"]) + len(body["deleted"])
        pages.append(response)
        cursor = body["next"]
        if not body["has_more"]:
            return total, items, cursor, pages


async def measure() -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        settings = PlatformSettings(mode=Mode.EMBEDDED, data_dir=Path(folder),
                                    log_level="ERROR")
        app = create_embedded_app(settings, services=SERVICES, configure_logs=False)
        async with LifespanManager(app, startup_timeout=180, shutdown_timeout=60) as manager:
            transport = httpx.ASGITransport(app=manager.app, client=("198.51.100.4", 4000))
            async with httpx.AsyncClient(transport=transport, base_url="http://okada") as http:
                catalog = app.state.host.ctx.directory.client("catalog")
                _, visible, _, _ = await feed(http, None, "identity")
                await settle(app, lambda rows: len(rows) >= visible)
                await quiet(app)
                tokens = await sign_in(http, "699700001", "+237699700001")
                headers = {**bearer(tokens), "x-client-id": "benchDevice1"}
                full = {e: await pull(http, headers, None, e) for e in ("identity", "gzip")}
                cursor = full["identity"].json()["timestamp"]
                products = full["identity"].json()["changes"]["products"]["created"]
                full_feed = {e: await feed(http, None, e) for e in ("identity", "gzip")}
                since = full_feed["identity"][2]
                first_page = full_feed["identity"][3][0]
                again = await http.get(f"/v1/catalog/stores/{AKWA}/changes",
                                       params={"limit": 200},
                                       headers={"if-none-match": first_page.headers["etag"],
                                                "accept-language": "fr"})
                assert again.status_code == 304, again.status_code
                out.update(products=len(products), first_sync=full,
                           full_feed=full_feed, page_200=wire_bytes(first_page),
                           page_304=wire_bytes(again))
                ops = {PRINCIPAL_HEADER: app.state.host.ctx.codec.encode(Principal(
                    user_id=uuid.uuid4(), roles=frozenset({Role.OPERATIONS})))}
                changed = 0
                for share in (0.01, 0.02):
                    target = max(1, math.ceil(len(products) * share))
                    for row in products[changed:target]:
                        response = await catalog.put(
                            f"/v1/merchant/stores/{AKWA}/offers/{row['id']}",
                            json={"price_xaf": int(row["price"]) + 25, "listed": True},
                            headers=ops)
                        assert response.status_code == 200, response.text
                    repriced = {r["id"]: int(r["price"]) + 25 for r in products[:target]}
                    changed = target
                    await settle(app, lambda rows, want=repriced: all(
                        int(r.data["price"]) == want[r.id] for r in rows if r.id in want))
                    await quiet(app)
                    delta = {e: await pull(http, headers, cursor, e)
                             for e in ("identity", "gzip")}
                    body = delta["identity"].json()["changes"]["products"]
                    delta_feed = {e: await feed(http, since, e) for e in ("identity", "gzip")}
                    out[f"delta_{share}"] = {"changed": target, "sync": delta,
                                            "sync_rows": len(body["updated"]),
                                            "feed": delta_feed}
    return out


def report(results: dict[str, Any]) -> str:
    full = results["first_sync"]
    full_feed = results["full_feed"]
    rows = [["first sync (full)", results["products"], wire_bytes(full["identity"]),
             wire_bytes(full["gzip"]), "1", "1"]]
    feed_rows = [["full download (all pages)", full_feed["identity"][1],
                  full_feed["identity"][0], full_feed["gzip"][0], "1", "1"]]
    for share in (0.01, 0.02):
        d = results[f"delta_{share}"]
        raw, gz = wire_bytes(d["sync"]["identity"]), wire_bytes(d["sync"]["gzip"])
        rows.append([f"delta after {share:.0%} repriced ({d['changed']})", d["sync_rows"], raw,
                     gz, f"{raw / wire_bytes(full['identity']):.4f}",
                     f"{gz / wire_bytes(full['gzip']):.4f}"])
        f_raw, f_gz = d["feed"]["identity"][0], d["feed"]["gzip"][0]
        feed_rows.append([f"delta after {share:.0%} repriced", d["feed"]["identity"][1], f_raw,
                          f_gz, f"{f_raw / full_feed['identity'][0]:.4f}",
                          f"{f_gz / full_feed['gzip'][0]:.4f}"])
    headers = ["what", "rows", "bytes (identity)", "bytes (gzip)", "ratio identity",
               "ratio gzip"]
    ratio_304 = results["page_304"] / results["page_200"]
    return "\n".join([
        "# W12: sync deltas, catalog delta feed and 304s (bytes on the wire)",
        "",
        f"Run {now_utc()} with `{command_line()}`; embedded platform (SQLite, in-process bus),",
        "demo seed, store Okada Akwa, through the gateway (gzip negotiated by the gateway).",
        "Bytes = status line + headers + body as sent.",
        "",
        "## WatermelonDB sync (`GET /v1/sync`, customer, products of the store)",
        "",
        table(headers, rows),
        "",
        "## Catalog delta feed (`GET /v1/catalog/stores/{store}/changes`, limit 200)",
        "",
        table(headers, feed_rows),
        "",
        "## Unchanged feed page asked again",
        "",
        table(["answer", "bytes"], [["200 (first page)", results["page_200"]],
                                    ["304 (If-None-Match)", results["page_304"]],
                                    ["ratio 304/200", f"{ratio_304:.4f}"]]),
        "",
        "Goals (issue 10): delta after 1 % change at most 0.02 of a full download; 304 at most",
        "0.02 of the 200. The first sync size above is the gzipped first sync of a customer",
        "with the seed catalog.",
        "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    text = report(asyncio.run(measure()))
    print(text)
    if not args.no_write:
        (RESULTS / "w12_sync.md").write_text(text)


if __name__ == "__main__":
    main()
