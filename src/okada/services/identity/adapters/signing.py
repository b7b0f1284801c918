"""Ed25519 signing keys kept in the identity database, sealed with the platform secret."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import secrets
import time
from collections.abc import Sequence
from typing import Any

import jwt
import structlog
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from okada.kernel.clock import Clock
from okada.services.identity.adapters.orm import signing_keys

log = structlog.get_logger(__name__)

ROTATION_OVERLAP = dt.timedelta(minutes=20)
"""A retired key stays published longer than the longest access-token life (10 min)."""

RELOAD_AFTER_SECONDS = 60.0
"""How stale this replica's view of the keys may get before it reads them again."""


class KeyRing:
    """Signs access tokens with the newest key and publishes the JWKS.

    Rotation: :meth:`rotate` adds a new key that signs from then on; the previous key stays
    in the JWKS for ``ROTATION_OVERLAP`` so tokens it signed stay verifiable. Private keys
    are stored encrypted (Fernet, key derived from the platform secret).

    Several replicas share the keys table: each re-reads it when its copy is older than
    ``RELOAD_AFTER_SECONDS`` (before signing; in the background when serving the JWKS), so a
    rotation done on one replica reaches the others within a minute, well inside the
    overlap during which the old key still verifies.
    """

    def __init__(self, engine: AsyncEngine, *, secret: str, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        derived = hashlib.sha256(b"okada-identity-seal:" + secret.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))
        self._current: tuple[str, Ed25519PrivateKey] | None = None
        self._jwks: dict[str, Any] = {"keys": []}
        self._loaded_at = 0.0
        self._reload: asyncio.Task[None] | None = None

    def seal(self, secret: str) -> str:
        """Encrypt a short secret for storage."""
        return self._fernet.encrypt(secret.encode()).decode()

    def unseal(self, sealed: str) -> str:
        """Decrypt a sealed secret."""
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("sealed value does not decrypt with this secret") from exc

    async def load(self) -> None:
        """Load keys, creating the first one if the database has none."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(select(signing_keys).order_by(signing_keys.c.created_at))
            ).all()
        if not any(r.retired_at is None for r in rows):
            await self.rotate()
            return
        self._apply(rows)

    def _apply(self, rows: Sequence[Any]) -> None:
        now = self._clock.now()
        active = [r for r in rows if r.retired_at is None]
        newest = active[-1]
        pem = self.unseal(newest.private_pem_sealed).encode()
        key = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(key, Ed25519PrivateKey)
        self._current = (newest.kid, key)
        self._jwks = {
            "keys": [
                r.public_jwk
                for r in rows
                if r.retired_at is None or now - r.retired_at < ROTATION_OVERLAP
            ]
        }
        self._loaded_at = time.monotonic()

    async def _background_load(self) -> None:
        try:
            await self.load()
        except Exception as exc:  # keep serving the keys we have; the next call retries
            log.warning("keys.reload_failed", error=repr(exc))

    def _stale(self) -> bool:
        return time.monotonic() - self._loaded_at > RELOAD_AFTER_SECONDS

    async def rotate(self) -> str:
        """Create a new signing key and retire the previous ones; return the new ``kid``."""
        now = self._clock.now()
        key = Ed25519PrivateKey.generate()
        kid = secrets.token_urlsafe(12)
        public = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
        public.update({"kid": kid, "alg": "EdDSA", "use": "sig"})
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        async with self._engine.begin() as conn:
            await conn.execute(
                update(signing_keys)
                .where(signing_keys.c.retired_at.is_(None))
                .values(retired_at=now)
            )
            await conn.execute(
                insert(signing_keys).values(
                    kid=kid, private_pem_sealed=self.seal(pem), public_jwk=public, created_at=now
                )
            )
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(select(signing_keys).order_by(signing_keys.c.created_at))
            ).all()
        self._apply(rows)
        return kid

    def jwks(self) -> dict[str, Any]:
        """The public keys to publish (a stale copy is served while a reload runs)."""
        if self._stale() and (self._reload is None or self._reload.done()):
            try:
                self._reload = asyncio.get_running_loop().create_task(self._background_load())
            except RuntimeError:  # no loop (called from sync code): serve what we have
                pass
        return self._jwks

    async def sign(self, claims: dict[str, Any]) -> str:
        """Sign ``claims`` as an access token (``typ: at+jwt``)."""
        if self._current is None:
            await self.load()
        elif self._stale():
            # Refresh in the background and sign with the key we hold: sign() runs inside
            # the caller's unit of work, and on SQLite a second connection waiting for the
            # file's write lock that this very transaction holds would deadlock it.
            self.jwks()
        assert self._current is not None
        kid, key = self._current
        return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid, "typ": "at+jwt"})
