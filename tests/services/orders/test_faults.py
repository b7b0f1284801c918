"""Fault injection between orders and inventory: timeouts are unknown outcomes, steps retry."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from okada.kernel.errors import Unavailable
from okada.services.orders.application.checkout import CheckoutService, PlaceOrder
from okada.services.orders.application.saga import SagaRunner
from tests.services.orders.conftest import Harness


class Flaky:
    """Wraps the real inventory client; ``fail`` names calls that fail after (or before) acting."""

    def __init__(self, real: Any, fail: dict[str, int], *, after: bool) -> None:
        self.real = real
        self.fail = fail
        self.after = after
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.real, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            if self.fail.get(name, 0) > 0:
                self.fail[name] -= 1
                if self.after:
                    await method(*args, **kwargs)  # it happened, the answer was lost
                raise Unavailable("inventory_unavailable", retry_after=1)
            return await method(*args, **kwargs)

        return call


def command(h: Harness, order_id: uuid.UUID, lines: Sequence[tuple[uuid.UUID, int]]
            ) -> PlaceOrder:
    return PlaceOrder(order_id=order_id, customer_id=uuid.uuid4(), store_id=h.store_id,
                      lines=list(lines), place_id=None,
                      address={"city": "Douala", "quartier": "Akwa", "lat": 4.053,
                               "lng": 9.77},
                      payment_method="cash", payer_phone=None, note=None, language="fr")


async def test_reservation_timeout_is_an_unknown_outcome(h: Harness) -> None:
    state = h.host.runtimes["orders"].app.state
    flaky = Flaky(state.inventory, {"reserve": 1}, after=True)
    checkout = CheckoutService(uow_factory=state.uow_factory, clock=h.clock, inventory=flaky,
                               delivery=state.checkout._delivery, limits=state.limits)
    order_id = uuid.uuid4()
    place = command(h, order_id, [(h.products[0], 4)])
    try:
        await checkout.place(place)
    except Unavailable:
        pass
    else:
        raise AssertionError("the lost answer must surface as 503")
    assert await h.rows("order_events") == []
    assert await h.levels(h.products[0]) == (100, 4)  # inventory did hold it
    placed = await checkout.place(place)  # the client retries: the same hold is reused
    assert placed.state["status"] == "CONFIRMED"
    assert await h.levels(h.products[0]) == (100, 4)
    assert flaky.calls == ["reserve", "reserve"]


async def test_saga_steps_retry_with_backoff_until_done(h: Harness) -> None:
    state = h.host.runtimes["orders"].app.state
    response = await h.checkout(uuid.uuid4())
    oid = response.json()["id"]
    cancelled = await h.orders.post(f"/v1/orders/{oid}/cancel", headers=h.customer(
        uuid.UUID(response.json()["customer_id"])))
    assert cancelled.status_code == 200
    flaky = Flaky(state.inventory, {"release": 2}, after=False)
    runner = SagaRunner(uow_factory=state.uow_factory, clock=h.clock, inventory=flaky,
                        limits=state.limits)
    assert await runner.run_once() == 0
    (step,) = await h.rows("saga_steps")
    assert step["attempts"] == 1 and "inventory_unavailable" in step["last_error"]
    assert await runner.run_once() == 0  # not due yet: backing off (1 s)
    h.clock.advance(seconds=1)
    assert await runner.run_once() == 0  # second failure: 2 s now
    h.clock.advance(seconds=1)
    assert await runner.run_once() == 0
    h.clock.advance(seconds=1)
    assert await runner.run_once() == 1
    assert flaky.calls == ["release", "release", "release"]
    (step,) = await h.rows("saga_steps")
    assert (step["attempts"], step["note"]) == (3, "released")
    assert step["done_at"] is not None
    assert await h.levels(h.products[0]) == (100, 0)
    assert await runner.run_once() == 0  # done steps never run again
    assert flaky.calls == ["release"] * 3
