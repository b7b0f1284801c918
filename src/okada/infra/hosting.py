"""How a runtime hosts a service: the spec a service exports and what the host gives it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import httpx
import structlog
from fastapi import FastAPI
from httpx_aiohttp import AiohttpTransport
from sqlalchemy import MetaData, Table, insert, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from okada.infra.db.engine import create_engine
from okada.infra.db.outbox import OutboxRelay
from okada.infra.db.platform_tables import add_platform_tables
from okada.infra.db.uow import SqlUnitOfWork
from okada.infra.http.auth import PrincipalResolver
from okada.infra.security.internal import PRINCIPAL_HEADER, PrincipalCodec
from okada.infra.security.tokens import AccessTokenVerifier
from okada.infra.settings import Mode, PlatformSettings
from okada.kernel.authz import Principal, Role
from okada.kernel.clock import Clock
from okada.kernel.messages import Envelope
from okada.kernel.ports import Cache, MessageBus, MessageHandler

UPSTREAM_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
S = TypeVar("S", bound=PlatformSettings)
SERVICE_NAMESPACE = uuid.UUID("0b6f2f0e-3c1d-4e5a-8f7b-9d2c1a4e6b10")

log = structlog.get_logger(__name__)


class ServiceDirectory:
    """HTTP clients to other services and to the providers' simulators.

    Embedded (or any app registered in this process): requests stay in the process through
    an ASGI transport to the target's app. Distributed: pooled connections to the URL from
    configuration. Callers cannot tell the
    difference, which keeps one code path for both modes. Every client has a timeout.
    """

    def __init__(self, settings: PlatformSettings) -> None:
        self._settings = settings
        self._apps: dict[str, Any] = {}
        self._clients: dict[str, httpx.AsyncClient] = {}

    def register_app(self, name: str, app: Any) -> None:
        """Make ``name`` reachable in process (embedded mode)."""
        self._apps[name] = app

    def client(self, name: str, *, timeout: httpx.Timeout = UPSTREAM_TIMEOUT) -> httpx.AsyncClient:
        """Return the shared client for service ``name``."""
        client = self._clients.get(name)
        if client is None:
            if self._settings.mode is Mode.EMBEDDED or name in self._apps:
                client = httpx.AsyncClient(
                    transport=_LazyAsgiTransport(self._apps, name),
                    base_url=f"http://{name}.internal",
                    timeout=timeout,
                )
            else:
                # httpcore's pool spends most of its time on housekeeping once dozens of
                # requests are in flight; aiohttp's connector behind the same httpx API keeps
                # the gateway's added latency small (see bench/results).
                client = httpx.AsyncClient(
                    base_url=self._settings.service_url(name),
                    timeout=timeout,
                    transport=AiohttpTransport(client=_pooled_session),
                )
            self._clients[name] = client
        return client

    async def aclose(self) -> None:
        """Close every client."""
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


def _pooled_session() -> aiohttp.ClientSession:
    """The connection pool behind one upstream client.

    No cookie jar: the clients are shared by every caller of the process, so a cookie one
    upstream response set must never ride along on somebody else's request.
    """
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=200, keepalive_timeout=30),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    )


class _LazyAsgiTransport(httpx.AsyncBaseTransport):
    """ASGI transport that looks the target app up per request (apps are built in any order)."""

    def __init__(self, apps: dict[str, Any], name: str) -> None:
        self._apps = apps
        self._name = name
        self._transport: httpx.ASGITransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._transport is None:
            app = self._apps.get(self._name)
            if app is None:
                raise httpx.ConnectError(f"service {self._name} is not hosted here")
            self._transport = httpx.ASGITransport(app=app)
        return await self._transport.handle_async_request(request)


@dataclass
class HostContext:
    """Everything a service may take from the process hosting it."""

    mode: Mode
    platform: PlatformSettings
    bus: MessageBus
    cache: Cache
    clock: Clock
    directory: ServiceDirectory
    codec: PrincipalCodec
    token_verifier: AccessTokenVerifier
    overrides: dict[str, Any] = field(default_factory=dict)
    engines: dict[str, AsyncEngine] = field(default_factory=dict)

    def settings_for(self, service: str, model: type[S] = PlatformSettings) -> S:  # type: ignore[assignment]
        """Settings of ``service`` as ``model``: ``<SERVICE>_X``, then ``OKADA_X``, then defaults.

        The host's mode and data folder always apply, and so do the ``overrides`` the process
        was started with (tests and the CLI), which beat the environment.
        """
        values: dict[str, Any] = {"mode": self.mode, "data_dir": self.platform.data_dir}
        values.update(self.overrides)
        return model.for_service(service, **values)

    def service_principal_header(self, service: str) -> dict[str, str]:
        """Headers a service sends when it calls another service on its own behalf.

        The principal is signed like the gateway's, so the callee verifies it the same way;
        it carries only the ``service`` role and a stable id derived from the caller's name.
        """
        principal = Principal(
            user_id=uuid.uuid5(SERVICE_NAMESPACE, service), roles=frozenset({Role.SERVICE})
        )
        return {PRINCIPAL_HEADER: self.codec.encode(principal, ttl=300)}

    def principal_resolver(self) -> PrincipalResolver:
        """The request authenticator every service app uses (signed header or bearer token)."""
        return PrincipalResolver(self.codec, self.token_verifier, cache=self.cache)

    def engine(self, service: str) -> AsyncEngine:
        """Return (creating once) the engine of ``service``'s own database."""
        if service not in self.engines:
            url: str = self.settings_for(service, PlatformSettings).database_url_for(service)
            self.engines[service] = create_engine(url)
        return self.engines[service]


