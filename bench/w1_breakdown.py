"""Where W1's per-request time goes: in-process timings, no server, no network.

Calls each W1 app directly as an ASGI callable (no uvicorn, no socket) and times pieces of
the Okada layer on their own. It explains the W1 ratios; it is not a throughput figure.
Pin it to one core for steadier numbers:
``taskset -c 1 .venv/bin/python -m bench.w1_breakdown``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from typing import Any

from bench._common import table
from bench.w1_apps import (
    BENCH_SECRET,
    bare,
    fastapi_app,
    okada_app,
    okada_nolog_app,
    principal_header,
)


def _scope(header: tuple[bytes, bytes]) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/hello", "raw_path": b"/hello", "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2), "state": {},
        "headers": [(b"host", b"127.0.0.1"), (b"accept", b"application/json"), header],
    }


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    return None


async def _per_request(app: Any, header: tuple[bytes, bytes], n: int) -> float:
    for _ in range(min(n, 500)):  # warm caches, FastAPI's route and dependency set-up
        await app(_scope(header), _receive, _send)
    started = time.perf_counter()
    for _ in range(n):
        await app(_scope(header), _receive, _send)
    return (time.perf_counter() - started) / n * 1e6


def _time(fn: Callable[[], object], n: int) -> float:
    fn()
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n * 1e6


def main(argv: list[str] | None = None) -> None:
    """Print per-request µs of each variant and of the Okada layer's pieces."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=5000, help="requests per variant")
    args = parser.parse_args(argv)
    name, _, value = principal_header().partition(": ")
    header = (name.encode(), value.encode())

    apps = {"A bare ASGI": bare, "C plain FastAPI": fastapi_app,
            "D Okada, access log off": okada_nolog_app, "B Okada, access log on": okada_app}
    rows = []
    for label, factory in apps.items():
        app = factory()
        rows.append([label, f"{asyncio.run(_per_request(app, header, args.n)):.1f}"])
    print(table(["Variant (in process)", "µs per request"], rows))

    # Pieces of the Okada layer, timed alone. okada_app() above configured structlog as B.
    import structlog

    from okada.infra.observability import metrics
    from okada.infra.observability.context import (
        child_traceparent,
        new_request_id,
        request_id_var,
        traceparent_var,
    )
    from okada.infra.security.internal import PrincipalCodec

    codec = PrincipalCodec(BENCH_SECRET)
    log = structlog.get_logger("okada.access")
    request_id_var.set(new_request_id())
    traceparent_var.set(child_traceparent(""))
    n = args.n * 4
    pieces = [
        ("PrincipalCodec.decode (HMAC + JSON + UUIDs)", lambda: codec.decode(value)),
        ("access log line, inside a request context", lambda: log.info(
            "http.access", method="GET", path="/hello", route="/hello", status=200,
            duration_ms=0.12)),
        ("request metrics (counter + histogram)", lambda: (
            metrics.HTTP_REQUESTS.labels("bench", "/hello", "200").inc(),
            metrics.HTTP_DURATION.labels("bench", "/hello").observe(0.001))),
        ("child_traceparent + new_request_id", lambda: (child_traceparent(""),
                                                        new_request_id())),
    ]
    print()
    print(table(["Piece", "µs per call"], [[label, f"{_time(fn, n):.1f}"]
                                           for label, fn in pieces]))


if __name__ == "__main__":
    main()
