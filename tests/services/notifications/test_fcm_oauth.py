"""FCM HTTP v1 needs OAuth access tokens minted from a service account, renewed before expiry."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from okada.contracts.orders.v1 import OrderConfirmed
from okada.services.notifications.adapters.fcm_auth import (
    ServiceAccount,
    ServiceAccountTokens,
    TokenUnavailable,
)
from tests.services.notifications.conftest import Notif, order_state

TOKEN_URI = "http://simulators.internal/_sim/push/oauth2/token"
EMAIL = "okada-push@okada-prod.iam.gserviceaccount.com"


def service_account_json(token_uri: str = TOKEN_URI) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return json.dumps({"type": "service_account", "client_email": EMAIL,
                       "private_key": pem, "token_uri": token_uri})


@pytest.fixture
def env() -> dict[str, str]:
    return {"NOTIFICATIONS_FCM_SERVICE_ACCOUNT_JSON": service_account_json()}


async def test_pushes_carry_an_access_token_minted_from_the_service_account(notif: Notif) -> None:
    customer = await notif.user(language="en")
    token = await notif.device(customer)
    for _ in range(2):
        state = order_state(customer, status="CONFIRMED")
        await notif.publish(OrderConfirmed(entity_id=uuid.uuid4(), version=2, state=state))
        await notif.dispatch()
    pushes = await notif.pushes(token)
    issued = notif.platform.state.simulators.state.push.issued_access_tokens
    assert len(pushes) == 2
    # One exchange at Google's token endpoint, reused while it is valid.
    assert len(issued) == 1
    assert {p["access_token"] for p in pushes} == set(issued)
    assert set(issued.values()) == {EMAIL}


async def test_the_token_is_renewed_before_it_expires(notif: Notif) -> None:
    now = [1_800_000_000.0]
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=notif.platform.state.simulators))
    tokens = ServiceAccountTokens(ServiceAccount.from_json(service_account_json()), client,
                                  now=lambda: now[0])
    async with client:
        first = await tokens.token()
        now[0] += 3599 - 301  # still valid for more than the 5-minute margin
        assert await tokens.token() == first
        now[0] += 2  # inside the margin: a new assertion is exchanged
        second = await tokens.token()
    assert second != first


async def test_a_refused_exchange_is_a_retryable_failure_not_a_crash(notif: Notif) -> None:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=notif.platform.state.simulators))
    wrong = "http://simulators.internal/_sim/push/oauth2/wrong-audience"
    tokens = ServiceAccountTokens(ServiceAccount.from_json(service_account_json(wrong)), client)
    async with client:
        with pytest.raises(TokenUnavailable):
            await tokens.token()
