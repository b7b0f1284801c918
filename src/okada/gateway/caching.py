"""Shared response cache for public GETs, invalidated by tag generations bumped from events."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import struct
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
import structlog

from okada.contracts.base import registered_schemas
from okada.gateway.compression import MIN_SIZE, add_vary, compressible, encode_body
from okada.gateway.proxy import UpstreamResponse
from okada.kernel.messages import Envelope
from okada.kernel.ports import Cache, MessageHandler

log = structlog.get_logger(__name__)

DEFAULT_TTL = 30.0
"""Seconds a cached response lives; events normally invalidate it much sooner."""

GENERATION_TTL = 86_400.0
"""Lifetime of a tag's generation counter. It must outlive every entry by far: when a counter
expires it restarts from zero, and an entry written under an old zero is long gone by then."""

MAX_ENTRY_BYTES = 512 * 1024
"""Larger bodies are not cached: they would crowd out many small hot entries."""

CONSUMER = "gateway-cache"
INVENTORY_DISPLAYED = frozenset({"inventory.v1.StockLevelChanged", "inventory.v1.LowStock"})
"""The inventory events that change a page (availability); reservations themselves do not, and
invalidating on them would empty a store's cached pages on every checkout."""

PER_LOCATION_PARAMS = frozenset({"lat", "lng"})
"""Answers for a GPS point are not cached: raw coordinates almost never repeat, so such entries
would only push hot ones out (and a memory cache would hold them until they are read again)."""

