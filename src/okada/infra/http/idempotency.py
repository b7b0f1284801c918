"""``Idempotency-Key`` on unsafe requests: the first final outcome is stored and replayed.

Stripe semantics (reference: reliability-security.md §A1), enforced once for every route of a
service as a pure-ASGI middleware sitting inside :class:`~okada.infra.http.middleware.
EdgeMiddleware` (so the body limit, request ids and access log still apply to it):

- ``POST`` requests may carry the key, ``PATCH``/``DELETE`` too; paths listed in
  ``required_paths`` refuse a ``POST`` without one (400 ``idempotency_key_required``).
- Keys are 20 to 255 characters (400 ``idempotency_key_invalid``).
- The first request claims ``(scope, key)`` by inserting the row with a lock in its own committed
  transaction; the primary key makes concurrent duplicates collide, and the losers get the stored
  response when it exists, else 409 ``idempotency_key_in_use`` with ``Retry-After: 1``.
- The same key with another request (method, path, query or body) is 422
  ``idempotency_key_mismatch`` and runs nothing.
- Final outcomes (below 500, except the "try again" statuses 408, 425 and 429) are stored and
  replayed byte for byte with ``Idempotent-Replayed: true``. A 5xx, an exception or a
  cancellation deletes the row, so the retry runs again.
- A lock older than ``lock_seconds`` belongs to a request that died: the next retry takes it over.
- Rows older than ``retention_hours`` count as absent; :meth:`IdempotencyStore.purge_expired`
  deletes them and is meant to be called periodically by a service worker.

Scope (who a key belongs to), in order: the user id of a valid signed principal header (what the
gateway sends), else ``token:`` and a hash of the ``Authorization`` header (a client calling the
service directly with a bearer token: the token is not verified here, hashing it only keeps one
caller's stored responses away from another), else ``anon:`` and the client IP (the first
``X-Forwarded-For`` hop, which the gateway overwrites, else the socket peer). Anonymous callers
behind one IP share a scope; keys are high-entropy client secrets, so that only matters to a
caller who already knows another's key.

The stored outcome is written after the endpoint's own transaction has committed, not inside it:
a crash between the two leaves a lock that expires after ``lock_seconds`` and the retry then runs
again. Endpoints whose effects must never repeat also keep a natural unique key (for example the
client-generated order id), as §A1 requires.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import re
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from sqlalchemy import Table, and_, delete, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from okada.infra.http.problems import problem_response
from okada.infra.i18n import negotiate
from okada.infra.security.internal import PRINCIPAL_HEADER, PrincipalCodec
from okada.kernel.clock import Clock, SystemClock

log = structlog.get_logger(__name__)

IDEMPOTENCY_HEADER = b"idempotency-key"
REPLAYED_HEADER = b"idempotent-replayed"
MIN_KEY_LENGTH = 20  # Brandur's entropy floor
MAX_KEY_LENGTH = 255  # Stripe's limit and the column width
DEFAULT_RETENTION_HOURS = 72.0
DEFAULT_LOCK_SECONDS = 90.0

_KEYED_METHODS = frozenset({"POST", "PATCH", "DELETE"})
_STORED_HEADERS = frozenset(
    {b"content-type", b"content-language", b"location", b"etag", b"last-modified"}
)
"""Response headers worth replaying; per-request ones (ids, trace context, cookies) are not."""
_RETRY_STATUSES = frozenset({408, 425, 429})
"""Below 500 but telling the client to try again later: storing them would replay the refusal."""
_CLAIM_ATTEMPTS = 5


@dataclass(frozen=True)
class StoredResponse:
    """A response as it is replayed."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass(frozen=True)
class Claimed:
    """The caller owns the key; ``token`` (its lock time) proves it when completing."""

    token: dt.datetime


@dataclass(frozen=True)
class Replay:
    """The key already has a final outcome for this same request."""

    response: StoredResponse


@dataclass(frozen=True)
class Refused:
    """The request may not run: key used for another request (422) or still in flight (409)."""

    status: int
    code: str


ClaimResult = Claimed | Replay | Refused


