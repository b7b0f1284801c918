"""Forwarding over the gateway's own aiohttp pool (distributed mode) to a real HTTP server."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from okada.gateway.proxy import STREAM_THRESHOLD
from okada.gateway.resilience import BreakerPolicy, UpstreamPolicy
from okada.infra.hosting import ServiceDirectory
from okada.infra.settings import Mode, PlatformSettings
from tests.gateway.support import TokenIssuer, build_gateway, client_for

BIG = b"x" * (STREAM_THRESHOLD * 2 + 17)


@dataclass
class Server:
    url: str
    seen: list[dict[str, Any]] = field(default_factory=list)
    fail_first: int = 0


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server(url="")

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        state.seen.append(
            {
                "method": request.method,
                "path_qs": request.raw_path,
                "headers": [
                    (k.decode("latin-1").lower(), v.decode("latin-1"))
                    for k, v in request.raw_headers
                ],
                "body": body,
            }
        )
        if request.path.endswith("/flaky") and state.fail_first > 0:
            state.fail_first -= 1
            return web.json_response({"code": "unavailable"}, status=503)
        if request.path.endswith("/slow"):
            await asyncio.sleep(1.0)
        if request.path.endswith("/big"):
            return web.Response(body=BIG, content_type="application/octet-stream")
        if request.path.endswith("/big-json"):
            return web.Response(body=b'"' + BIG + b'"', content_type="application/json")
        if request.path.endswith("/empty"):
            return web.Response(status=204)
        if request.path.endswith("/chunked"):
            response = web.StreamResponse(headers={"content-type": "text/plain"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            for part in (b"one,", b"two,", b"three"):
                await response.write(part)
            await response.write_eof()
            return response
        return web.json_response(
            {"ok": True, "len": len(body)},
            status=201 if request.method == "POST" else 200,
            headers={"set-cookie": "s=1", "x-upstream": "yes", "server": "secret/1.0"},
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}"
    yield state
    await runner.cleanup()


def distributed_directory(url: str) -> ServiceDirectory:
    settings = PlatformSettings(
        mode=Mode.DISTRIBUTED, internal_secret="t" * 32, service_urls={"identity": url}
    )
    return ServiceDirectory(settings)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_a_distributed_directory_is_forwarded_over_aiohttp(server: Server) -> None:
    from okada.gateway.app import create_gateway_app
    from okada.infra.cache.memory import MemoryCache
    from okada.infra.security.internal import PrincipalCodec

    issuer = TokenIssuer()
    directory = distributed_directory(server.url)
    app = create_gateway_app(
        directory=directory,
        services=["identity"],
        verifier=issuer.verifier(),
        codec=PrincipalCodec("s"),
        cache=MemoryCache(),
        access_log=False,
    )
    app.state.directory = directory
    token = issuer.bearer(uuid.uuid4())
    async with client_for(app) as client:
        r = await client.get(
            "/v1/users/me?x=%2F%20a&y=1",
            headers={**token, "x-okada-principal": "forged", "user-agent": "okada-app/1.0"},
        )
        posted = await client.post("/v1/users/me/places", content=b'{"a":1}', headers={
            **token, "content-type": "application/json"})
    await app.state.proxy.aclose()
    assert app.state.proxy._targets["identity"].base_url is not None  # the aiohttp path
    assert r.status_code == 200, r.text
    assert r.json() == {"ok": True, "len": 0}
    assert r.headers["x-upstream"] == "yes"
    assert r.headers["set-cookie"] == "s=1"
    assert "secret/1.0" not in r.headers.get("server", "")
    first = server.seen[0]
    assert first["path_qs"] == "/v1/users/me?x=%2F%20a&y=1"  # relayed byte for byte
    headers = dict(first["headers"])
    assert headers["x-okada-principal"] != "forged"
    assert headers["user-agent"] == "okada-app/1.0"
    assert headers["accept-encoding"] == "identity"
    assert headers["x-forwarded-for"] == "203.0.113.9"
    assert "content-type" not in headers  # a GET without body gets no invented type
    assert posted.status_code == 201
    assert server.seen[1]["body"] == b'{"a":1}'
    assert dict(server.seen[1]["headers"])["content-type"] == "application/json"


async def test_large_and_chunked_bodies_are_relayed_whole(server: Server) -> None:
    issuer = TokenIssuer()
    app = build_gateway({}, issuer=issuer, hosted=["identity"],
                        upstream_base_urls={"identity": server.url})
    async with client_for(app) as client:
        big = await client.get("/v1/users/big", headers=issuer.bearer())
        chunked = await client.get("/v1/users/chunked", headers=issuer.bearer())
        big_json = await client.get(
            "/v1/users/big-json", headers={**issuer.bearer(), "accept-encoding": "gzip"}
        )
        empty = await client.delete("/v1/users/empty", headers=issuer.bearer())
    await app.state.proxy.aclose()
    assert big.status_code == 200
    assert big.content == BIG
    assert "content-encoding" not in big.headers  # streamed as it came
    assert chunked.text == "one,two,three"
    # compressible JSON is buffered so the edge can still compress it for the phone
    assert big_json.headers["content-encoding"] == "gzip"
    assert big_json.content == b'"' + BIG + b'"'  # httpx decodes gzip
    assert empty.status_code == 204
    assert empty.content == b""


async def test_idempotent_requests_are_retried_on_503_and_posts_are_not(server: Server) -> None:
    issuer = TokenIssuer()
    policy = UpstreamPolicy(max_retries=2, backoff_base=0.001, breaker=BreakerPolicy(
        consecutive_failures=100, min_calls=100))
    app = build_gateway({}, issuer=issuer, hosted=["identity"], upstream_policy=policy,
                        upstream_base_urls={"identity": server.url})
    async with client_for(app) as client:
        server.fail_first = 2
        got = await client.get("/v1/users/flaky", headers=issuer.bearer())
        server.fail_first = 2
        posted = await client.post("/v1/users/flaky", headers=issuer.bearer())
    await app.state.proxy.aclose()
    assert got.status_code == 200
    assert posted.status_code == 503
    assert [s["method"] for s in server.seen] == ["GET", "GET", "GET", "POST"]


async def test_a_slow_upstream_is_a_504_within_its_timeout(server: Server) -> None:
    issuer = TokenIssuer()
    policy = UpstreamPolicy(timeout=0.2, max_retries=0)
    app = build_gateway({}, issuer=issuer, hosted=["identity"], upstream_policy=policy,
                        upstream_base_urls={"identity": server.url})
    async with client_for(app) as client:
        started = time.perf_counter()
        r = await client.get("/v1/users/slow", headers=issuer.bearer())
        elapsed = time.perf_counter() - started
    await app.state.proxy.aclose()
    assert r.status_code == 504
    assert r.headers["content-type"] == "application/problem+json"
    assert elapsed < 0.8


async def test_an_unreachable_upstream_is_a_quick_503_and_opens_the_breaker() -> None:
    issuer = TokenIssuer()
    policy = UpstreamPolicy(max_retries=1, backoff_base=0.001,
                            breaker=BreakerPolicy(consecutive_failures=2, open_seconds=30))
    app = build_gateway({}, issuer=issuer, hosted=["identity"], upstream_policy=policy,
                        upstream_base_urls={"identity": f"http://127.0.0.1:{free_port()}"})
    async with client_for(app) as client:
        started = time.perf_counter()
        first = [await client.get("/v1/users/me", headers=issuer.bearer()) for _ in range(2)]
        fast = await client.get("/v1/users/me", headers=issuer.bearer())
        elapsed = time.perf_counter() - started
    await app.state.proxy.aclose()
    assert [r.status_code for r in first] == [503, 503]
    assert fast.status_code == 503
    assert int(fast.headers["retry-after"]) >= 1
    assert fast.json()["code"] == "unavailable"
    assert elapsed < 2.0
    assert app.state.proxy.guards.get("identity").breaker.state.value == "open"
