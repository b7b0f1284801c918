"""Quotes at checkout: delivery area, fee rules, surge, ETA by time of day."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from okada.contracts.catalog.v1 import OpeningSlot, StoreState, StoreUpdated
from okada.kernel.clock import DOUALA
from okada.services.delivery.application.geocoding import Quote, QuoteRequest
from okada.services.delivery.domain.errors import PointOutsideCameroon
from okada.services.delivery.domain.geo import Point
from tests.services.delivery.conftest import AKWA, BONAMOUSSADI, Harness

NEAR_STORE = (AKWA[0] + 0.003, AKWA[1] + 0.003)  # about 470 m away
JAPOMA = (4.0365, 9.8196)


async def quote(h: Harness, store: uuid.UUID, **drop: object) -> Quote:
    return await h.services.quotes.quote(QuoteRequest(store_id=store, **drop))  # type: ignore[arg-type]


async def test_a_pin_inside_the_radius_is_served_with_fee_distance_and_eta(h: Harness) -> None:
    store = await h.store(radius_m=8000, prep_minutes=10)
    near = await quote(h, store, lat=NEAR_STORE[0], lng=NEAR_STORE[1])
    far = await quote(h, store, lat=BONAMOUSSADI[0], lng=BONAMOUSSADI[1], quartier="ignored")
    assert near.serviceable and far.serviceable
    assert (far.lat, far.lng) == BONAMOUSSADI  # the pin wins over the text
    assert far.distance_m is not None and near.distance_m is not None
    assert far.distance_m > near.distance_m
    assert far.fee_xaf > near.fee_xaf >= h.settings.fee_base_xaf
    assert far.fee_xaf % h.settings.fee_rounding_xaf == 0
    assert near.eta_minutes is not None and far.eta_minutes is not None
    assert near.eta_minutes >= 10  # never faster than the preparation
    assert far.eta_minutes > near.eta_minutes
    assert far.eta_at == h.clock.now() + dt.timedelta(minutes=far.eta_minutes)


async def test_outside_the_radius_or_the_polygon_is_not_served(h: Harness) -> None:
    small = await h.store(radius_m=2000)
    outside = await quote(h, small, lat=BONAMOUSSADI[0], lng=BONAMOUSSADI[1])
    assert (outside.serviceable, outside.reason) == (False, "outside_delivery_area")
    assert outside.distance_m is not None and outside.distance_m > 2000
    assert outside.fee_xaf == 0 and outside.eta_minutes is None

    square = [(4.04, 9.69), (4.04, 9.71), (4.06, 9.71), (4.06, 9.69)]
    zoned = await h.store(radius_m=50_000, polygon=square)  # the polygon wins
    assert (await quote(h, zoned, lat=4.05, lng=9.70)).serviceable
    refused = await quote(h, zoned, lat=BONAMOUSSADI[0], lng=BONAMOUSSADI[1])
    assert refused.reason == "outside_delivery_area"


async def test_few_riders_near_the_store_means_a_surge_fee(h: Harness) -> None:
    store = await h.store()
    scarce = await quote(h, store, lat=NEAR_STORE[0], lng=NEAR_STORE[1])
    for i in range(h.settings.surge_min_riders):
        await h.rider(AKWA[0] + 0.001 * (i + 1), AKWA[1])
    plenty = await quote(h, store, lat=NEAR_STORE[0], lng=NEAR_STORE[1])
    assert scarce.fee_xaf - plenty.fee_xaf == h.settings.surge_xaf
    # riders near the store also shorten the promise (ride to the store known)
    assert plenty.eta_minutes is not None and scarce.eta_minutes is not None
    assert plenty.eta_minutes <= scarce.eta_minutes


async def test_far_quartiers_carry_their_surcharge(h: Harness) -> None:
    store = await h.store(radius_m=20_000)
    japoma = await quote(h, store, lat=JAPOMA[0], lng=JAPOMA[1])
    road = h.services.quotes.speeds.road_m(Point(*AKWA), Point(*JAPOMA))
    plain = h.services.quotes.fees.fee(road, quartier=None, surge=True)
    assert japoma.fee_xaf - plain == h.settings.zone_surcharges_xaf["japoma"]


@pytest.mark.parametrize(("local_hour", "band"), [(7, "peak"), (12, "day"), (23, "night")])
async def test_the_eta_follows_motorbike_speeds_by_hour(
    h: Harness, local_hour: int, band: str
) -> None:
    store = await h.store(radius_m=10_000, prep_minutes=0)
    h.clock._now = dt.datetime(2026, 1, 5, local_hour - 1, 30, tzinfo=dt.UTC)  # UTC+1
    result = await quote(h, store, lat=BONAMOUSSADI[0], lng=BONAMOUSSADI[1])
    speeds = h.services.quotes.speeds
    assert speeds.kmh(h.clock.now()) == getattr(speeds, f"{band}_kmh")
    road_km = (result.distance_m or 0) / 1000
    ride = -(-road_km * 60 // getattr(speeds, f"{band}_kmh"))
    assert result.eta_minutes is not None and result.eta_minutes >= ride


async def test_eta_at_rush_hour_is_longer_than_at_night(h: Harness) -> None:
    store = await h.store(radius_m=10_000, prep_minutes=0)
    h.clock._now = dt.datetime(2026, 1, 5, 7, 0, tzinfo=dt.UTC)  # 08:00 in Douala
    rush = await quote(h, store, lat=BONAMOUSSADI[0], lng=BONAMOUSSADI[1])
    h.clock._now = dt.datetime(2026, 1, 5, 22, 30, tzinfo=dt.UTC)  # 23:30 in Douala
    night = await quote(h, store, lat=BONAMOUSSADI[0], lng=BONAMOUSSADI[1])
    assert rush.eta_minutes is not None and night.eta_minutes is not None
    assert rush.eta_minutes > night.eta_minutes
    assert rush.fee_xaf == night.fee_xaf  # the fee does not depend on the hour


async def test_store_changes_reach_quotes_within_the_cache_time(h: Harness) -> None:
    store = await h.store(radius_m=8000)
    assert (await quote(h, store, lat=BONAMOUSSADI[0], lng=BONAMOUSSADI[1])).serviceable
    await h.deliver(StoreUpdated(entity_id=store, version=2, state=StoreState(
        name="Okada Akwa", kind="dark_store", city="Douala", quartier="Akwa", landmark=None,
        lat=AKWA[0], lng=AKWA[1], delivery_radius_m=2000, delivery_polygon=None,
        opening_hours=[], status="open", prep_minutes=10)))
    cached = await quote(h, store, lat=BONAMOUSSADI[0], lng=BONAMOUSSADI[1])
    assert cached.serviceable  # the quote may use the replica of a few seconds ago
    h.clock.advance(seconds=h.settings.quote_store_cache_seconds)
    fresh = await quote(h, store, lat=BONAMOUSSADI[0], lng=BONAMOUSSADI[1])
    assert (fresh.serviceable, fresh.reason) == (False, "outside_delivery_area")


async def test_closed_unknown_stores_and_unplaceable_addresses(h: Harness) -> None:
    closed = await h.store(status="closed")
    assert (await quote(h, closed, lat=4.05, lng=9.70)).reason == "store_closed"
    # Monday 07:00-10:00 and 11:30-13:00 in Douala; NOON is Monday 12:00 there
    mornings = await h.store(opening_hours=[OpeningSlot(weekday=0, opens="07:00",
                                                        closes="10:00")])
    assert (await quote(h, mornings, lat=4.05, lng=9.70)).reason == "store_closed"
    lunch = await h.store(opening_hours=[OpeningSlot(weekday=0, opens="11:30",
                                                     closes="13:00")])
    assert (await quote(h, lunch, lat=4.05, lng=9.70)).serviceable
    unknown = await quote(h, uuid.uuid4(), lat=4.05, lng=9.70)
    assert (unknown.serviceable, unknown.reason) == (False, "store_unknown")
    store = await h.store(radius_m=10_000)
    by_text = await quote(h, store, city="Douala", quartier="Bonamoussadi",
                          landmark="carrefour Eto'o")
    assert by_text.serviceable and by_text.lat is not None
    lost = await quote(h, store, city="Douala", quartier="zzqx", landmark="nowhere at all")
    assert (lost.serviceable, lost.reason) == (False, "address_not_found")
    with pytest.raises(PointOutsideCameroon):
        await quote(h, store, lat=48.85, lng=2.35)


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (dt.datetime(2026, 1, 9, 23, 30, tzinfo=DOUALA), True),  # Friday night
        (dt.datetime(2026, 1, 10, 0, 30, tzinfo=DOUALA), True),  # ...past midnight into Saturday
        (dt.datetime(2026, 1, 10, 2, 0, tzinfo=DOUALA), False),  # the closing minute is outside
        (dt.datetime(2026, 1, 10, 23, 30, tzinfo=DOUALA), False),  # no Saturday slot
    ],
)
def test_an_overnight_slot_is_open_past_midnight_as_catalog_and_orders_say(
    local: dt.datetime, expected: bool
) -> None:
    """Delivery once compared HH:MM strings and refused Friday 18:00-02:00 after midnight
    while catalog showed the store open: every service now applies one rule."""
    from okada.services.delivery.application.geocoding import store_open
    from okada.services.delivery.application.model import StoreRecord

    store = StoreRecord(
        store_id=uuid.uuid4(), version=1, name="Nuit", city="Douala", quartier="Akwa",
        lat=AKWA[0], lng=AKWA[1], radius_m=3000, polygon=None, status="open", prep_minutes=10,
        opening_hours=[{"weekday": 4, "opens": "18:00", "closes": "02:00"}])
    assert store_open(store, local.astimezone(dt.UTC)) is expected
