"""Identity's saved places over HTTP, edited on the customer's behalf."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import orjson

from okada.infra.security.internal import PRINCIPAL_HEADER, PrincipalCodec
from okada.kernel.authz import Principal, Role
from okada.services.delivery.application.ports import CustomerPlaces, PlaceUpdateFailed

TIMEOUT = httpx.Timeout(5.0, connect=2.0)


class IdentityPlaces(CustomerPlaces):
    """``GET`` then ``PATCH /v1/users/me/places/{id}`` (merge patch, ``If-Match``) as the customer.

    The principal header is signed with the platform codec for the customer alone (role
    customer, one-minute lifetime), exactly what the gateway would forward for their own
    request, so identity applies its usual ownership rules.
    """

    def __init__(self, client: Callable[[], httpx.AsyncClient], codec: PrincipalCodec) -> None:
        self._client = client
        self._codec = codec

    async def move_pin(
        self, customer_id: uuid.UUID, place_id: uuid.UUID, lat: float, lng: float
    ) -> bool:
        principal = Principal(user_id=customer_id, roles=frozenset({Role.CUSTOMER}))
        headers = {PRINCIPAL_HEADER: self._codec.encode(principal, ttl=60)}
        url = f"/v1/users/me/places/{place_id}"
        client = self._client()
        try:
            current = await client.get(url, headers=headers, timeout=TIMEOUT)
            if current.status_code == 404:
                return False
            if current.status_code != 200 or "etag" not in current.headers:
                raise PlaceUpdateFailed(f"read answered {current.status_code}")
            patched = await client.patch(
                url, content=orjson.dumps({"lat": lat, "lng": lng}), timeout=TIMEOUT,
                headers={**headers, "If-Match": current.headers["etag"],
                         "Content-Type": "application/merge-patch+json"},
            )
        except httpx.HTTPError as exc:
            raise PlaceUpdateFailed(f"identity unreachable: {exc!r}") from exc
        if patched.status_code == 404:
            return False
        if patched.status_code != 200:  # 412: edited meanwhile; 5xx: down. Both retried.
            raise PlaceUpdateFailed(f"patch answered {patched.status_code}")
        return True
