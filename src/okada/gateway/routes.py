"""The routing table: which service owns which public path, and who may call it anonymously."""

from __future__ import annotations

import re
from dataclasses import dataclass

from okada.infra.security.internal import INTERNAL_HEADERS

__all__ = [
    "API",
    "CALLBACK",
    "EXEMPT",
    "INTERNAL_HEADERS",
    "LOCAL_SERVICE",
    "MONEY",
    "OTP_REQUEST",
    "ROUTES",
    "Route",
    "match_route",
]

API = "api"
"""Route class of ordinary endpoints: reads and writes are limited by method."""
OTP_REQUEST = "otp_request"
"""Route class of SMS-sending endpoints: strict per phone and per IP, failing closed."""
CALLBACK = "callback"
"""Route class of provider callbacks: limited per source IP, apart from customer traffic."""
EXEMPT = "exempt"
"""Route class with no gateway rate limit (the in-process provider simulators)."""
MONEY = "money"
"""Rate class of requests that move money (placing or cancelling an order, starting a
payment): a per-principal limit stricter than ordinary writes. Assigned per request by a
route's ``money`` patterns, not to whole routes."""

LOCAL_SERVICE = "gateway"
"""Service name of routes the gateway answers itself (the home aggregate)."""


@dataclass(frozen=True, slots=True)
class Route:
    """A path prefix owned by one upstream service.

    Attributes:
        prefix: Path prefix; the longest matching prefix wins.
        service: Upstream service name (``gateway`` for routes answered by the gateway).
        anonymous: ``(method, path regex)`` pairs callable without a token; every other request
            on the prefix needs a valid access token at the edge.
        route_class: Rate-limit class (:data:`API`, :data:`OTP_REQUEST`, :data:`CALLBACK`,
            :data:`EXEMPT`); :data:`API` limits reads and writes separately by method.
        cacheable: Anonymous GETs may be answered from the gateway's response cache.
        timeout: Seconds allowed to the upstream; None uses the upstream's default.
        pattern: When set, the route owns only paths under ``prefix`` that match it; such
            routes win over plain prefixes (a service that owns part of another's subtree,
            like inventory's ``/v1/merchant/stores/{id}/stock``).
        money: ``(method, path regex)`` pairs that touch money; they are limited under the
            :data:`MONEY` class instead of the route's.
    """

    prefix: str
    service: str
    anonymous: tuple[tuple[str, re.Pattern[str]], ...] = ()
    route_class: str = API
    cacheable: bool = False
    timeout: float | None = None
    pattern: re.Pattern[str] | None = None
    money: tuple[tuple[str, re.Pattern[str]], ...] = ()

    def rate_class(self, method: str, path: str) -> str:
        """Return the rate-limit class of ``method path`` on this route."""
        if self.money and any(m == method and rx.fullmatch(path) for m, rx in self.money):
            return MONEY
        return self.route_class

    def allows_anonymous(self, method: str, path: str) -> bool:
        """Return whether ``method path`` may be called without a token."""
        return any(m in (method, "*") and rx.fullmatch(path) for m, rx in self.anonymous)


def _anon(*pairs: tuple[str, str]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((method, re.compile(pattern)) for method, pattern in pairs)


ROUTES: tuple[Route, ...] = (
    Route(
        "/v1/auth/",
        "identity",
        _anon(
            ("POST", r"/v1/auth/otp/verify"),
            ("POST", r"/v1/auth/token/refresh"),
            ("POST", r"/v1/auth/password/login"),
        ),
    ),
    # Its own entry so the SMS-sending endpoint gets the strict, fail-closed OTP limits.
    Route(
        "/v1/auth/otp/request",
        "identity",
        _anon(("POST", r"/v1/auth/otp/request")),
        route_class=OTP_REQUEST,
    ),
    Route("/.well-known/", "identity", _anon(("GET", r"/\.well-known/jwks\.json"))),
    Route("/v1/users/", "identity"),
    Route("/v1/admin/users", "identity"),
    Route("/v1/admin/keys", "identity"),
    Route(
        "/v1/catalog/",
        "catalog",
        _anon(("GET", r"/v1/catalog/.*")),
        cacheable=True,
    ),
    Route(
        "/v1/search/",
        "search",
        _anon(("GET", r"/v1/search(/.*)?")),
        cacheable=True,
    ),
    Route(
        "/v1/payments/callbacks/",
        "payments",
        _anon(("POST", r"/v1/payments/callbacks/.+"), ("PUT", r"/v1/payments/callbacks/.+")),
        route_class=CALLBACK,
    ),
    Route("/v1/merchant/", "catalog"),
    Route(
        "/v1/merchant/stores/",
        "inventory",
        pattern=re.compile(r"/v1/merchant/stores/[^/]+/stock(/.*)?"),
    ),
    Route("/v1/inventory/", "inventory"),
    Route(
        "/v1/orders/",
        "orders",
        money=_anon(("POST", r"/v1/orders/?"), ("POST", r"/v1/orders/[^/]+/cancel")),
    ),
    Route("/v1/merchant/orders/", "orders"),
    Route("/v1/admin/orders/", "orders"),
    # Every POST here starts or drives a payment; provider callbacks have their own route.
    Route("/v1/payments/", "payments", money=_anon(("POST", r"/v1/payments(/.*)?"))),
    Route("/v1/admin/payments/", "payments"),
    Route("/v1/delivery/", "delivery"),
    Route("/v1/rider/", "delivery"),
    Route("/v1/admin/delivery/", "delivery"),
    # Geocoding helps people type an address before they sign in; the gazetteer is public.
    Route("/v1/geo/", "delivery", _anon(("GET", r"/v1/geo/.*"))),
    Route("/v1/notifications/", "notifications"),
    Route("/v1/admin/notifications/", "notifications"),
    Route("/v1/sync/", "sync"),
    Route("/v1/uploads/", "sync"),
    Route("/v1/app/", LOCAL_SERVICE, _anon(("GET", r"/v1/app/home"))),
    Route("/_sim/", "simulators", _anon(("*", r"/_sim/.*")), route_class=EXEMPT),
)


_MATCHED: dict[str, Route | None] = {}
_MATCHED_MAX = 4096
_MATCHED_TABLE: list[tuple[Route, ...]] = [ROUTES]


def match_route(path: str) -> Route | None:
    """Return the route owning ``path``: a matching pattern route, else the longest prefix.

    Answers are remembered per path (bounded): most traffic repeats a few paths
    (``/v1/users/me``, catalog pages). A replaced table (tests) empties the memory.
    """
    if _MATCHED_TABLE[0] is not ROUTES:
        _MATCHED.clear()
        _MATCHED_TABLE[0] = ROUTES
    try:
        return _MATCHED[path]
    except KeyError:
        pass
    best = _match(path)
    if len(_MATCHED) >= _MATCHED_MAX:
        _MATCHED.clear()
    _MATCHED[path] = best
    return best


def _match(path: str) -> Route | None:
    best: Route | None = None
    for route in ROUTES:
        owns = path.startswith(route.prefix) or path == route.prefix.rstrip("/")
        if not owns:
            continue
        if route.pattern is not None:
            if route.pattern.fullmatch(path):
                return route
            continue
        if best is None or len(route.prefix) > len(best.prefix):
            best = route
    return best
