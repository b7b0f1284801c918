"""SMS gateway simulator: accepts messages and lets tests read what each phone received."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field


class SmsIn(BaseModel):
    to: str = Field(min_length=4, max_length=20)
    text: str = Field(min_length=1, max_length=1600)
    sender: str | None = None


class FailureMode(BaseModel):
    mode: str = Field(pattern="^(ok|down|slow)$")


class SmsGatewaySimulator:
    """In-memory SMS gateway. Its failure mode is scriptable: ``down`` answers 503."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.mode = "ok"
        self._ids = itertools.count(1)

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/_sim/sms", tags=["simulators"])

        @router.post("/send", status_code=202)
        async def send(body: SmsIn) -> dict[str, Any]:
            if self.mode == "down":
                raise HTTPException(status_code=503, detail="SMS gateway unavailable")
            message = {
                "id": f"sms-{next(self._ids)}",
                "to": body.to,
                "text": body.text,
                "sender": body.sender,
                "at": dt.datetime.now(dt.UTC).isoformat(),
            }
            self.messages.append(message)
            return {"id": message["id"], "status": "accepted"}

        @router.get("/messages")
        async def messages(to: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
            found = [m for m in reversed(self.messages) if to is None or m["to"] == to]
            return found[: max(1, min(limit, 500))]

        @router.post("/_control/mode")
        async def set_mode(body: FailureMode) -> dict[str, str]:
            self.mode = body.mode
            return {"mode": self.mode}

        @router.delete("/messages", status_code=204)
        async def clear() -> None:
            self.messages.clear()

        return router
