"""Mobile-money provider adapters over httpx: MTN MoMo Open API and Orange Money Cameroon "mp".

Provider replies are untrusted input (OWASP API10): every call has a deadline enforced here
(also for in-process ASGI transports, which ignore httpx timeouts), redirects are never
followed, bodies are read up to a size cap and parsed defensively. Anything unexpected is an
*unknown* outcome that leaves the payment pending for the poller. Logs name the provider,
the operation, the HTTP status and the kind of error, never headers, bodies, keys, the
merchant PIN or a full phone number.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import structlog

from okada.kernel.clock import Clock
from okada.services.payments.application.model import PayoutRecord, RefundRecord
from okada.services.payments.application.ports import Submission
from okada.services.payments.domain.attempts import (
    UNKNOWN,
    Attempt,
    Outcome,
    ProviderStatus,
    read_momo_status,
    read_orange_status,
)

log = structlog.get_logger(__name__)

TOKEN_EARLY_REFRESH = dt.timedelta(minutes=10)
MOMO_DEFINITIVE_500 = frozenset({
    "NOT_ALLOWED", "NOT_ALLOWED_TARGET_ENVIRONMENT", "INVALID_CALLBACK_URL_HOST",
    "INVALID_CURRENCY",
})


@dataclass(frozen=True, slots=True)
class Reply:
    """A provider reply reduced to what we may trust: status, parsed JSON, error kind."""

    status: int | None
    body: Any = None
    error: str | None = None  # timeout, transport, redirect, too_large, malformed


class ProviderHttp:
    """Bounded HTTP calls to one provider (base client + path prefix)."""

    def __init__(self, client: httpx.AsyncClient, prefix: str, *, provider: str,
                 timeout_seconds: float, max_body_bytes: int) -> None:
        self._client = client
        self._prefix = prefix.rstrip("/")
        self._provider = provider
        self._timeout = timeout_seconds
        self._max = max_body_bytes

    async def call(self, method: str, path: str, *, operation: str,
                   headers: dict[str, str], json: Any = None,
                   data: dict[str, str] | None = None) -> Reply:
        """Send one request; never raises for anything the provider or network does."""
        status: int | None = None
        raw = b""
        error: str | None = None
        try:
            async with asyncio.timeout(self._timeout):
                content = orjson.dumps(json) if json is not None else None
                if content is not None:
                    headers = {**headers, "content-type": "application/json"}
                request = self._client.build_request(
                    method, self._prefix + path, headers=headers, content=content, data=data,
                    timeout=self._timeout)
                response = await self._client.send(request, stream=True, follow_redirects=False)
                try:
                    status = response.status_code
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > self._max:
                            error = "too_large"
                            break
                        chunks.append(chunk)
                    raw = b"".join(chunks)
                finally:
                    await response.aclose()
        except TimeoutError:
            error = "timeout"
        except httpx.HTTPError as exc:
            error = f"transport:{type(exc).__name__}"
        body: Any = None
        if error is None and status is not None and 300 <= status < 400:
            error = "redirect"
        if error is None and raw:
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                error = "malformed"
        if error is not None or (status is not None and status >= 500):
            log.warning("payments.provider_error", provider=self._provider, operation=operation,
                        http_status=status, error=error)
        return Reply(status=status, body=None if error else body, error=error)


def _code(body: Any) -> str | None:
    if isinstance(body, dict):
        code = body.get("code")
        if isinstance(code, str):
            return code[:64]
    return None


def _message(text: str) -> str:
    """MoMo refuses apostrophes and ``&`` and more than 160 characters in messages."""
    return "".join(c for c in text if c not in "'&\"")[:160]


class _TokenCache:
    """One bearer token per product, refreshed ten minutes before it expires."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._tokens: dict[str, tuple[str, dt.datetime]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def get(self, product: str) -> str | None:
        held = self._tokens.get(product)
        if held is None or held[1] <= self._clock.now():
            return None
        return held[0]

    def put(self, product: str, token: str, expires_in: int) -> None:
        lifetime = dt.timedelta(seconds=max(1, expires_in))
        early = min(TOKEN_EARLY_REFRESH, lifetime / 2)
        self._tokens[product] = (token, self._clock.now() + lifetime - early)

    def drop(self, product: str) -> None:
        self._tokens.pop(product, None)

    def lock(self, product: str) -> asyncio.Lock:
        return self._locks.setdefault(product, asyncio.Lock())


