"""The per-user hourly cap on non-critical pushes."""

from __future__ import annotations

import uuid

import pytest

from okada.contracts.orders.v1 import OrderAccepted, OrderConfirmed
from okada.contracts.payments.v1 import RefundCompleted
from tests.services.notifications.conftest import Notif, order_state, payment_state


@pytest.fixture
def env() -> dict[str, str]:
    return {"NOTIFICATIONS_HOURLY_CAP": "2"}


async def test_per_user_hourly_cap_suppresses_extra_pushes_but_not_critical(
        notif: Notif) -> None:
    customer = await notif.user()
    token = await notif.device(customer)
    for version in range(3):
        await notif.publish(RefundCompleted(entity_id=uuid.uuid4(), version=version + 2,
                                            state=payment_state(uuid.uuid4(), customer,
                                                                status="refunded"),
                                            amount_xaf=1000, reason="cancelled"))
    await notif.publish(OrderConfirmed(entity_id=uuid.uuid4(), version=2,
                                       state=order_state(customer)))
    await notif.dispatch()
    kinds = sorted(p["data"]["kind"] for p in await notif.pushes(token))
    assert kinds == ["order_confirmed", "refund_completed", "refund_completed"]
    statuses = sorted(m["status"] for m in await notif.admin(user_id=str(customer)))
    assert statuses == ["sent", "sent", "sent", "suppressed"]
    assert len((await notif.inbox(customer))["data"]) == 4  # the inbox keeps everything
    # an hour later the cap is free again
    notif.clock.advance(hours=1, seconds=1)
    await notif.publish(OrderAccepted(entity_id=uuid.uuid4(), version=3,
                                      state=order_state(customer, status="ACCEPTED")))
    await notif.dispatch()
    assert len(await notif.pushes(token)) == 4


