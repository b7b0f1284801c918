"""A rider's corrected drop point is saved back to the customer's place in identity."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import orjson
import pytest

from okada.contracts.orders.v1 import OrderAccepted
from okada.infra.security.internal import PRINCIPAL_HEADER, PrincipalCodec
from okada.kernel.authz import Role
from okada.services.delivery.adapters.identity_places import IdentityPlaces
from okada.services.delivery.application.places import PlaceCorrectionService
from okada.services.delivery.application.ports import PlaceUpdateFailed
from okada.services.delivery.domain.delivery import RiderUpdate, Status
from tests.services.delivery.conftest import AKWA, Harness


class FakePlaces:
    """Identity's places as the worker sees them: fails ``failures`` times, then works."""

    def __init__(self, failures: int = 0, exists: bool = True) -> None:
        self.failures = failures
        self.exists = exists
        self.calls: list[tuple[uuid.UUID, uuid.UUID, float, float]] = []

    async def move_pin(self, customer_id: uuid.UUID, place_id: uuid.UUID, lat: float,
                       lng: float) -> bool:
        self.calls.append((customer_id, place_id, lat, lng))
        if self.failures:
            self.failures -= 1
            raise PlaceUpdateFailed("identity down")
        return self.exists


async def delivered_with_correction(h: Harness, place_id: uuid.UUID | None,
                                    door: tuple[float, float]) -> Any:
    store = await h.store(prep_minutes=0)
    rider = await h.rider(AKWA[0] + 0.001, AKWA[1])
    order_id, customer = uuid.uuid4(), uuid.uuid4()
    state = h.order_state(store, customer_id=customer, status="READY_FOR_PICKUP")
    state = state.model_copy(update={"address": state.address.model_copy(
        update={"place_id": place_id})})
    await h.deliver(OrderAccepted(entity_id=order_id, version=1, state=state))
    job = await h.by_order(order_id)
    ((offer_id, _),) = await h.dispatch_offers()
    await h.services.dispatch.accept(rider, offer_id)
    for status in (Status.PICKED_UP, Status.DELIVERED):
        await h.services.deliveries.rider_report(rider, job.id, RiderUpdate(
            status=status, at=h.clock.now(), pin=job.pin if status is Status.DELIVERED else None,
            lat=door[0], lng=door[1]))
    return job


async def test_the_corrected_pin_reaches_the_place_with_retries(h: Harness) -> None:
    place_id = uuid.uuid4()
    door = (4.0911, 9.7466)
    job = await delivered_with_correction(h, place_id, door)
    places = FakePlaces(failures=2)
    worker = PlaceCorrectionService(uow_factory=h.uow, clock=h.clock, places=places,
                                    first_delay=dt.timedelta(seconds=30))
    assert await worker.run_once() == 0  # identity down: retried later
    assert await worker.run_once() == 0  # not due yet: nothing attempted
    assert len(places.calls) == 1
    h.clock.advance(seconds=30)
    assert await worker.run_once() == 0  # second failure: waits 60 s now
    h.clock.advance(seconds=59)
    assert await worker.run_once() == 0 and len(places.calls) == 2
    h.clock.advance(seconds=1)
    assert await worker.run_once() == 1
    assert places.calls[-1] == (job.customer_id, place_id, *door)
    h.clock.advance(hours=1)
    assert await worker.run_once() == 0 and len(places.calls) == 3  # done once only


async def test_no_saved_place_or_no_correction_means_nothing_to_push(h: Harness) -> None:
    await delivered_with_correction(h, None, (4.0911, 9.7466))
    places = FakePlaces()
    worker = PlaceCorrectionService(uow_factory=h.uow, clock=h.clock, places=places)
    assert await worker.run_once() == 0 and places.calls == []


async def test_identity_places_adapter_patches_as_the_customer() -> None:
    codec = PrincipalCodec("test-secret-for-places-adapter")
    customer, place = uuid.uuid4(), uuid.uuid4()
    seen: list[httpx.Request] = []

    def identity(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        principal = codec.decode(request.headers.get(PRINCIPAL_HEADER))
        assert principal is not None and principal.user_id == customer
        assert principal.roles == frozenset({Role.CUSTOMER})
        if request.method == "GET":
            return httpx.Response(200, json={"id": str(place)}, headers={"ETag": '"v7"'})
        assert request.headers["if-match"] == '"v7"'
        assert request.headers["content-type"] == "application/merge-patch+json"
        assert orjson.loads(request.content) == {"lat": 4.09, "lng": 9.74}
        return httpx.Response(200, json={"id": str(place)})

    client = httpx.AsyncClient(transport=httpx.MockTransport(identity),
                               base_url="http://identity.internal")
    places = IdentityPlaces(lambda: client, codec)
    assert await places.move_pin(customer, place, 4.09, 9.74) is True
    assert [r.method for r in seen] == ["GET", "PATCH"]
    assert seen[1].url.path == f"/v1/users/me/places/{place}"

    gone = IdentityPlaces(lambda: httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(404)),
        base_url="http://identity.internal"), codec)
    assert await gone.move_pin(customer, place, 4.09, 9.74) is False
    down = IdentityPlaces(lambda: httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(503)),
        base_url="http://identity.internal"), codec)
    with pytest.raises(PlaceUpdateFailed):
        await down.move_pin(customer, place, 4.09, 9.74)
