"""MTN MoMo Open API simulator: Collection (RequestToPay) and Disbursement (transfer, refund).

Same paths, headers, bodies and status codes as the real API (``/_sim/mtn-momo`` replaces
the host). The customer's side is scriptable, by test number or through ``/_control``:

Magic payer numbers (``partyId``, 12 digits, no ``+``); every other number stays ``PENDING``
until ``POST /_control/requests/{reference}/approve`` or ``/decline`` answers the prompt:

====================  ====================================================================
``237670000001``      approved at once (one callback)
``237670000002``      declined ``NOT_ENOUGH_FUNDS``
``237670000003``      unknown payer: account holder inactive, ``PAYER_NOT_FOUND`` (as a
                      payee of a transfer: ``PAYEE_NOT_FOUND``)
``237670000004``      never answers: ``FAILED COULD_NOT_PERFORM_TRANSACTION`` after 5 minutes
``237670000005``      approved, callback sent twice
``237670000006``      approved, callback never sent
``237670000007``      approved, callback sent late (``late_callback_seconds``)
``237670000008``      approved, final callback then a stale ``PENDING`` one (out of order)
``237670000009``      stays ``PENDING`` for ever (explicitly)
====================  ====================================================================

Faults (``POST /_control/faults``): the next ``status_errors`` status queries answer 503;
``status_mode`` makes status queries answer ``malformed`` JSON, a ``huge`` 10 MB body, a
``redirect`` (302) or ``stall`` (sleep ``stall_seconds``).

Callbacks go to ``X-Callback-Url`` in the background through ``callback_client`` (settable,
so an embedded host or a test can route them to an in-process app); delivery is bounded by
``callback_timeout_seconds`` and never blocks the request that triggered it.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import re
import secrets
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

PREFIX = "/_sim/mtn-momo"
AMOUNT = re.compile(r"^([0]|([1-9][0-9]{0,17}))([.][0-9]{0,3}[0-9])?$")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
APPROVAL_WINDOW = dt.timedelta(minutes=5)

MAGIC: dict[str, dict[str, Any]] = {
    "237670000001": {"answer": "approve"},
    "237670000002": {"answer": "decline", "reason": "NOT_ENOUGH_FUNDS"},
    "237670000003": {"answer": "decline", "reason": "PAYER_NOT_FOUND", "inactive": True},
    "237670000004": {"answer": "timeout"},
    "237670000005": {"answer": "approve", "callback": "twice"},
    "237670000006": {"answer": "approve", "callback": "never"},
    "237670000007": {"answer": "approve", "callback": "late"},
    "237670000008": {"answer": "approve", "callback": "out_of_order"},
    "237670000009": {"answer": "pending"},
}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class MtnMomoSimulator:
    """In-memory MTN MoMo with the real API's shapes; state is public for tests."""

    def __init__(
        self,
        *,
        api_user: str = "5f1b2c1e-7d3a-4c55-9a43-2d5e1c6b7a10",
        api_key: str = "sim-momo-api-key",
        subscription_keys: dict[str, str] | None = None,
        target_environment: str = "sandbox",
        currency: str = "EUR",
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.api_user = api_user
        self.api_key = api_key
        self.subscription_keys = subscription_keys or {
            "collection": "sim-collection-key",
            "disbursement": "sim-disbursement-key",
        }
        self.target_environment = target_environment
        self.currency = currency
        self.clock = clock
        self.tokens: dict[str, tuple[str, dt.datetime]] = {}
        self.requests: dict[str, dict[str, Any]] = {}
        self.transfers: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []  # (method, path) of every provider-facing call
        self.status_errors = 0
        self.status_mode = "ok"
        self.stall_seconds = 30.0
        self.late_callback_seconds = 2.0
        self.callback_method = "PUT"
        self.callback_timeout_seconds = 5.0
        self.callback_client: httpx.AsyncClient | None = None
        self.callbacks_sent: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    # -- customer side -------------------------------------------------------------------

    def _behaviour(self, party_id: str) -> dict[str, Any]:
        return MAGIC.get(party_id, {"answer": "pending"})

    def _settle(self, record: dict[str, Any], status: str, reason: str | None = None) -> bool:
        if record["status"] != "PENDING":
            return False
        record["status"] = status
        if status == "SUCCESSFUL":
            record["financialTransactionId"] = str(secrets.randbelow(10**9))
        if reason:
            record["reason"] = reason
        return True

    def _refresh(self, record: dict[str, Any]) -> None:
        """A prompt nobody answers fails after the approval window (timeout numbers only)."""
        if (
            record["status"] == "PENDING"
            and record.get("_answer") == "timeout"
            and self.clock() - record["_created"] >= APPROVAL_WINDOW
        ):
            self._settle(record, "FAILED", "COULD_NOT_PERFORM_TRANSACTION")
            self._notify(record)

    def answer(self, reference: str, *, approve: bool, reason: str | None = None,
               callback: str | None = None) -> dict[str, Any] | None:
        """The payer approves or declines a prompt; returns the record or None if unknown."""
        record = self.requests.get(reference)
        if record is None:
            return None
        if callback:
            record["_callback"] = callback
        if approve:
            changed = self._settle(record, "SUCCESSFUL")
        else:
            changed = self._settle(record, "FAILED", reason or "APPROVAL_REJECTED")
        if changed:
            self._notify(record)
        return record

    # -- callbacks -----------------------------------------------------------------------

    def public(self, record: dict[str, Any]) -> dict[str, Any]:
        """The status body (also the callback body)."""
        return {k: v for k, v in record.items() if not k.startswith("_")}

    def _notify(self, record: dict[str, Any]) -> None:
        url = record.get("_callback_url")
        mode = record.get("_callback", "once")
        if not url or mode == "never":
            return
        body = self.public(record)
        if mode == "twice":
            self._spawn(self._deliver(url, body, 0.0))
            self._spawn(self._deliver(url, body, 0.0))
        elif mode == "late":
            self._spawn(self._deliver(url, body, self.late_callback_seconds))
        elif mode == "out_of_order":
            stale = {**body, "status": "PENDING"}
            stale.pop("reason", None)
            stale.pop("financialTransactionId", None)
            self._spawn(self._deliver_in_order(url, [body, stale]))
        else:
            self._spawn(self._deliver(url, body, 0.0))

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver_in_order(self, url: str, bodies: list[dict[str, Any]]) -> None:
        for body in bodies:
            await self._deliver(url, body, 0.0)

    async def _deliver(self, url: str, body: dict[str, Any], delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        outcome: dict[str, Any] = {"url": url, "body": body, "method": self.callback_method}
        try:
            async with asyncio.timeout(self.callback_timeout_seconds):
                if self.callback_client is not None:
                    reply = await self.callback_client.request(
                        self.callback_method, url, json=body)
                else:
                    async with httpx.AsyncClient(timeout=self.callback_timeout_seconds) as c:
                        reply = await c.request(self.callback_method, url, json=body)
            outcome["status"] = reply.status_code
        except (httpx.HTTPError, TimeoutError) as exc:
            outcome["error"] = type(exc).__name__  # MTN sends once: a lost callback is lost
        self.callbacks_sent.append(outcome)

    async def drain(self) -> None:
        """Wait for the callbacks in flight (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- HTTP checks ---------------------------------------------------------------------

    def _check_business_headers(self, request: Request, product: str,
                                *, post: bool) -> Response | None:
        if request.headers.get("ocp-apim-subscription-key") != self.subscription_keys[product]:
            return _error(401, "Unauthorized", "Access denied due to invalid subscription key.")
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        held = self.tokens.get(token)
        if held is None or held[0] != product or held[1] <= self.clock():
            return _error(401, "Unauthorized", "Access token is missing, invalid or expired.")
        env = request.headers.get("x-target-environment")
        if not env:
            return _error(400, "BadRequest", "Missing X-Target-Environment header.")
        if env != self.target_environment:
            return _error(500, "NOT_ALLOWED_TARGET_ENVIRONMENT",
                          "Access to target environment is forbidden.")
        if post:
            ref = request.headers.get("x-reference-id", "")
            if not UUID4.match(ref.lower()):
                return _error(400, "BadRequest", "X-Reference-Id must be a UUID version 4.")
            if "x-callback-url" in request.headers and not request.headers["x-callback-url"]:
                return _error(400, "BadRequest", "X-Callback-Url must not be empty.")
        return None

    def _check_body(self, body: Any, party_key: str) -> Response | None:
        if not isinstance(body, dict):
            return _error(400, "BadRequest", "Invalid JSON body.")
        amount = body.get("amount")
        if not isinstance(amount, str) or not AMOUNT.match(amount):
            return _error(400, "formatError", "Invalid JSON Field: amount")
        party = body.get(party_key)
        if (not isinstance(party, dict) or party.get("partyIdType") not in
                ("MSISDN", "EMAIL", "ALIAS") or not isinstance(party.get("partyId"), str)):
            return _error(400, "formatError", f"Invalid JSON Field: {party_key}")
        for field in ("payerMessage", "payeeNote"):
            text = body.get(field, "")
            if not isinstance(text, str) or len(text) > 160 or "'" in text or "&" in text:
                return _error(400, "formatError", f"Invalid JSON Field: {field}")
        if body.get("currency") != self.currency:
            return _error(500, "INVALID_CURRENCY", "Currency not supported.")
        return None

    async def _json(self, request: Request) -> Any:
        try:
            return await request.json()
        except ValueError:
            return None

    def _faulty_status(self) -> Response | None:
        if self.status_errors > 0:
            self.status_errors -= 1
            return _error(503, "SERVICE_UNAVAILABLE", "Service unavailable.")
        return None

    async def _status_fault_mode(self) -> Response | None:
        mode = self.status_mode
        if mode == "malformed":
            return Response(b'{"status": "SUCC', media_type="application/json")
        if mode == "huge":
            return Response(b'{"pad": "' + b"x" * 10_000_000 + b'"}',
                            media_type="application/json")
        if mode == "redirect":
            return Response(status_code=302, headers={"location": "http://169.254.169.254/"})
        if mode == "stall":
            await asyncio.sleep(self.stall_seconds)
        return None

    # -- routes --------------------------------------------------------------------------

    def router(self) -> APIRouter:
        router = APIRouter(prefix=PREFIX, tags=["simulators"])

        @router.post("/{product}/token/")
        async def token(product: str, request: Request) -> Response:
            self.calls.append(("POST", f"/{product}/token/"))
            if product not in self.subscription_keys:
                return _error(404, "RESOURCE_NOT_FOUND", "Unknown product.")
            if await request.body():
                return _error(400, "BadRequest", "This operation takes no body.")
            if request.headers.get("ocp-apim-subscription-key") != self.subscription_keys[
                product
            ]:
                return _error(401, "Unauthorized", "Invalid subscription key.")
            expected = base64.b64encode(f"{self.api_user}:{self.api_key}".encode()).decode()
            if request.headers.get("authorization") != f"Basic {expected}":
                return JSONResponse({"error": "login_failed"}, status_code=401)
            value = secrets.token_urlsafe(24)
            self.tokens[value] = (product, self.clock() + dt.timedelta(seconds=3600))
            return JSONResponse(
                {"access_token": value, "token_type": "access_token", "expires_in": 3600}
            )

        @router.get("/collection/v1_0/accountholder/{id_type}/{holder}/active")
        async def active(id_type: str, holder: str, request: Request) -> Response:
            self.calls.append(("GET", "/collection/v1_0/accountholder/active"))
            refused = self._check_business_headers(request, "collection", post=False)
            if refused:
                return refused
            inactive = self._behaviour(holder).get("inactive", False)
            return JSONResponse({"result": id_type.lower() == "msisdn" and not inactive})

        @router.post("/collection/v1_0/requesttopay")
        async def request_to_pay(request: Request) -> Response:
            self.calls.append(("POST", "/collection/v1_0/requesttopay"))
            refused = self._check_business_headers(request, "collection", post=True)
            if refused:
                return refused
            body = await self._json(request)
            invalid = self._check_body(body, "payer")
            if invalid:
                return invalid
            ref = request.headers["x-reference-id"].lower()
            if ref in self.requests:
                return _error(409, "RESOURCE_ALREADY_EXIST", "Duplicated reference id.")
            party = body["payer"]["partyId"]
            behaviour = self._behaviour(party)
            record: dict[str, Any] = {
                "referenceId": ref,
                "amount": body["amount"],
                "currency": body["currency"],
                "externalId": str(body.get("externalId", "")),
                "payer": {"partyIdType": body["payer"]["partyIdType"], "partyId": party},
                "payerMessage": body.get("payerMessage", ""),
                "payeeNote": body.get("payeeNote", ""),
                "status": "PENDING",
                "_created": self.clock(),
                "_answer": behaviour["answer"],
                "_callback": behaviour.get("callback", "once"),
                "_callback_url": request.headers.get("x-callback-url"),
            }
            self.requests[ref] = record
            if behaviour["answer"] == "approve":
                self.answer(ref, approve=True)
            elif behaviour["answer"] == "decline":
                self.answer(ref, approve=False, reason=behaviour["reason"])
            return Response(status_code=202)

        @router.get("/collection/v1_0/requesttopay/{reference}")
        async def request_status(reference: str, request: Request) -> Response:
            self.calls.append(("GET", "/collection/v1_0/requesttopay/{reference}"))
            refused = self._check_business_headers(request, "collection", post=False)
            if refused:
                return refused
            faulty = self._faulty_status() or await self._status_fault_mode()
            if faulty:
                return faulty
            record = self.requests.get(reference.lower())
            if record is None:
                return _error(404, "RESOURCE_NOT_FOUND", "Requested resource was not found.")
            self._refresh(record)
            return JSONResponse(self.public(record))

        async def _disburse(request: Request, kind: str) -> Response:
            self.calls.append(("POST", f"/disbursement/v1_0/{kind}"))
            refused = self._check_business_headers(request, "disbursement", post=True)
            if refused:
                return refused
            body = await self._json(request)
            if kind == "refund" and isinstance(body, dict):
                body = {**body, "payee": {"partyIdType": "MSISDN", "partyId": "0"}}
            invalid = self._check_body(body, "payee")
            if invalid:
                return invalid
            ref = request.headers["x-reference-id"].lower()
            store = self.refunds if kind == "refund" else self.transfers
            if ref in store:
                return _error(409, "RESOURCE_ALREADY_EXIST", "Duplicated reference id.")
            record: dict[str, Any] = {
                "amount": body["amount"],
                "currency": body["currency"],
                "externalId": str(body.get("externalId", "")),
                "payerMessage": body.get("payerMessage", ""),
                "payeeNote": body.get("payeeNote", ""),
                "status": "PENDING",
                "_callback_url": request.headers.get("x-callback-url"),
            }
            if kind == "refund":
                original = self.requests.get(str(body.get("referenceIdToRefund", "")).lower())
                refunded = sum(int(r["amount"]) for r in self.refunds.values()
                               if r.get("_original") is original and r["status"] == "SUCCESSFUL")
                record["_original"] = original
                if original is None or original["status"] != "SUCCESSFUL":
                    self._settle(record, "FAILED", "RESOURCE_NOT_FOUND")
                elif refunded + int(body["amount"]) > int(original["amount"]):
                    self._settle(record, "FAILED", "NOT_ENOUGH_FUNDS")
                else:
                    record["payee"] = original["payer"]
                    self._settle(record, "SUCCESSFUL")
            else:
                record["payee"] = body["payee"]
                if self._behaviour(body["payee"]["partyId"]).get("inactive"):
                    self._settle(record, "FAILED", "PAYEE_NOT_FOUND")
                else:
                    self._settle(record, "SUCCESSFUL")
            store[ref] = record
            self._notify(record)
            return Response(status_code=202)

        @router.post("/disbursement/v1_0/transfer")
        async def transfer(request: Request) -> Response:
            return await _disburse(request, "transfer")

        @router.post("/disbursement/v1_0/refund")
        async def refund(request: Request) -> Response:
            return await _disburse(request, "refund")

        @router.get("/disbursement/v1_0/{kind}/{reference}")
        async def disbursement_status(kind: str, reference: str, request: Request) -> Response:
            self.calls.append(("GET", f"/disbursement/v1_0/{kind}/{{reference}}"))
            refused = self._check_business_headers(request, "disbursement", post=False)
            if refused:
                return refused
            store = {"refund": self.refunds, "transfer": self.transfers}.get(kind)
            record = None if store is None else store.get(reference.lower())
            if record is None:
                return _error(404, "RESOURCE_NOT_FOUND", "Requested resource was not found.")
            return JSONResponse(self.public(record))

        # -- control: the test or the demo acts as the customer ----------------------------

        @router.get("/_control/requests")
        async def list_requests(payer: str | None = None) -> list[dict[str, Any]]:
            wanted = payer.lstrip("+") if payer else None
            found = []
            for ref, record in self.requests.items():
                self._refresh(record)
                if wanted is None or record["payer"]["partyId"] == wanted:
                    found.append({"reference": ref, **self.public(record)})
            return list(reversed(found))

        @router.post("/_control/requests/{reference}/approve")
        async def approve(reference: str, request: Request) -> Response:
            body = await self._json(request) or {}
            callback = body.get("callback") if isinstance(body, dict) else None
            record = self.answer(reference.lower(), approve=True, callback=callback)
            if record is None:
                return _error(404, "RESOURCE_NOT_FOUND", "Unknown request.")
            return JSONResponse({"reference": reference, **self.public(record)})

        @router.post("/_control/requests/{reference}/decline")
        async def decline(reference: str, request: Request) -> Response:
            body = await self._json(request) or {}
            reason = body.get("reason") if isinstance(body, dict) else None
            callback = body.get("callback") if isinstance(body, dict) else None
            record = self.answer(reference.lower(), approve=False,
                                 reason=str(reason) if reason else None, callback=callback)
            if record is None:
                return _error(404, "RESOURCE_NOT_FOUND", "Unknown request.")
            return JSONResponse({"reference": reference, **self.public(record)})

        @router.post("/_control/faults")
        async def faults(request: Request) -> dict[str, Any]:
            body = await self._json(request) or {}
            if isinstance(body, dict):
                self.status_errors = int(body.get("status_errors", self.status_errors))
                self.status_mode = str(body.get("status_mode", self.status_mode))
                self.stall_seconds = float(body.get("stall_seconds", self.stall_seconds))
            return {"status_errors": self.status_errors, "status_mode": self.status_mode}

        return router


def new_reference() -> str:
    """A fresh UUIDv4 reference (for tests and the demo)."""
    return str(uuid.uuid4())
