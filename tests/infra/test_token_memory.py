"""Verified access tokens are remembered until they expire; revocation is never remembered."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from okada.infra.security import tokens as tokens_module
from okada.infra.security.tokens import AccessTokenVerifier, JwksCache
from okada.kernel.errors import Unauthenticated
from tests.gateway.support import TokenIssuer


def counting_decode(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = jwt.decode

    def decode(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tokens_module.jwt, "decode", decode)
    return calls


async def test_a_token_is_verified_once_and_then_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = counting_decode(monkeypatch)
    issuer = TokenIssuer()
    verifier = issuer.verifier()
    user = uuid.uuid4()
    token = issuer.token(user)
    first = await verifier.verify_token(token)
    second = await verifier.verify_token(token)
    assert first is second
    assert first.principal.user_id == user
    assert len(calls) == 1


async def test_an_altered_token_is_verified_in_full_and_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    issuer = TokenIssuer()
    verifier = issuer.verifier()
    token = issuer.token()
    await verifier.verify_token(token)
    header, payload, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    with pytest.raises(Unauthenticated):
        await verifier.verify_token(f"{header}.{payload}.{flipped}")


async def test_a_remembered_token_is_dropped_at_its_expiry() -> None:
    issuer = TokenIssuer()
    now = [time.time()]

    async def fetch() -> dict[str, object]:
        return issuer.jwks

    verifier = AccessTokenVerifier(JwksCache(fetch), clock=lambda: now[0])
    token = issuer.token(ttl=60)
    await verifier.verify_token(token)
    now[0] += 61  # the memory says expired; PyJWT (real clock, 30 s leeway) still accepts
    again = await verifier.verify_token(token)
    assert again.expires_at > time.time()
    assert len(verifier._verified) == 1


async def test_a_remembered_token_dies_with_its_key() -> None:
    issuer = TokenIssuer()
    verifier = issuer.verifier()
    token = issuer.token()
    await verifier.verify_token(token)
    issuer.jwks = {"keys": []}  # the key was retired from the JWKS...
    verifier.jwks.load(issuer.jwks)  # ...and the verifier refreshed it
    with pytest.raises(Unauthenticated):
        await verifier.verify_token(token)


async def test_the_memory_is_bounded() -> None:
    issuer = TokenIssuer()

    async def fetch() -> dict[str, object]:
        return issuer.jwks

    verifier = AccessTokenVerifier(JwksCache(fetch), cache_size=3)
    tokens = [issuer.token() for _ in range(5)]
    for token in tokens:
        await verifier.verify_token(token)
    assert list(verifier._verified) == tokens[2:]