_ALLOWED_VARY = frozenset({b"accept-language", b"accept-encoding"})
_UNCACHEABLE_DIRECTIVES = (b"private", b"no-store", b"no-cache")
# Per-request or per-policy headers that must never be replayed to another caller.
_NOT_STORED = frozenset(
    {b"content-length", b"set-cookie", b"ratelimit", b"ratelimit-policy", b"retry-after", b"age"}
)


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """A stored response: status, headers (with ``ETag`` and ``Vary``) and the encoded body."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    etag: bytes

    def dumps(self) -> bytes:
        """Serialise as ``<meta length><meta JSON><body>``: the body stays raw bytes."""
        meta = orjson.dumps(
            {
                "s": self.status,
                "e": self.etag.decode("latin-1"),
                "h": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in self.headers],
            }
        )
        return struct.pack(">I", len(meta)) + meta + self.body

    @classmethod
    def loads(cls, data: bytes) -> CachedResponse:
        """Rebuild a response from :meth:`dumps` output."""
        (size,) = struct.unpack(">I", data[:4])
        meta = orjson.loads(data[4 : 4 + size])
        return cls(
            status=int(meta["s"]),
            headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in meta["h"]],
            body=data[4 + size :],
            etag=str(meta["e"]).encode("latin-1"),
        )

    def not_modified(self, if_none_match: bytes | None) -> bool:
        """Return whether ``If-None-Match`` names this response (weak comparison)."""
        if not if_none_match:
            return False
        if if_none_match.strip() == b"*":
            return True
        mine = _opaque(self.etag)
        return any(_opaque(tag) == mine for tag in if_none_match.split(b","))


def _opaque(etag: bytes) -> bytes:
    etag = etag.strip()
    return etag[2:] if etag.startswith(b"W/") else etag


def cache_tags(service: str, path: str, query: str) -> list[str]:
    """Tags of a cached response, derived from its path and query.

    ``/v1/catalog/stores/S/products`` is tagged ``catalog`` and ``catalog:store:S``;
    ``/v1/catalog/products/P`` gets ``catalog:product:P``; a ``store_id`` query parameter adds
    ``catalog:store:<id>`` (search results of one store).
    """
    tags = [service]
    parts = [p for p in path.split("/") if p]
    # /v1/<service>/<collection>/<id>/<collection>/<id>...
    body = parts[2:] if len(parts) > 2 and parts[1] == service else []
    for collection, item in zip(body[0::2], body[1::2], strict=False):
        tags.append(f"{service}:{_singular(collection)}:{item}")
    for key, value in parse_qsl(query, keep_blank_values=False):
        if key == "store_id":
            tags.append(f"catalog:store:{value}")
    return list(dict.fromkeys(tags))


def cacheable_query(query: str) -> bool:
    """Return whether a GET with this query string may use the cache (no GPS point in it)."""
    if "lat=" not in query and "lng=" not in query:
        return True  # the common case, decided without parsing
    return not any(key in PER_LOCATION_PARAMS for key, _ in parse_qsl(query, True))


def _singular(collection: str) -> str:
    if collection.endswith("ies"):
        return collection[:-3] + "y"
    return collection[:-1] if collection.endswith("s") else collection


def tags_for_event(envelope: Envelope) -> list[str]:
    """Which tags an integration event invalidates.

    An event naming a store only touches that store's entries (stock moves every order, so a
    global bump per order would empty the cache); one that names none touches the whole catalog.
    Search results show catalog data too, so catalog events also invalidate ``search``.
    """
    payload = envelope.payload
    raw_state = payload.get("state")
    state: dict[str, Any] = raw_state if isinstance(raw_state, dict) else {}
    schema = envelope.schema
    entity = str(payload.get("entity_id") or "")
    store_id = payload.get("store_id") or state.get("store_id")
    if not store_id and ".Store" in schema:
        store_id = entity
    product_id = payload.get("product_id") or state.get("product_id")
    if not product_id and ".Product" in schema:
        product_id = entity
    tags = [f"catalog:store:{store_id}" if store_id else "catalog"]
    if product_id:
        tags.append(f"catalog:product:{product_id}")
    if ".Store" in schema and store_id:
        tags.append("catalog")  # store lists show every store's name, hours and whether open
    if schema.startswith("catalog."):
        tags.append("search")
    return tags


class ResponseCache:
    """Stores anonymous GET responses in the :class:`~okada.kernel.ports.Cache` port.

    Invalidation uses one generation counter per tag: a response's key includes the current
    generation of each of its tags, so bumping a tag (one atomic ``INCR``) makes every entry
    carrying it unreachable at once, across every gateway process, without listing keys. The
    orphaned entries simply expire. A generation is read *before* the upstream call, so an
    entry filled from data older than an invalidation is stored under a generation nobody reads.

    Args:
        cache: The shared cache (Redis in distributed mode, memory in embedded mode).
        ttl: Seconds an entry lives.
        prefix: Key prefix of entries and generations.
        max_entry_bytes: Larger bodies are served but not stored.
        min_compress: Smallest body stored compressed.
    """

    def __init__(
        self,
        cache: Cache,
        *,
        ttl: float = DEFAULT_TTL,
        prefix: str = "gw:",
        max_entry_bytes: int = MAX_ENTRY_BYTES,
        min_compress: int = MIN_SIZE,
    ) -> None:
        self._cache = cache
        self.ttl = ttl
        self._prefix = prefix
        self._max_entry_bytes = max_entry_bytes
        self._min_compress = min_compress
        self._inflight: dict[str, asyncio.Future[CachedResponse | UpstreamResponse]] = {}

    async def key(
        self, path: str, query: str, language: str, encoding: str, tags: Sequence[str]
    ) -> str | None:
        """Return the entry key for a GET, or None when the cache cannot be reached."""
        try:
            generations = await asyncio.gather(
                *(self._cache.get(f"{self._prefix}gen:{tag}") for tag in tags)
            )
        except Exception as exc:  # a cache outage costs hit rate, never availability
            log.warning("gateway.cache_unavailable", error=repr(exc))
            return None
        normalised = "&".join(f"{k}={v}" for k, v in sorted(parse_qsl(query, True)))
        material = "\n".join(
            [
                "GET",
                path,
                normalised,
                language,
                encoding,
                *(f"{t}={(g or b'0').decode()}" for t, g in zip(tags, generations, strict=True)),
            ]
        )
        return f"{self._prefix}rc:{hashlib.blake2b(material.encode(), digest_size=16).hexdigest()}"

    async def get(self, key: str) -> CachedResponse | None:
        """Return the entry under ``key``, or None (absent, unreadable or cache down)."""
        try:
            data = await self._cache.get(key)
        except Exception as exc:
            log.warning("gateway.cache_unavailable", error=repr(exc))
            return None
        if data is None:
            return None
        try:
            return CachedResponse.loads(data)
        except (ValueError, KeyError, struct.error) as exc:
            log.warning("gateway.cache_entry_corrupt", key=key, error=repr(exc))
            return None

    async def put(self, key: str, entry: CachedResponse) -> None:
        """Store ``entry`` under ``key`` for the TTL; a cache outage is logged and ignored."""
        try:
            await self._cache.set(key, entry.dumps(), ttl=self.ttl)
        except Exception as exc:
            log.warning("gateway.cache_unavailable", error=repr(exc))

    async def fetch(
        self,
        key: str,
        encoding: str,
        load: Callable[[], Awaitable[UpstreamResponse]],
    ) -> tuple[CachedResponse | UpstreamResponse, bool]:
        """Return the entry under ``key`` or load, store and return it.

        Concurrent misses on one key in this process share one upstream call (single flight),
        so an expiring hot entry does not send a burst upstream.

        Returns:
            The response and whether it came from the cache.
        """
        hit = await self.get(key)
        if hit is not None:
            return hit, True
        leader = self._inflight.get(key)
        if leader is not None:
            try:
                return await asyncio.shield(leader), False
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                # The leader's caller went away; load for ourselves.
        future: asyncio.Future[CachedResponse | UpstreamResponse] = (
            asyncio.get_running_loop().create_future()
        )
        self._inflight[key] = future
        try:
            upstream = await load()
            entry = self.entry_from(upstream, encoding)
            if entry is not None:
                await self.put(key, entry)
            result: CachedResponse | UpstreamResponse = entry or upstream
            future.set_result(result)
            return result, False
        except BaseException as exc:
            if isinstance(exc, Exception):
                future.set_exception(exc)
                future.exception()  # retrieved here: followers may not exist
            else:
                future.cancel()
            raise
        finally:
            self._inflight.pop(key, None)

    def entry_from(self, upstream: UpstreamResponse, encoding: str) -> CachedResponse | None:
        """Build a storable entry from an upstream answer, or None when it must not be stored.

        Only complete 200 responses without cookies, ``private``/``no-store``/``no-cache`` and
        ``Vary`` beyond language and encoding are stored. The body is stored already encoded
        for the negotiated ``encoding``, so a hit costs no compression.
        """
        if upstream.status != 200 or upstream.stream is not None:
            return None
        if len(upstream.body) > self._max_entry_bytes:
            return None
        headers: list[tuple[bytes, bytes]] = []
        etag: bytes | None = None
        content_type = b""
        for name, value in upstream.headers:
            if name == b"set-cookie":
                return None
            if name == b"cache-control" and any(
                d in value.lower() for d in _UNCACHEABLE_DIRECTIVES
            ):
                return None
            if name == b"vary" and not {
                v.strip().lower() for v in value.split(b",")
            } <= _ALLOWED_VARY:
                return None
            if name == b"content-type":
                content_type = value
            if name == b"etag":
                etag = value
                continue
            if name not in _NOT_STORED:
                headers.append((name, value))
        body = upstream.body
        if etag is None:
            etag = b'W/"' + hashlib.blake2b(body, digest_size=12).hexdigest().encode() + b'"'
        if (
            encoding != "identity"
            and len(body) >= self._min_compress
            and compressible(content_type)
        ):
            body = encode_body(body, encoding)
            headers.append((b"content-encoding", encoding.encode()))
            if not etag.startswith(b"W/"):
                etag = b"W/" + etag  # the encoded bytes differ from the upstream's
        headers.append((b"etag", etag))
        headers = add_vary(headers, b"Accept-Language", b"Accept-Encoding")
        return CachedResponse(200, headers, body, etag)

    async def invalidate(self, tags: Sequence[str]) -> None:
        """Make every entry carrying any of ``tags`` unreachable (bumps their generations).

        Raises:
            Exception: The cache's error when it cannot be reached, so an event consumer
                retries the message instead of silently leaving stale entries.
        """
        unique = list(dict.fromkeys(tags))
        await asyncio.gather(
            *(self._cache.incr(f"{self._prefix}gen:{tag}", ttl=GENERATION_TTL) for tag in unique)
        )
        log.info("gateway.cache_invalidated", tags=unique)


def invalidating_schemas() -> list[str]:
    """Catalog events and the inventory events that change availability (imports the contracts)."""
    for module in ("okada.contracts.catalog.v1", "okada.contracts.inventory.v1"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError:
            continue  # that service's contracts are not written yet
    return sorted(
        s
        for s in registered_schemas()
        if s.startswith("catalog.") or s in INVENTORY_DISPLAYED
    )


def gateway_cache_subscription(
    cache: Cache | ResponseCache, *, schemas: Sequence[str] | None = None
) -> tuple[str, list[str], MessageHandler]:
    """The consumer the runtime subscribes to the bus to keep the response cache fresh.

    Args:
        cache: The gateway's :class:`ResponseCache`, or the shared cache it is built on (the
            generations live there, so any gateway process can invalidate for all of them).
        schemas: Event schemas to consume; by default every catalog and inventory schema.

    Returns:
        ``(consumer name, schemas, handler)`` for ``MessageBus.subscribe``.
    """
    responses = cache if isinstance(cache, ResponseCache) else ResponseCache(cache)

    async def handle(envelope: Envelope) -> None:
        await responses.invalidate(tags_for_event(envelope))

    chosen = list(schemas) if schemas is not None else invalidating_schemas()
    return CONSUMER, chosen, handle
