"""The W1 servers: the same hello route as a bare ASGI app, plain FastAPI and the Okada stack.

uvicorn loads the factories with ``--factory``, e.g.
``uvicorn bench.w1_apps:okada_app --factory``. ``python -m bench.w1_apps canned PORT`` runs a
raw asyncio responder that answers every request with fixed bytes: no HTTP parsing, no ASGI.
It is the "trivial responder" the load generator is calibrated against (W13).
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any, cast

import orjson
from starlette.types import Receive, Scope, Send

# Imported at module level, not in the factory: with postponed annotations FastAPI resolves
# a route's ``OptionalPrincipal`` annotation from module globals, and a local import there
# turns the dependency into a required query parameter (422).
from okada.infra.http.auth import OptionalPrincipal

BENCH_SECRET = "bench-internal-secret-not-for-production"  # a benchmark-only key
"""Shared secret of the PrincipalCodec; the generator sends a header signed with it."""

HELLO = {"message": "hello"}


async def bare_app(scope: Scope, receive: Receive, send: Send) -> None:
    """A: the smallest honest ASGI app: encodes the JSON per request, answers 200."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = orjson.dumps(HELLO)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def bare() -> Any:
    """Factory for A (uvicorn ``--factory`` wants a callable)."""
    return bare_app


def fastapi_app() -> Any:
    """C: plain FastAPI with the same route, to separate FastAPI's cost from Okada's."""
    from fastapi import FastAPI

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return HELLO

    return app


def _okada(access_log: bool) -> Any:
    """B: ``create_service_app`` as every service uses it, with the hello route added.

    The route takes the optional principal, so each request verifies the signed
    ``x-okada-principal`` header (HMAC + JSON decode) as a real authenticated route does.
    """
    import structlog
    from fastapi import APIRouter

    from okada.infra.http.app import create_service_app
    from okada.infra.http.auth import PrincipalResolver
    from okada.infra.observability.logging import configure_logging
    from okada.infra.security.internal import PrincipalCodec

    configure_logging(level="INFO", json=True, service="bench")
    # Same processors and JSON rendering as production, but the lines go to /dev/null: the
    # rendering cost is paid, while a multi-GB log file on the shared box is not written.
    structlog.configure(
        logger_factory=structlog.BytesLoggerFactory(file=open(os.devnull, "wb"))  # noqa: SIM115
    )
    router = APIRouter()

    @router.get("/hello")
    async def hello(principal: OptionalPrincipal) -> dict[str, str]:
        return HELLO

    async def always_ready() -> bool:
        return True

    return create_service_app(
        service="bench",
        routers=[router],
        resolver=PrincipalResolver(PrincipalCodec(BENCH_SECRET), verifier=None),
        readiness={"self": always_ready},
        access_log=access_log,
    )


def okada_app() -> Any:
    """B: the full Okada stack, access log on (the services' default)."""
    return _okada(access_log=True)


def okada_nolog_app() -> Any:
    """B without the access log, to show what the log line costs."""
    return _okada(access_log=False)


def principal_header() -> str:
    """Return an ``x-okada-principal`` header line valid for an hour, signed for the bench."""
    import uuid

    from okada.infra.security.internal import PRINCIPAL_HEADER, PrincipalCodec
    from okada.kernel.authz import Principal, Role

    principal = Principal(user_id=uuid.uuid4(), roles=frozenset({Role.CUSTOMER}),
                          token_id="bench")
    return f"{PRINCIPAL_HEADER}: {PrincipalCodec(BENCH_SECRET).encode(principal, ttl=3600)}"


class _Canned(asyncio.Protocol):
    """Answers each request (counted by its blank line) with fixed bytes."""

    RESPONSE = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 19\r\n\r\n"
        b'{"message":"hello"}'
    )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, hence the cast.
        self.transport = cast(asyncio.Transport, transport)
        self.tail = b""

    def data_received(self, data: bytes) -> None:
        data = self.tail + data
        count = data.count(b"\r\n\r\n")
        self.tail = data[data.rfind(b"\r\n\r\n") + 4 :] if count else data
        if count:
            self.transport.write(self.RESPONSE * count)


async def _serve_canned(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Canned, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "canned":
        import uvloop

        uvloop.run(_serve_canned(int(sys.argv[2])))
    else:
        sys.exit("usage: python -m bench.w1_apps canned PORT")