def _read_token(reply: Reply) -> tuple[str, int] | None:
    body = reply.body
    if reply.status != 200 or not isinstance(body, dict):
        return None
    token, expires = body.get("access_token"), body.get("expires_in")
    if not isinstance(token, str) or not token or len(token) > 4096:
        return None
    if isinstance(expires, int) and not isinstance(expires, bool):
        return token, expires
    if isinstance(expires, str) and expires.isdigit():
        return token, int(expires)
    return token, 3600


@dataclass(frozen=True)
class MomoCredentials:
    """MTN MoMo API user, key and one subscription key per product (secrets)."""

    api_user: str
    api_key: str
    collection_key: str
    disbursement_key: str
    target_environment: str
    currency: str


class MomoGateway:
    """MTN MoMo Collection (RequestToPay) and Disbursement (refund)."""

    needs_prepare = False

    def __init__(self, http: ProviderHttp, credentials: MomoCredentials, clock: Clock) -> None:
        self._http = http
        self._c = credentials
        self._tokens = _TokenCache(clock)

    def _key(self, product: str) -> str:
        return self._c.collection_key if product == "collection" else self._c.disbursement_key

    async def _token(self, product: str) -> str | None:
        token = self._tokens.get(product)
        if token is not None:
            return token
        async with self._tokens.lock(product):
            token = self._tokens.get(product)
            if token is not None:
                return token
            basic = base64.b64encode(f"{self._c.api_user}:{self._c.api_key}".encode()).decode()
            reply = await self._http.call(
                "POST", f"/{product}/token/", operation=f"{product}.token",
                headers={"authorization": f"Basic {basic}",
                         "ocp-apim-subscription-key": self._key(product)})
            parsed = _read_token(reply)
            if parsed is None:
                log.warning("payments.provider_token_failed", provider="mtn_momo",
                            product=product, http_status=reply.status)
                return None
            self._tokens.put(product, *parsed)
            return parsed[0]

    async def _call(self, method: str, product: str, path: str, *, operation: str,
                    json: Any = None, reference: str | None = None,
                    callback_url: str | None = None) -> Reply:
        for attempt in range(2):
            token = await self._token(product)
            if token is None:
                return Reply(status=None, error="token")
            headers = {
                "authorization": f"Bearer {token}",
                "x-target-environment": self._c.target_environment,
                "ocp-apim-subscription-key": self._key(product),
            }
            if reference:
                headers["x-reference-id"] = reference
            if callback_url:
                headers["x-callback-url"] = callback_url
            reply = await self._http.call(method, path, operation=operation, headers=headers,
                                          json=json)
            if reply.status == 401 and attempt == 0:
                self._tokens.drop(product)  # expired or revoked: refresh once, retry once
                continue
            return reply
        return Reply(status=401)

    async def account_active(self, attempt: Attempt) -> bool | None:
        reply = await self._call(
            "GET", "collection",
            f"/collection/v1_0/accountholder/msisdn/{attempt.payer_digits()}/active",
            operation="collection.accountholder")
        if reply.status == 200 and isinstance(reply.body, dict):
            result = reply.body.get("result")
            if isinstance(result, bool):
                return result
        return None

    async def prepare(self, attempt: Attempt) -> str | None:
        return None

    async def request_payment(self, attempt: Attempt, callback_url: str) -> Submission:
        short = str(attempt.order_id)[:8]
        reply = await self._call(
            "POST", "collection", "/collection/v1_0/requesttopay",
            operation="collection.requesttopay", reference=str(attempt.id),
            callback_url=callback_url,
            json={
                "amount": str(attempt.amount_xaf),
                "currency": self._c.currency,
                "externalId": str(attempt.order_id),
                "payer": {"partyIdType": "MSISDN", "partyId": attempt.payer_digits()},
                "payerMessage": _message(f"Okada commande {short}"),
                "payeeNote": _message(f"Okada order {short}"),
            })
        return self._submission(reply)

    def _submission(self, reply: Reply) -> Submission:
        if reply.status in (202, 409):  # 409: an earlier send with this reference arrived
            return Submission(accepted=True)
        code = _code(reply.body)
        if reply.status in (400, 403, 404) or (reply.status == 500
                                               and code in MOMO_DEFINITIVE_500):
            return Submission(accepted=False, reason=code or f"HTTP_{reply.status}")
        return Submission(accepted=None)

    async def payment_status(self, attempt: Attempt) -> ProviderStatus:
        reply = await self._call("GET", "collection",
                                 f"/collection/v1_0/requesttopay/{attempt.id}",
                                 operation="collection.status")
        return self._status(reply)

    def _status(self, reply: Reply) -> ProviderStatus:
        if reply.status == 200:
            return read_momo_status(reply.body)
        if reply.status == 404 and _code(reply.body) == "RESOURCE_NOT_FOUND":
            return ProviderStatus(Outcome.NOT_FOUND)
        return UNKNOWN

    async def request_refund(self, refund: RefundRecord, attempt: Attempt) -> Submission:
        short = str(refund.order_id)[:8]
        reply = await self._call(
            "POST", "disbursement", "/disbursement/v1_0/refund",
            operation="disbursement.refund", reference=str(refund.id),
            json={
                "amount": str(refund.amount_xaf),
                "currency": self._c.currency,
                "externalId": f"refund-{refund.order_id}",
                "payerMessage": _message(f"Remboursement Okada {short}"),
                "payeeNote": _message(f"Okada refund {short}"),
                "referenceIdToRefund": str(attempt.id),
            })
        return self._submission(reply)

    async def refund_status(self, refund: RefundRecord) -> ProviderStatus:
        reply = await self._call("GET", "disbursement",
                                 f"/disbursement/v1_0/refund/{refund.id}",
                                 operation="disbursement.refund_status")
        return self._status(reply)

    async def request_transfer(self, payout: PayoutRecord) -> Submission:
        reply = await self._call(
            "POST", "disbursement", "/disbursement/v1_0/transfer",
            operation="disbursement.transfer", reference=str(payout.id),
            json={
                "amount": str(payout.amount_xaf),
                "currency": self._c.currency,
                "externalId": f"payout-{payout.batch_id}"[:64],
                "payee": {"partyIdType": "MSISDN", "partyId": payout.phone.lstrip("+")},
                "payerMessage": _message(f"Okada {payout.batch_id}"),
                "payeeNote": _message(f"Okada {payout.batch_id}"),
            })
        return self._submission(reply)

    async def transfer_status(self, payout: PayoutRecord) -> ProviderStatus:
        reply = await self._call("GET", "disbursement",
                                 f"/disbursement/v1_0/transfer/{payout.id}",
                                 operation="disbursement.transfer_status")
        return self._status(reply)


