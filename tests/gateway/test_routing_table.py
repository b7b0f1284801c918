"""The routing table sends each public path to the service that owns it."""

from __future__ import annotations

import pytest

from okada.gateway.routes import match_route


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/v1/auth/otp/request", "identity"),
        ("/v1/users/me/places", "identity"),
        ("/.well-known/jwks.json", "identity"),
        ("/v1/catalog/stores/abc/products", "catalog"),
        ("/v1/merchant/stores/abc/offers/import", "catalog"),
        ("/v1/merchant/stores/abc/stock/adjustments", "inventory"),
        ("/v1/merchant/stores/abc/stock", "inventory"),
        ("/v1/merchant/stores/abc/stockists", "catalog"),
        ("/v1/inventory/reservations", "inventory"),
        ("/v1/app/home", "gateway"),
        ("/_sim/sms/messages", "simulators"),
    ],
)
def test_paths_route_to_their_owner(path: str, service: str) -> None:
    route = match_route(path)
    assert route is not None
    assert route.service == service


def test_unknown_paths_have_no_route() -> None:
    assert match_route("/v2/whatever") is None
