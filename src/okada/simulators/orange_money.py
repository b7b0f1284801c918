"""Orange Money Cameroon "mp" merchant payment (USSD push) simulator.

Same paths, headers and bodies as ``api-s1.orange.cm`` under ``/_sim/orange-money``: ``POST
/token`` (Basic, form ``grant_type=client_credentials``), ``POST
/omcoreapis/1.0.2/mp/init`` (→ ``payToken``), ``POST /omcoreapis/1.0.2/mp/pay`` (→
``PENDING``), ``GET /omcoreapis/1.0.2/mp/paymentstatus/{payToken}``; statuses ``PENDING``,
``SUCCESSFULL`` (double L, as the real API spells it), ``FAILED``, ``CANCELLED``,
``EXPIRED``; gateway errors in the WSO2 ``fault`` envelope. One ``notifUrl`` POST per final
status (``{"payToken", "status", "txnid", "message"}``), unsigned.

Magic payer numbers (``subscriberMsisdn``, 9 digits); any other number stays ``PENDING``
until ``/_control/payments/{pay_token}/approve`` or ``/decline``:

=============  ===========================================================
``690000001``  approved at once
``690000002``  declined (``FAILED``)
``690000003``  cancelled by the payer (``CANCELLED``)
``690000004``  never answers: ``EXPIRED`` after 5 minutes
``690000005``  approved, notification sent twice
``690000006``  approved, notification never sent
``690000009``  stays ``PENDING`` for ever
=============  ===========================================================

A reused ``payToken`` or ``orderId`` in ``mp/pay`` answers 409.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

PREFIX = "/_sim/orange-money"
API = "/omcoreapis/1.0.2"
PROMPT_WINDOW = dt.timedelta(minutes=5)

MAGIC: dict[str, dict[str, Any]] = {
    "690000001": {"answer": "approve"},
    "690000002": {"answer": "decline", "status": "FAILED"},
    "690000003": {"answer": "decline", "status": "CANCELLED"},
    "690000004": {"answer": "timeout"},
    "690000005": {"answer": "approve", "callback": "twice"},
    "690000006": {"answer": "approve", "callback": "never"},
    "690000009": {"answer": "pending"},
}


def _fault(code: str, message: str, status: int = 401) -> JSONResponse:
    return JSONResponse(
        {"fault": {"code": code, "message": message, "description": message}},
        status_code=status,
    )


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class OrangeMoneySimulator:
    """In-memory Orange Money merchant payment API; state is public for tests."""

    def __init__(
        self,
        *,
        username: str = "sim-om-user",
        password: str = "sim-om-password",  # noqa: S107 - the simulator's own test login
        x_auth_token: str = "sim-om-x-auth-token",  # noqa: S107
        channel_msisdn: str = "699999999",
        pin: str = "2222",
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.username = username
        self.password = password
        self.x_auth_token = x_auth_token
        self.channel_msisdn = channel_msisdn
        self.pin = pin
        self.clock = clock
        self.tokens: dict[str, dt.datetime] = {}
        self.payments: dict[str, dict[str, Any]] = {}  # by payToken
        self.order_ids: set[str] = set()
        self.calls: list[tuple[str, str]] = []
        self.status_errors = 0
        self.callback_timeout_seconds = 5.0
        self.callback_client: httpx.AsyncClient | None = None
        self.callbacks_sent: list[dict[str, Any]] = []
        self._ids = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def _authorised(self, request: Request) -> Response | None:
        auth = request.headers.get("authorization", "")
        expires = self.tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
        if expires is None or expires <= self.clock():
            return _fault("900901", "Invalid Credentials")
        if request.headers.get("x-auth-token") != self.x_auth_token:
            return _fault("900902", "Missing Credentials")
        return None

    def public(self, record: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in record.items() if not k.startswith("_")}

    def _envelope(self, record: dict[str, Any], message: str) -> dict[str, Any]:
        return {"message": message, "data": self.public(record)}

    def _refresh(self, record: dict[str, Any]) -> None:
        if (record["status"] == "PENDING" and record.get("_answer") == "timeout"
                and self.clock() - record["_created"] >= PROMPT_WINDOW):
            self._finish(record, "EXPIRED")

    def _finish(self, record: dict[str, Any], status: str) -> bool:
        if record["status"] != "PENDING":
            return False
        record["status"] = status
        record["confirmtxnstatus"] = "200" if status == "SUCCESSFULL" else "60019"
        record["confirmtxnmessage"] = (
            "Successful Payment" if status == "SUCCESSFULL" else f"Payment {status.lower()}"
        )
        if status == "SUCCESSFULL":
            record["txnid"] = f"MP{self.clock():%y%m%d}.{secrets.randbelow(10**8):08d}"
        self._notify(record)
        return True

    def answer(self, pay_token: str, *, approve: bool, status: str | None = None,
               callback: str | None = None) -> dict[str, Any] | None:
        """The payer approves or declines the USSD prompt."""
        record = self.payments.get(pay_token)
        if record is None or "status" not in record:
            return None
        if callback:
            record["_callback"] = callback
        self._finish(record, "SUCCESSFULL" if approve else (status or "FAILED"))
        return record

    def _notify(self, record: dict[str, Any]) -> None:
        url = record.get("notifUrl")
        mode = record.get("_callback", "once")
        if not url or mode == "never":
            return
        body = {"payToken": record["payToken"], "status": record["status"],
                "txnid": record.get("txnid"), "message": record.get("confirmtxnmessage")}
        for _ in range(2 if mode == "twice" else 1):
            task = asyncio.get_running_loop().create_task(self._deliver(url, body))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, body: dict[str, Any]) -> None:
        outcome: dict[str, Any] = {"url": url, "body": body}
        try:
            async with asyncio.timeout(self.callback_timeout_seconds):
                if self.callback_client is not None:
                    reply = await self.callback_client.post(url, json=body)
                else:
                    async with httpx.AsyncClient(timeout=self.callback_timeout_seconds) as c:
                        reply = await c.post(url, json=body)
            outcome["status"] = reply.status_code
        except (httpx.HTTPError, TimeoutError) as exc:
            outcome["error"] = type(exc).__name__
        self.callbacks_sent.append(outcome)

    async def drain(self) -> None:
        """Wait for the notifications in flight (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def router(self) -> APIRouter:
        router = APIRouter(prefix=PREFIX, tags=["simulators"])

        @router.post("/token")
        async def token(request: Request) -> Response:
            self.calls.append(("POST", "/token"))
            expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            form = (await request.body()).decode(errors="replace")
            if request.headers.get("authorization") != f"Basic {expected}":
                return JSONResponse({"error": "invalid_client",
                                     "error_description": "Client Authentication failed."},
                                    status_code=401)
            if "grant_type=client_credentials" not in form:
                return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
            value = secrets.token_urlsafe(24)
            self.tokens[value] = self.clock() + dt.timedelta(seconds=3600)
            return JSONResponse({"access_token": value, "scope": "am_application_scope default",
                                 "token_type": "Bearer", "expires_in": 3600})

        @router.post(API + "/mp/init")
        async def init(request: Request) -> Response:
            self.calls.append(("POST", "/mp/init"))
            refused = self._authorised(request)
            if refused:
                return refused
            self._ids += 1
            pay_token = f"MP{self.clock():%y%m%d}{secrets.token_hex(8).upper()}"
            self.payments[pay_token] = {"payToken": pay_token, "_initiated": True}
            return JSONResponse({"message": "Payment request successfully initiated",
                                 "data": {"payToken": pay_token}})

        @router.post(API + "/mp/pay")
        async def pay(request: Request) -> Response:
            self.calls.append(("POST", "/mp/pay"))
            refused = self._authorised(request)
            if refused:
                return refused
            try:
                body = await request.json()
            except ValueError:
                body = None
            required = ("notifUrl", "channelUserMsisdn", "amount", "subscriberMsisdn", "pin",
                        "orderId", "description", "payToken")
            if not isinstance(body, dict) or any(not isinstance(body.get(k), str)
                                                 for k in required):
                return JSONResponse({"message": "Invalid request body", "data": None},
                                    status_code=400)
            if not body["amount"].isdigit() or not (
                    body["subscriberMsisdn"].isdigit() and len(body["subscriberMsisdn"]) == 9):
                return JSONResponse({"message": "Invalid amount or subscriberMsisdn",
                                     "data": None}, status_code=400)
            if body["pin"] != self.pin or body["channelUserMsisdn"] != self.channel_msisdn:
                return JSONResponse({"message": "Invalid merchant credentials", "data": None},
                                    status_code=401)
            record = self.payments.get(body["payToken"])
            if record is None:
                return JSONResponse({"message": "Unknown payToken", "data": None},
                                    status_code=404)
            if "status" in record or body["orderId"] in self.order_ids:
                return JSONResponse({"message": "payToken or orderId already used",
                                     "data": None}, status_code=409)
            self.order_ids.add(body["orderId"])
            self._ids += 1
            behaviour = MAGIC.get(body["subscriberMsisdn"], {"answer": "pending"})
            record.update({
                "id": self._ids,
                "createtime": str(int(self.clock().timestamp())),
                "subscriberMsisdn": body["subscriberMsisdn"],
                "amount": int(body["amount"]),
                "payToken": body["payToken"],
                "txnid": None,
                "txnmode": "omcoreapis",
                "inittxnmessage": "Paiement en attente de confirmation",
                "inittxnstatus": "200",
                "confirmtxnstatus": None,
                "confirmtxnmessage": None,
                "status": "PENDING",
                "notifUrl": body["notifUrl"],
                "description": body["description"],
                "channelUserMsisdn": body["channelUserMsisdn"],
                "orderId": body["orderId"],
                "_created": self.clock(),
                "_answer": behaviour["answer"],
                "_callback": behaviour.get("callback", "once"),
            })
            record.pop("_initiated", None)
            if behaviour["answer"] == "approve":
                self._finish(record, "SUCCESSFULL")
            elif behaviour["answer"] == "decline":
                self._finish(record, behaviour["status"])
            return JSONResponse(self._envelope(record, "Merchant payment successfully initiated"))

        @router.get(API + "/mp/paymentstatus/{pay_token}")
        @router.post(API + "/mp/paymentstatus/{pay_token}")
        async def payment_status(pay_token: str, request: Request) -> Response:
            self.calls.append(("GET", "/mp/paymentstatus/{payToken}"))
            refused = self._authorised(request)
            if refused:
                return refused
            if self.status_errors > 0:
                self.status_errors -= 1
                return JSONResponse({"message": "Service unavailable", "data": None},
                                    status_code=503)
            record = self.payments.get(pay_token)
            if record is None or "status" not in record:
                return JSONResponse({"message": "Transaction not found", "data": None},
                                    status_code=404)
            self._refresh(record)
            return JSONResponse(self._envelope(record, "Transaction retrieved successfully"))

        @router.get("/_control/payments")
        async def list_payments(payer: str | None = None) -> list[dict[str, Any]]:
            wanted = payer[-9:] if payer else None
            found = []
            for record in self.payments.values():
                if "status" not in record:
                    continue
                self._refresh(record)
                if wanted is None or record["subscriberMsisdn"] == wanted:
                    found.append(self.public(record))
            return list(reversed(found))

        async def _control(pay_token: str, request: Request, approve: bool) -> Response:
            try:
                body = await request.json()
            except ValueError:
                body = {}
            body = body if isinstance(body, dict) else {}
            status = body.get("reason") or body.get("status")
            if status not in (None, "FAILED", "CANCELLED", "EXPIRED"):
                status = "FAILED"
            record = self.answer(pay_token, approve=approve, status=status,
                                 callback=body.get("callback"))
            if record is None:
                return JSONResponse({"message": "Unknown payToken", "data": None},
                                    status_code=404)
            return JSONResponse(self.public(record))

        @router.post("/_control/payments/{pay_token}/approve")
        async def approve(pay_token: str, request: Request) -> Response:
            return await _control(pay_token, request, True)

        @router.post("/_control/payments/{pay_token}/decline")
        async def decline(pay_token: str, request: Request) -> Response:
            return await _control(pay_token, request, False)

        @router.post("/_control/faults")
        async def faults(request: Request) -> dict[str, Any]:
            try:
                body = await request.json()
            except ValueError:
                body = {}
            if isinstance(body, dict):
                self.status_errors = int(body.get("status_errors", self.status_errors))
            return {"status_errors": self.status_errors}

        return router