@dataclass
class Subscription:
    """A consumer of integration events."""

    consumer: str
    schemas: Sequence[str]
    handler: MessageHandler


Worker = Callable[[], Coroutine[Any, Any, None]]


@dataclass
class ServiceRuntime:
    """What a built service hands to its host."""

    name: str
    app: FastAPI
    metadata: MetaData
    migrations: Path
    subscriptions: list[Subscription] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)
    dead_letter: Callable[[str, Envelope, str, int], Awaitable[None]] | None = None
    on_start: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    seed: Callable[[], Awaitable[int]] | None = None
    """Loads the demo data set if the service's database has none; returns rows written."""


@dataclass(frozen=True)
class ServiceSpec:
    """The facade a service package exports as ``service``."""

    name: str
    build: Callable[[HostContext], Awaitable[ServiceRuntime]]
    migrations: Path


@dataclass
class ServiceStore:
    """A service's database plumbing: engine, sessions, platform tables, outbox relay."""

    service: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    tables: dict[str, Table]
    relay: OutboxRelay

    def uow_kwargs(self, clock: Clock) -> dict[str, Any]:
        """Keyword arguments for :class:`SqlUnitOfWork` subclasses of this service."""
        return {
            "service": self.service,
            "sessions": self.sessions,
            "tables": self.tables,
            "on_commit": self.relay.wake,
            "clock": clock,
        }

    def unit_of_work(self, clock: Clock) -> SqlUnitOfWork:
        """A plain unit of work (no repositories)."""
        return SqlUnitOfWork(**self.uow_kwargs(clock))

    async def record_dead_letter(
        self, consumer: str, envelope: Envelope, error: str, deliveries: int
    ) -> None:
        """Park a message a consumer gave up on (in-process bus)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(self.tables["dead_letters"]).values(
                    consumer=consumer,
                    message_id=envelope.message_id,
                    schema=envelope.schema,
                    envelope=envelope.to_json_dict(),
                    error=error[:2000],
                    deliveries=deliveries,
                    dead_at=self.relay._clock.now(),
                )
            )

    def readiness(self, ctx: HostContext) -> dict[str, Callable[[], Awaitable[bool]]]:
        """The checks of a service's ``/readyz``: its database, the broker and the cache."""
        return {"database": self.ping, "broker": ctx.bus.is_healthy, "cache": ctx.cache.is_healthy}

    async def ping(self) -> bool:
        """Readiness: the database answers."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True


def service_store(ctx: HostContext, service: str, metadata: MetaData) -> ServiceStore:
    """Create the database plumbing of ``service`` and add the platform tables to its metadata."""
    tables = (
        {
            name: metadata.tables[name]
            for name in ("outbox", "inbox", "idempotency_keys", "dead_letters")
        }
        if "outbox" in metadata.tables
        else add_platform_tables(metadata)
    )
    engine = ctx.engine(service)
    poll = 0.5 if ctx.mode is Mode.EMBEDDED else 1.0
    relay = OutboxRelay(
        service=service,
        engine=engine,
        outbox=tables["outbox"],
        bus=ctx.bus,
        clock=ctx.clock,
        poll_interval=poll,
    )
    return ServiceStore(
        service=service,
        engine=engine,
        sessions=async_sessionmaker(engine, expire_on_commit=False),
        tables=tables,
        relay=relay,
    )


async def cancel_all(tasks: list[asyncio.Task[Any]], *, timeout: float = 10.0) -> None:
    """Cancel background tasks and wait (at most ``timeout`` seconds) for them to finish.

    A task that ignores its cancellation must not hang the process's shutdown: it is named
    in the log (so the bug is found) and left behind.
    """
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    if pending:
        log.error("host.tasks_ignored_cancellation",
                  tasks=sorted(task.get_name() for task in pending))
