"""Brotli and gzip by negotiation, and what is never compressed."""

from __future__ import annotations

import gzip

import brotli  # type: ignore[import-untyped]
import httpx
import pytest

from okada.gateway.compression import negotiate_encoding
from tests.gateway.support import FakeUpstream, Reply, build_gateway, client_for

BIG = {
    "data": [{"id": f"p{i}", "name": "Huile de palme 1 L", "price_xaf": 1500} for i in range(60)]
}


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "identity"),
        ("", "identity"),
        ("gzip", "gzip"),
        ("br", "br"),
        ("gzip, deflate, br", "br"),
        ("gzip;q=1.0, br;q=0.5", "gzip"),
        ("br;q=0, gzip", "gzip"),
        ("*", "br"),
        ("*;q=0.5, gzip;q=0.8", "gzip"),
        ("identity", "identity"),
        ("br;q=0, gzip;q=0", "identity"),
        ("deflate", "identity"),
        ("BR;Q=0.9, GZIP;q=0.1", "br"),
    ],
)
def test_negotiation_follows_q_values_and_prefers_brotli(accept: str | None, expected: str) -> None:
    assert negotiate_encoding(accept) == expected


async def _raw(client: httpx.AsyncClient, url: str, accept: str) -> tuple[httpx.Response, bytes]:
    async with client.stream("GET", url, headers={"accept-encoding": accept}) as response:
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    return response, raw


@pytest.mark.parametrize("accept", ["br", "gzip", "identity"])
async def test_large_json_is_compressed_as_negotiated(accept: str) -> None:
    identity = FakeUpstream()
    identity.default = Reply(body=BIG)
    app = build_gateway({"identity": identity})
    async with client_for(app) as client:
        response, raw = await _raw(client, "/.well-known/jwks.json", accept)
    plain = httpx.Response(200, json=BIG).content
    decoded = {"br": brotli.decompress, "gzip": gzip.decompress, "identity": bytes}[accept](raw)
    assert decoded.replace(b" ", b"") == plain.replace(b" ", b"")
    assert response.headers.get("content-encoding", "identity") == accept
    assert int(response.headers["content-length"]) == len(raw)
    assert "accept-encoding" in response.headers["vary"].lower()
    if accept != "identity":
        assert len(raw) < len(decoded) / 4


async def test_small_bodies_and_event_streams_are_left_alone() -> None:
    identity = FakeUpstream()
    app = build_gateway({"identity": identity})
    async with client_for(app) as client:
        small, small_raw = await _raw(client, "/.well-known/jwks.json", "br, gzip")
        identity.default = Reply(
            body=b"data: " + b"x" * 2000 + b"\n\n", headers=[("content-type", "text/event-stream")]
        )
        stream, stream_raw = await _raw(client, "/.well-known/jwks.json", "br, gzip")
    assert "content-encoding" not in small.headers
    assert small_raw == b'{"ok":true}'
    assert "content-encoding" not in stream.headers
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream_raw.startswith(b"data: xxx")


async def test_problem_responses_are_compressed_only_when_large() -> None:
    app = build_gateway({}, hosted=[])
    async with client_for(app) as client:
        response, raw = await _raw(client, "/v1/catalog/categories", "br")
    assert response.status_code == 404
    assert "content-encoding" not in response.headers
    assert b"route_not_found" in raw
