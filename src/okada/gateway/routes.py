"""The routing table: which service owns which public path, and who may call it anonymously."""

from __future__ import annotations

import re
from dataclasses import dataclass

from okada.infra.security.internal import INTERNAL_HEADERS

__all__ = ["INTERNAL_HEADERS", "ROUTES", "Route", "match_route"]


@dataclass(frozen=True, slots=True)
class Route:
    """A path prefix owned by one upstream service.

    ``anonymous`` lists ``(method, path regex)`` pairs callable without a token; every other
    request on the prefix needs a valid access token at the edge.
    """

    prefix: str
    service: str
    anonymous: tuple[tuple[str, re.Pattern[str]], ...] = ()
    route_class: str = "default"

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
            ("POST", r"/v1/auth/otp/request"),
            ("POST", r"/v1/auth/otp/verify"),
            ("POST", r"/v1/auth/token/refresh"),
            ("POST", r"/v1/auth/password/login"),
        ),
        route_class="auth",
    ),
    Route("/.well-known/", "identity", _anon(("GET", r"/\.well-known/jwks\.json"))),
    Route("/v1/users/", "identity"),
    Route("/v1/admin/users", "identity"),
    Route("/_sim/", "simulators", _anon(("*", r"/_sim/.*")), route_class="simulators"),
)


def match_route(path: str) -> Route | None:
    """Return the route owning ``path`` (longest prefix wins)."""
    best: Route | None = None
    for route in ROUTES:
        owns = path.startswith(route.prefix) or path == route.prefix.rstrip("/")
        if owns and (best is None or len(route.prefix) > len(best.prefix)):
            best = route
    return best
