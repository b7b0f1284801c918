"""SMS gateway simulator: accepts messages and lets tests read what each phone received.

Beyond sending, it plays the parts of a real gateway that matter to the platform:

- a delivery report per message, asked with ``GET {prefix}/messages/{id}`` (``status``:
  ``pending``, ``delivered`` or ``failed``);
- a scriptable failure mode for the whole gateway (``ok``, ``down`` → 503, ``slow``) and
  per-number outcomes (``POST {prefix}/_control/numbers``): ``error`` (503 for that number),
  ``reject`` (400), ``undelivered`` (accepted, report ``failed``), ``pending`` (the report
  never leaves ``pending``) and ``malformed`` (the report is not valid JSON);
- the same simulator class runs a second provider under another prefix (the backup gateway).
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field


class SmsIn(BaseModel):
    to: str = Field(min_length=4, max_length=20)
    text: str = Field(min_length=1, max_length=1600)
    sender: str | None = None


class FailureMode(BaseModel):
    mode: str = Field(pattern="^(ok|down|slow)$")


class NumberScript(BaseModel):
    to: str = Field(min_length=4, max_length=20)
    outcome: str = Field(pattern="^(ok|error|reject|undelivered|pending|malformed)$")


class SmsGatewaySimulator:
    """In-memory SMS gateway. Its failure mode is scriptable: ``down`` answers 503."""

    def __init__(self, prefix: str = "/_sim/sms", *, id_prefix: str = "sms") -> None:
        self.prefix = prefix
        self.id_prefix = id_prefix
        self.messages: list[dict[str, Any]] = []
        self.mode = "ok"
        self.numbers: dict[str, str] = {}
        self.refused = 0
        self._ids = itertools.count(1)

    def router(self) -> APIRouter:
        router = APIRouter(prefix=self.prefix, tags=["simulators"])

        @router.post("/send", status_code=202)
        async def send(body: SmsIn) -> dict[str, Any]:
            outcome = self.numbers.get(body.to, "ok")
            if self.mode == "down" or outcome == "error":
                self.refused += 1
                raise HTTPException(status_code=503, detail="SMS gateway unavailable")
            if outcome == "reject":
                self.refused += 1
                raise HTTPException(status_code=400, detail="invalid destination")
            report = {"undelivered": "failed", "pending": "pending", "malformed": "malformed"}
            message = {
                "id": f"{self.id_prefix}-{next(self._ids)}",
                "to": body.to,
                "text": body.text,
                "sender": body.sender,
                "at": dt.datetime.now(dt.UTC).isoformat(),
                "status": report.get(outcome, "delivered"),
            }
            self.messages.append(message)
            return {"id": message["id"], "status": "accepted"}

        @router.get("/messages")
        async def messages(to: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
            found = [m for m in reversed(self.messages) if to is None or m["to"] == to]
            return found[: max(1, min(limit, 500))]

        @router.get("/messages/{message_id}", response_model=None)
        async def report(message_id: str) -> dict[str, Any] | Response:
            found = next((m for m in self.messages if m["id"] == message_id), None)
            if found is None:
                raise HTTPException(status_code=404, detail="unknown message")
            if found["status"] == "malformed":
                return PlainTextResponse("<<not a delivery report>>")
            return {"id": found["id"], "to": found["to"], "status": found["status"]}

        @router.post("/_control/mode")
        async def set_mode(body: FailureMode) -> dict[str, str]:
            self.mode = body.mode
            return {"mode": self.mode}

        @router.post("/_control/numbers")
        async def script_number(body: NumberScript) -> dict[str, str]:
            if body.outcome == "ok":
                self.numbers.pop(body.to, None)
            else:
                self.numbers[body.to] = body.outcome
            return {"to": body.to, "outcome": body.outcome}

        @router.delete("/_control/numbers", status_code=204)
        async def clear_numbers() -> None:
            self.numbers.clear()

        @router.delete("/messages", status_code=204)
        async def clear() -> None:
            self.messages.clear()

        return router