@dataclass(frozen=True)
class OrangeCredentials:
    """Orange Money merchant credentials (secrets): API login, X-AUTH-TOKEN, channel, PIN."""

    username: str
    password: str
    x_auth_token: str
    channel_msisdn: str
    pin: str


OM_API = "/omcoreapis/1.0.2"


class OrangeGateway:
    """Orange Money Cameroon merchant payment (USSD push, ``mp`` API).

    Refunds: the ``mp`` API has none (Orange refunds go through an aggregator's cash-in).
    Documented fallback: the refund is refused here with ``MANUAL_REFUND_REQUIRED``, which
    publishes ``RefundFailed`` so operations pays the customer back by hand.
    """

    needs_prepare = True

    def __init__(self, http: ProviderHttp, credentials: OrangeCredentials, clock: Clock) -> None:
        self._http = http
        self._c = credentials
        self._tokens = _TokenCache(clock)

    async def _token(self) -> str | None:
        token = self._tokens.get("mp")
        if token is not None:
            return token
        async with self._tokens.lock("mp"):
            token = self._tokens.get("mp")
            if token is not None:
                return token
            basic = base64.b64encode(f"{self._c.username}:{self._c.password}".encode()).decode()
            reply = await self._http.call(
                "POST", "/token", operation="token", headers={"authorization": f"Basic {basic}"},
                data={"grant_type": "client_credentials"})
            parsed = _read_token(reply)
            if parsed is None:
                log.warning("payments.provider_token_failed", provider="orange_money",
                            http_status=reply.status)
                return None
            self._tokens.put("mp", *parsed)
            return parsed[0]

    async def _call(self, method: str, path: str, *, operation: str, json: Any = None) -> Reply:
        for attempt in range(2):
            token = await self._token()
            if token is None:
                return Reply(status=None, error="token")
            reply = await self._http.call(
                method, OM_API + path, operation=operation, json=json,
                headers={"authorization": f"Bearer {token}",
                         "x-auth-token": self._c.x_auth_token})
            fault = isinstance(reply.body, dict) and isinstance(reply.body.get("fault"), dict)
            if (reply.status == 401 or fault) and attempt == 0:
                self._tokens.drop("mp")
                continue
            return reply
        return Reply(status=401)

    async def account_active(self, attempt: Attempt) -> bool | None:
        return None  # the mp API has no account check; the payment itself tells

    async def prepare(self, attempt: Attempt) -> str | None:
        reply = await self._call("POST", "/mp/init", operation="mp.init")
        data = reply.body.get("data") if isinstance(reply.body, dict) else None
        pay_token = data.get("payToken") if isinstance(data, dict) else None
        if reply.status == 200 and isinstance(pay_token, str) and 0 < len(pay_token) <= 100:
            return pay_token
        return None

    async def request_payment(self, attempt: Attempt, callback_url: str) -> Submission:
        reply = await self._call("POST", "/mp/pay", operation="mp.pay", json={
            "notifUrl": callback_url,
            "channelUserMsisdn": self._c.channel_msisdn,
            "amount": str(attempt.amount_xaf),
            "subscriberMsisdn": attempt.payer_digits(),
            "pin": self._c.pin,
            "orderId": str(attempt.id),
            "description": f"Okada {str(attempt.order_id)[:8]}",
            "payToken": attempt.provider_ref,
        })
        if reply.status == 409 or (reply.status == 200 and read_orange_status(reply.body)
                                   .outcome is not Outcome.UNKNOWN):
            return Submission(accepted=True)
        if reply.status in (400, 403, 404):
            return Submission(accepted=False, reason=f"HTTP_{reply.status}")
        return Submission(accepted=None)

    async def payment_status(self, attempt: Attempt) -> ProviderStatus:
        if not attempt.provider_ref:
            return ProviderStatus(Outcome.NOT_FOUND)
        reply = await self._call("GET", f"/mp/paymentstatus/{attempt.provider_ref}",
                                 operation="mp.paymentstatus")
        if reply.status == 200:
            return read_orange_status(reply.body)
        if reply.status == 404:
            return ProviderStatus(Outcome.NOT_FOUND)
        return UNKNOWN

    async def request_refund(self, refund: RefundRecord, attempt: Attempt) -> Submission:
        return Submission(accepted=False, reason="MANUAL_REFUND_REQUIRED")

    async def refund_status(self, refund: RefundRecord) -> ProviderStatus:
        return ProviderStatus(Outcome.NOT_FOUND)

    async def request_transfer(self, payout: PayoutRecord) -> Submission:
        return Submission(accepted=False, reason="NOT_SUPPORTED")  # payouts go through MoMo

    async def transfer_status(self, payout: PayoutRecord) -> ProviderStatus:
        return ProviderStatus(Outcome.NOT_FOUND)
