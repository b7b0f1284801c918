"""The real client: WatermelonDB 0.28 devices (Node, LokiJS in memory) against a real server.

The embedded platform (gateway, identity, sync) listens on a free local port; each device is
a ``node tests/clients/watermelondb/device.js`` process. After every scenario all devices
and the server converge, and no device logged one of WatermelonDB's ``[Sync]`` complaints.
Node and the locked ``@nozbe/watermelondb`` package are required (``npm ci`` runs when the
package folder is missing); without them the test fails: the real client is the point.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from okada.contracts.catalog.v1 import (
    OfferState,
    PriceChanged,
    ProductState,
    ProductUpserted,
    StoreState,
    StoreUpdated,
    Text,
    offer_id,
)
from okada.infra.bus.policy import FAST_TEST_POLICY
from okada.infra.settings import Mode, PlatformSettings
from okada.kernel.messages import Envelope
from okada.runtime.embedded import create_embedded_app
from okada.services.sync.domain.schema import MOBILE_SCHEMA, App
from tests.support.journeys import sign_in

CLIENT_DIR = Path(__file__).resolve().parents[2] / "clients" / "watermelondb"
COMPLAINTS = ("Server wants client to create record", "already exists locally",
              "previous pulled-at time was greater", "Invalid raw record",
              "sendCreatedAsUpdated", "doesn't exist locally")


def _need(reason: str) -> None:
    pytest.fail(f"{reason} (see README: Node.js is a development requirement)")


def ensure_client() -> str:
    """Path of ``node``, with the locked WatermelonDB installed next to the harness."""
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        _need("node and npm are needed for the real WatermelonDB client")
    assert node is not None
    if not (CLIENT_DIR / "node_modules" / "@nozbe" / "watermelondb").exists():
        done = subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                              cwd=CLIENT_DIR, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            _need(f"npm ci failed: {done.stderr[-500:]}")
    return node


def schema_json(app: App) -> str:
    types = {"string": "string", "number": "number", "boolean": "boolean"}
    tables = {t.name: [{"name": c.name, "type": types[c.type.value],
                        "isOptional": c.optional} for c in t.columns]
              for t in MOBILE_SCHEMA.tables if t.app is app}
    return json.dumps({"version": 1, "tables": tables})


class NodeDevice:
    """One WatermelonDB database in a Node process."""

    def __init__(self, process: asyncio.subprocess.Process, name: str) -> None:
        self.process = process
        self.name = name
        self._n = 0

    async def call(self, op: str, **args: Any) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        self._n += 1
        self.process.stdin.write((json.dumps({"reqId": self._n, "op": op, **args}) + "\n")
                                 .encode())
        await self.process.stdin.drain()
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout=30)
        reply = json.loads(line)
        assert reply["id"] == self._n
        if not reply["ok"]:
            raise RuntimeError(f"{self.name}: {reply['error']}")
        return reply["result"]

    async def sync(self, with_push: bool = True) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("sync", withPush=with_push)
        return result

    async def rows(self, table: str) -> dict[str, dict[str, Any]]:
        dump = await self.call("dump")
        return {r["id"]: {k: v for k, v in r.items() if not k.startswith("_")}
                for r in dump["tables"][table]}

    async def complaints(self) -> list[str]:
        return [d for d in await self.call("diagnostics") if any(c in d for c in COMPLAINTS)]


@pytest.fixture
async def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    """The embedded platform (identity + sync) on a free local port; page size 5."""
    monkeypatch.setenv("SYNC_SYNC_PAGE_SIZE", "5")
    settings = PlatformSettings(mode=Mode.EMBEDDED, data_dir=tmp_path, log_json=True,
                                seed_demo_data=False, log_level="WARNING")
    app = create_embedded_app(settings, services=["identity", "sync"],
                              policy=FAST_TEST_POLICY, configure_logs=False)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.02)
    app.state.base_url = f"http://127.0.0.1:{port}"
    try:
        yield app
    finally:
        server.should_exit = True
        await task
        sock.close()


@contextlib.asynccontextmanager
async def devices(node: str, base: str, specs: list[tuple[str, str, App, str]]
                  ) -> AsyncIterator[list[NodeDevice]]:
    started: list[NodeDevice] = []
    try:
        for name, token, app, glue in specs:
            env = {**os.environ, "SYNC_URL": base, "TOKEN": token, "CLIENT_ID": name,
                   "SCHEMA_JSON": schema_json(app), "GLUE": glue, "NODE_ENV": "development"}
            process = await asyncio.create_subprocess_exec(
                node, str(CLIENT_DIR / "device.js"), cwd=CLIENT_DIR, env=env,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL)
            started.append(NodeDevice(process, name))
        yield started
    finally:
        for device in started:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(device.call("quit"), timeout=5)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(device.process.wait(), timeout=5)
            if device.process.returncode is None:
                device.process.kill()
                await device.process.wait()


class FaultProxy:
    """An HTTP/1.1 forwarder between devices and the server that injects faults.

    Each request is forwarded on a fresh upstream connection; a fault armed for a request
    line prefix either drops the whole answer after the server handled the request (a lost
    response), or cuts it in the middle (a reset mid-response); ``delay`` adds latency.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.faults: list[tuple[str, str]] = []
        self.delay = 0.0
        self.injected: list[str] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length) if length else b""
            request_line = head.split(b"\r\n", 1)[0].decode()
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1",
                                                                 self.upstream_port)
            lines = [h for h in head.split(b"\r\n")
                     if h and not h.lower().startswith(b"connection:")]
            up_writer.write(b"\r\n".join(lines) + b"\r\nConnection: close\r\n\r\n" + body)
            await up_writer.drain()
            answer = await up_reader.read()
            up_writer.close()
            if self.delay:
                await asyncio.sleep(self.delay)
            fault = next((f for f in self.faults if request_line.startswith(f[0])), None)
            if fault is not None:
                self.faults.remove(fault)
                self.injected.append(f"{fault[1]} {request_line}")
                if fault[1] == "reset":
                    writer.write(answer[: len(answer) // 2])
                    await writer.drain()
                writer.transport.abort()
                return
            writer.write(answer)
            await writer.drain()
            writer.close()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


async def publish(app: Any, *events: Any) -> None:
    await app.state.host.ctx.bus.publish(
        [Envelope(schema=e.schema_name, payload=e.to_payload(), producer="test")
         for e in events])


async def test_real_watermelondb_devices_converge(server: Any) -> None:
    node = ensure_client()
    base = server.state.base_url
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        tokens = await sign_in(http, "699600001", "+237699600001")
    store = uuid.uuid4()
    products = [uuid.uuid4() for _ in range(12)]
    await publish(server, StoreUpdated(entity_id=store, version=1, state=StoreState(
        name="Okada Akwa", kind="dark_store", city="Douala", quartier="Akwa", landmark=None,
        lat=4.05, lng=9.7, delivery_radius_m=5000, delivery_polygon=None, opening_hours=[],
        status="open", prep_minutes=10)))
    for product in products:
        await publish(server, ProductUpserted(entity_id=product, version=1, state=ProductState(
            sku="S", category_id=uuid.uuid4(), name=Text(fr="Riz", en="Rice"),
            description=None, brand=None, unit=Text(fr="kg", en="kg"), barcode=None,
            images=[], tags=[], sold_by_weight=False)),
            PriceChanged(entity_id=offer_id(store, product), version=1, state=OfferState(
                store_id=store, product_id=product, price_xaf=900, listed=True)))
    token = tokens["access_token"]
    specs = [("deviceA", token, App.CUSTOMER, "app"), ("deviceB", token, App.CUSTOMER, "docs"),
             ("deviceC", token, App.CUSTOMER, "app")]
    async with devices(node, base, specs) as (a, b, c):
        await a.sync()
        await b.sync()
        # A puts a product of the store in its cart and saves a place (-> identity)
        item = await a.call("create", table="cart_items", values={
            "store_id": str(store), "product_id": str(products[0]), "quantity": 1,
            "added_at": 1})
        place = await a.call("create", table="places", values={
            "label": "Maison", "city": "douala", "quartier": "akwa", "is_default": True})
        await a.sync()
        # the cart picks the store: B (synced before) receives its catalog as a grant; C's
        # first sync is paged: pull-only syncs while hasMore, then a full sync
        await b.sync()
        assert len(await b.rows("products")) == 12
        pages = 0
        while True:
            result = await c.sync(with_push=False)
            pages += 1
            if not any(e.get("hasMore") for e in result["extra"]):
                break
        await c.sync()
        assert pages >= 3
        assert await c.rows("products") == await b.rows("products")
        assert (await b.rows("places"))[place]["city"] == "Douala"  # identity normalised it
        # offline edits of different columns on both devices, then update against delete
        await a.call("update", table="cart_items", id=item, values={"quantity": 3})
        await b.call("update", table="cart_items", id=item, values={"added_at": 99})
        await a.sync()
        await b.sync()
        await a.sync()
        assert (await a.rows("cart_items"))[item]["quantity"] == 3
        assert (await a.rows("cart_items"))[item]["added_at"] == 99
        await a.call("delete", table="places", id=place)
        await b.call("update", table="places", id=place, values={"label": "Bureau"})
        await a.sync()
        await b.sync()
        await a.sync()
        assert await a.rows("places") == {} == await b.rows("places")
        # replacement sync: B misses a deletion whose tombstone is purged
        await a.call("delete", table="cart_items", id=item)
        await a.sync()
        sync_service = server.state.host.runtimes["sync"].app.state.sync
        assert await sync_service.purge_tombstones(
            dt.datetime.now(dt.UTC) + dt.timedelta(days=1)) >= 1
        result = await b.sync()
        assert any(e.get("experimentalStrategy") == "replacement" for e in result["extra"])
        assert await b.rows("cart_items") == {}
        await a.sync()
        await c.sync()
        for device in (a, b, c):
            assert await device.call("unsynced") is False
            assert await device.complaints() == []
            assert (await device.call("dump"))["deleted"] == {
                t: [] for t in ("places", "cart_items", "products", "orders", "notifications")}
        assert await a.rows("products") == await b.rows("products")
        assert await a.rows("cart_items") == await b.rows("cart_items") == await c.rows(
            "cart_items")


async def test_lost_and_cut_answers_and_latency_converge(server: Any) -> None:
    """A push whose answer is lost, a pull cut mid-response and 600 ms of added latency: the
    device retries and converges with no duplicate."""
    node = ensure_client()
    base = server.state.base_url
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        tokens = await sign_in(http, "699600002", "+237699600002")
    proxy = FaultProxy(int(base.rsplit(":", 1)[1]))
    await proxy.start()
    token = tokens["access_token"]
    try:
        async with devices(node, f"http://127.0.0.1:{proxy.port}",
                           [("faultyA", token, App.CUSTOMER, "app")]) as (a,), \
                devices(node, base, [("directB", token, App.CUSTOMER, "app")]) as (b,):
            await a.sync()
            await b.sync()
            item = await a.call("create", table="cart_items", values={
                "store_id": "s1", "product_id": "p1", "quantity": 2, "added_at": 5})
            proxy.faults.append(("POST /v1/sync", "drop"))
            with pytest.raises(RuntimeError, match=r"fetch failed|terminated|socket"):
                await a.sync()
            assert await a.call("unsynced") is True  # the push threw: still dirty
            await b.sync()
            assert list(await b.rows("cart_items")) == [item]  # but the server has it
            proxy.faults.append(("GET /v1/sync", "reset"))
            with pytest.raises(RuntimeError):
                await a.sync()
            proxy.delay = 0.6
            await a.sync()
            proxy.delay = 0.0
            await b.sync()
            assert [i.split(" ")[:2] for i in proxy.injected] == [["drop", "POST"],
                                                                   ["reset", "GET"]]
            assert await a.call("unsynced") is False
            assert await a.rows("cart_items") == await b.rows("cart_items")
            assert list(await a.rows("cart_items")) == [item]
            for device in (a, b):
                assert await device.complaints() == []
    finally:
        await proxy.close()
