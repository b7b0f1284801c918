"""Commands to the services that own pushed records, over ``ctx.directory``.

Each request carries a principal header signed for the syncing user (customer or rider role),
exactly as the gateway would sign it, so the owning service applies its own authorisation
and rules; and an ``Idempotency-Key`` derived from the user, the record and the content, so
a push retried after a lost answer never acts twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any

import httpx

from okada.infra.hosting import ServiceDirectory
from okada.infra.http.etag import version_etag
from okada.infra.security.internal import PRINCIPAL_HEADER, PrincipalCodec
from okada.kernel.authz import Principal, Role
from okada.services.sync.application.ports import OwnerDown, OwnerRejected, OwnerStale

TIMEOUT = httpx.Timeout(5.0, connect=2.0)


def _key(*parts: object) -> str:
    digest = hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:40]
    return f'"sync-{digest}"'


class HttpOwnerCommands:
    """The owning services' HTTP APIs, acting for the user."""

    def __init__(self, directory: ServiceDirectory, codec: PrincipalCodec) -> None:
        self._directory = directory
        self._codec = codec

    def _headers(self, user_id: uuid.UUID, role: Role, key: str | None = None,
                 **extra: str) -> dict[str, str]:
        principal = Principal(user_id=user_id, roles=frozenset({role}))
        headers = {PRINCIPAL_HEADER: self._codec.encode(principal, ttl=120),
                   "accept-language": "fr", **extra}
        if key:
            headers["idempotency-key"] = key
        return headers

    async def _send(self, service: str, method: str, path: str, headers: dict[str, str],
                    body: Any = None, content_type: str = "application/json") -> httpx.Response:
        client = self._directory.client(service, timeout=TIMEOUT)
        try:
            response = await client.request(
                method, path, headers={**headers, "content-type": content_type} if body
                is not None else headers, content=None if body is None else json.dumps(body))
        except (httpx.HTTPError, OSError) as exc:
            raise OwnerDown(f"{service}: {exc!r}") from exc
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise OwnerDown(f"{service}: {response.status_code}")
        if response.status_code == 412:
            raise OwnerStale()
        return response

    @staticmethod
    def _place(body: Mapping[str, Any]) -> tuple[uuid.UUID, int, dict[str, Any]]:
        state = {k: body.get(k) for k in ("label", "city", "quartier", "landmark",
                                           "directions", "lat", "lng", "plus_code",
                                           "contact_phone", "is_default")}
        return uuid.UUID(str(body["id"])), int(body["version"]), state

    async def create_place(self, user_id: uuid.UUID, record_id: str,
                           values: Mapping[str, Any]) -> tuple[uuid.UUID, int, dict[str, Any]]:
        response = await self._send(
            "identity", "POST", "/v1/users/me/places",
            self._headers(user_id, Role.CUSTOMER, _key("place", user_id, record_id)),
            dict(values))
        if response.status_code not in (200, 201):
            raise OwnerRejected(response.status_code, response.text[:200])
        return self._place(response.json())

    async def update_place(self, user_id: uuid.UUID, place_id: uuid.UUID, version: int | None,
                           changes: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        # Merge patch: a null member removes the field, which is what a cleared column means.
        headers = self._headers(user_id, Role.CUSTOMER,
                                _key("place-patch", user_id, place_id, version, changes),
                                **{"if-match": version_etag(place_id, version)
                                   if version is not None else "*"})
        response = await self._send("identity", "PATCH", f"/v1/users/me/places/{place_id}",
                                    headers, dict(changes), "application/merge-patch+json")
        if response.status_code != 200:
            raise OwnerRejected(response.status_code, response.text[:200])
        _, version_after, state = self._place(response.json())
        return version_after, state

    async def delete_place(self, user_id: uuid.UUID, place_id: uuid.UUID) -> None:
        response = await self._send(
            "identity", "DELETE", f"/v1/users/me/places/{place_id}",
            self._headers(user_id, Role.CUSTOMER))
        if response.status_code not in (200, 204, 404):
            raise OwnerRejected(response.status_code, response.text[:200])

    async def mark_read(self, user_id: uuid.UUID, notification_id: uuid.UUID) -> None:
        response = await self._send(
            "notifications", "POST", f"/v1/notifications/{notification_id}/read",
            self._headers(user_id, Role.CUSTOMER, _key("read", user_id, notification_id)))
        if response.status_code not in (200, 204, 404):
            raise OwnerRejected(response.status_code, response.text[:200])

    async def delivery_status(self, user_id: uuid.UUID, delivery_id: uuid.UUID, status: str,
                              at: dt.datetime, pin: str | None, update_id: str) -> None:
        body: dict[str, Any] = {"status": status, "at": at.isoformat()}
        if pin:
            body["pin"] = pin
        response = await self._send(
            "delivery", "POST", f"/v1/rider/deliveries/{delivery_id}/status",
            self._headers(user_id, Role.RIDER, _key("delivery", user_id, update_id)), body)
        if response.status_code not in (200, 201, 202, 204):
            raise OwnerRejected(response.status_code, response.text[:200])