class IdempotencyStore:
    """The ``idempotency_keys`` rows: claim, complete, release and purge.

    Every method runs its own short transaction, never the endpoint's, so a key is visible to
    concurrent requests as soon as it is claimed.
    """

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        table: Table,
        clock: Clock | None = None,
        retention_hours: float = DEFAULT_RETENTION_HOURS,
        lock_seconds: float = DEFAULT_LOCK_SECONDS,
    ) -> None:
        self.engine = engine
        # Claim and complete are single statements: on PostgreSQL run them in autocommit,
        # which spares the BEGIN and COMMIT round trips (a lone statement is atomic on its
        # own). Multi-statement paths (a conflicting claim: read, then delete or take over)
        # keep a transaction. SQLite keeps its explicit BEGIN IMMEDIATE (engine settings).
        self._autocommit = engine.dialect.name == "postgresql"
        self._single = (engine.execution_options(isolation_level="AUTOCOMMIT")
                        if self._autocommit else engine)
        self.table = table
        self.clock: Clock = clock or SystemClock()
        self.retention = dt.timedelta(hours=retention_hours)
        self.lock_timeout = dt.timedelta(seconds=lock_seconds)

    def _one_statement(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for one statement: autocommit on PostgreSQL, a transaction on SQLite."""
        return self._single.connect() if self._autocommit else self.engine.begin()

    def _row(self, scope: str, key: str) -> ColumnElement[bool]:
        return and_(self.table.c.scope == scope, self.table.c.key == key)

    def _locked_by(self, token: dt.datetime | None) -> ColumnElement[bool]:
        if token is None:
            return self.table.c.locked_at.is_(None)
        return self.table.c.locked_at == token

    async def claim(self, scope: str, key: str, fingerprint: str) -> ClaimResult:
        """Take the key for this request, or say why not (stored outcome, mismatch, in flight)."""
        t = self.table
        for _ in range(_CLAIM_ATTEMPTS):
            now = self.clock.now()
            try:
                async with self._one_statement() as conn:
                    await conn.execute(
                        insert(t).values(
                            scope=scope,
                            key=key,
                            fingerprint=fingerprint,
                            created_at=now,
                            locked_at=now,
                        )
                    )
                return Claimed(now)
            except IntegrityError:
                pass  # the key exists: decide from the row below
            async with self.engine.begin() as conn:
                row = (await conn.execute(select(t).where(self._row(scope, key)))).one_or_none()
                if row is None:
                    continue  # released (5xx) or purged since our insert failed: try again
                current = row._mapping
                if current["created_at"] <= now - self.retention:
                    # Expired keys are new requests; the guard on created_at keeps a concurrent
                    # request's fresh row from being deleted by mistake.
                    await conn.execute(
                        delete(t).where(
                            self._row(scope, key), t.c.created_at == current["created_at"]
                        )
                    )
                    continue
                if current["fingerprint"] != fingerprint:
                    return Refused(422, "idempotency_key_mismatch")
                if current["response_status"] is not None:
                    return Replay(_decode_response(current))
                locked_at: dt.datetime | None = current["locked_at"]
                if locked_at is not None and locked_at > now - self.lock_timeout:
                    return Refused(409, "idempotency_key_in_use")
                # Stale lock: its request died without an outcome. Compare-and-set on the old
                # lock so only one of several retries takes it over.
                taken = await conn.execute(
                    update(t)
                    .where(
                        self._row(scope, key),
                        self._locked_by(locked_at),
                        t.c.response_status.is_(None),
                    )
                    .values(locked_at=now)
                )
                if taken.rowcount == 1:
                    log.warning("idempotency.stale_lock_taken_over", scope=scope, key=key)
                    return Claimed(now)
        return Refused(409, "idempotency_key_in_use")

    async def complete(
        self, scope: str, key: str, token: dt.datetime, response: StoredResponse
    ) -> bool:
        """Store the final outcome and unlock; False when the lock was taken over meanwhile."""
        encoding, text = _encode_body(response.body)
        headers = [
            [name.decode("latin-1"), value.decode("latin-1")] for name, value in response.headers
        ]
        async with self._one_statement() as conn:
            result = await conn.execute(
                update(self.table)
                .where(
                    self._row(scope, key),
                    self._locked_by(token),
                    self.table.c.response_status.is_(None),
                )
                .values(
                    locked_at=None,
                    response_status=response.status,
                    response_headers={"headers": headers, "encoding": encoding},
                    response_body=text,
                )
            )
        return bool(result.rowcount == 1)

    async def release(self, scope: str, key: str, token: dt.datetime) -> None:
        """Forget an unfinished claim so that a retry runs the request again."""
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(self.table).where(
                    self._row(scope, key),
                    self._locked_by(token),
                    self.table.c.response_status.is_(None),
                )
            )

    async def purge_expired(self) -> int:
        """Delete keys past retention (they already count as absent) and return how many."""
        cutoff = self.clock.now() - self.retention
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(self.table).where(self.table.c.created_at <= cutoff))
        return int(result.rowcount or 0)


@dataclass
class IdempotencyOptions:
    """What :func:`~okada.infra.http.app.create_service_app` needs to add the middleware.

    The principal codec comes from the app's resolver. Keep the object to purge expired keys
    from a worker (:meth:`purge_expired`, or run :meth:`reaper` as one).
    """

    engine: AsyncEngine
    table: Table
    clock: Clock | None = None
    retention_hours: float = DEFAULT_RETENTION_HOURS
    lock_seconds: float = DEFAULT_LOCK_SECONDS
    required_paths: tuple[str, ...] = ()
    store: IdempotencyStore = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.store = IdempotencyStore(
            engine=self.engine,
            table=self.table,
            clock=self.clock,
            retention_hours=self.retention_hours,
            lock_seconds=self.lock_seconds,
        )

    def middleware_kwargs(self, codec: PrincipalCodec) -> dict[str, Any]:
        """Keyword arguments for :class:`IdempotencyMiddleware`."""
        return {"store": self.store, "codec": codec, "required_paths": self.required_paths}

    async def purge_expired(self) -> int:
        """Delete keys past retention; see :meth:`IdempotencyStore.purge_expired`."""
        return await self.store.purge_expired()

    async def reaper(self, interval_seconds: float = 3600.0) -> None:
        """Worker loop: purge expired keys every ``interval_seconds`` until cancelled."""
        while True:
            try:
                purged = await self.purge_expired()
                if purged:
                    log.info("idempotency.purged", count=purged)
            except Exception as exc:
                log.warning("idempotency.purge_failed", error=repr(exc))
            await asyncio.sleep(interval_seconds)


class IdempotencyMiddleware:
    """Stripe-style ``Idempotency-Key`` handling for every route of an app (see module doc).

    Pure ASGI like the edge middleware: it buffers the request body (to fingerprint it) and the
    response (to store it before the client sees it, so an immediate retry finds the outcome).
    Either pass ``store`` or ``engine`` and ``table`` (plus ``clock`` and the durations).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        codec: PrincipalCodec,
        engine: AsyncEngine | None = None,
        table: Table | None = None,
        clock: Clock | None = None,
        retention_hours: float = DEFAULT_RETENTION_HOURS,
        lock_seconds: float = DEFAULT_LOCK_SECONDS,
        required_paths: Sequence[str] = (),
        store: IdempotencyStore | None = None,
    ) -> None:
        if store is None:
            if engine is None or table is None:
                raise ValueError("IdempotencyMiddleware needs a store, or an engine and a table")
            store = IdempotencyStore(
                engine=engine,
                table=table,
                clock=clock,
                retention_hours=retention_hours,
                lock_seconds=lock_seconds,
            )
        self.app = app
        self.codec = codec
        self.store = store
        self.required_paths = tuple(re.compile(p) for p in required_paths)
        self._background: set[asyncio.Task[None]] = set()

    async def purge_expired(self) -> int:
        """Delete keys past retention and return how many (for a periodic worker)."""
        return await self.store.purge_expired()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _KEYED_METHODS:
            await self.app(scope, receive, send)
            return
        headers = _header_map(scope)
        raw_key = headers.get(IDEMPOTENCY_HEADER)
        if raw_key is None:
            if scope["method"] == "POST" and self._required(scope["path"]):
                await self._problem(scope, receive, send, headers, 400, "idempotency_key_required")
                return
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1").strip()
        if not MIN_KEY_LENGTH <= len(key) <= MAX_KEY_LENGTH:
            await self._problem(scope, receive, send, headers, 400, "idempotency_key_invalid")
            return

        body = await _read_body(receive)
        if body is None:
            return  # the client left before sending its body: nothing ran, nothing to answer
        owner = self._scope_of(scope, headers)
        fingerprint = _fingerprint(scope, headers, body)

        claim = await self.store.claim(owner, key, fingerprint)
        if isinstance(claim, Replay):
            await _send_stored(send, claim.response)
            return
        if isinstance(claim, Refused):
            extra = {"Retry-After": "1"} if claim.status == 409 else None
            await self._problem(scope, receive, send, headers, claim.status, claim.code, extra)
            return

        status, response_headers, chunks = await self._run(
            scope, _replaying(body, receive), owner, key, claim.token
        )
        if status is None:
            # The app returned without answering; nothing to store, let a retry run it again.
            await self._release_quietly(owner, key, claim.token)
            return
        response_body = b"".join(chunks)
        if status >= 500 or status in _RETRY_STATUSES:
            # Quietly: a failing database is a likely cause of the 5xx, and the client should
            # still get the app's answer; an unreleased lock only delays the retry.
            await self._release_quietly(owner, key, claim.token)
        else:
            stored = StoredResponse(
                status=status,
                headers=[(n, v) for n, v in response_headers if n.lower() in _STORED_HEADERS],
                body=response_body,
            )
            try:
                if not await self.store.complete(owner, key, claim.token, stored):
                    log.warning("idempotency.lock_lost", scope=owner, key=key, status=status)
            except Exception as exc:
                # The effect is done and the client deserves its answer; the lock expires and
                # a later retry runs again, which natural unique keys must absorb.
                log.error("idempotency.store_failed", scope=owner, key=key, error=repr(exc))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": response_body})

    async def _run(
        self, scope: Scope, receive: Receive, owner: str, key: str, token: dt.datetime
    ) -> tuple[int | None, list[tuple[bytes, bytes]], list[bytes]]:
        status: int | None = None
        response_headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, response_headers
            if message["type"] == "http.response.start":
                status = int(message["status"])
                response_headers = [(bytes(n), bytes(v)) for n, v in message.get("headers", [])]
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))

        try:
            await self.app(scope, receive, capture)
        except BaseException:
            # Unhandled error or cancellation: no final outcome, so unlock for the retry. The
            # release is shielded because a cancelled task may be cancelled again while awaiting.
            task = asyncio.ensure_future(self._release_quietly(owner, key, token))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            # Cancelled again while waiting: the shielded release still finishes on its own.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)
            raise
        return status, response_headers, chunks

    async def _release_quietly(self, owner: str, key: str, token: dt.datetime) -> None:
        try:
            await self.store.release(owner, key, token)
        except Exception as exc:
            log.error("idempotency.release_failed", scope=owner, key=key, error=repr(exc))

    def _required(self, path: str) -> bool:
        return any(pattern.fullmatch(path) for pattern in self.required_paths)

    def _scope_of(self, scope: Scope, headers: Mapping[bytes, bytes]) -> str:
        principal_header = headers.get(PRINCIPAL_HEADER.encode())
        principal = self.codec.decode(
            principal_header.decode("latin-1") if principal_header else None
        )
        if principal is not None:
            return str(principal.user_id)
        authorization = headers.get(b"authorization")
        if authorization:
            return "token:" + hashlib.sha256(authorization).hexdigest()[:40]
        forwarded = headers.get(b"x-forwarded-for", b"").decode("latin-1").split(",")[0].strip()
        client = scope.get("client")
        ip = forwarded or (str(client[0]) if client else "unknown")
        return "anon:" + ip[:90]

    async def _problem(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: Mapping[bytes, bytes],
        status: int,
        code: str,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        language = negotiate(headers.get(b"accept-language", b"").decode("latin-1") or None)
        response = problem_response(
            status, code, language, instance=scope["path"], headers=extra_headers
        )
        await response(scope, receive, send)


def _header_map(scope: Scope) -> dict[bytes, bytes]:
    return {bytes(name).lower(): bytes(value) for name, value in scope["headers"]}


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(bytes(message.get("body", b"")))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the buffered body to the app, then defers to the server."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _canonical_body(headers: Mapping[bytes, bytes], body: bytes) -> bytes:
    """JSON with sorted keys and no whitespace (so key order and spacing don't count), else raw."""
    if b"json" in headers.get(b"content-type", b"").lower() and body:
        try:
            return orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
        except orjson.JSONDecodeError:
            pass  # malformed JSON is fingerprinted as sent; the app will refuse it anyway
    return body


def _fingerprint(scope: Scope, headers: Mapping[bytes, bytes], body: bytes) -> str:
    """SHA-256 over method, path, query string and the SHA-256 of the canonical body."""
    digest = hashlib.sha256()
    digest.update(scope["method"].encode())
    digest.update(b"\n")
    digest.update(scope["path"].encode("utf-8", "surrogateescape"))
    digest.update(b"?")
    digest.update(bytes(scope.get("query_string", b"")))
    digest.update(b"\n")
    digest.update(hashlib.sha256(_canonical_body(headers, body)).digest())
    return digest.hexdigest()


def _encode_body(body: bytes) -> tuple[str, str]:
    """Text column friendly form: UTF-8 as is, anything else (or with NUL) as base64."""
    if b"\x00" not in body:
        try:
            return "utf-8", body.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return "base64", base64.b64encode(body).decode("ascii")


def _decode_response(row: RowMapping) -> StoredResponse:
    meta: dict[str, Any] = row["response_headers"] or {}
    text: str = row["response_body"] or ""
    body = base64.b64decode(text) if meta.get("encoding") == "base64" else text.encode("utf-8")
    headers = [
        (str(name).encode("latin-1"), str(value).encode("latin-1"))
        for name, value in meta.get("headers", [])
    ]
    return StoredResponse(status=int(row["response_status"]), headers=headers, body=body)


async def _send_stored(send: Send, response: StoredResponse) -> None:
    headers = [
        *response.headers,
        (b"content-length", str(len(response.body)).encode()),
        (REPLAYED_HEADER, b"true"),
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
