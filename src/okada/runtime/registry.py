"""Service name to package, imported lazily so a process loads only what it hosts."""

from __future__ import annotations

import importlib

from okada.infra.hosting import ServiceSpec

SERVICES: dict[str, str] = {
    "identity": "okada.services.identity",
    "catalog": "okada.services.catalog",
    "inventory": "okada.services.inventory",
    "payments": "okada.services.payments",
    "sync": "okada.services.sync",
    "orders": "okada.services.orders",
    "notifications": "okada.services.notifications",
    "delivery": "okada.services.delivery",
}


def load(name: str) -> ServiceSpec:
    """Import service ``name`` and return its facade."""
    if name not in SERVICES:
        raise KeyError(f"unknown service {name!r}; known: {', '.join(sorted(SERVICES))}")
    spec: ServiceSpec = importlib.import_module(SERVICES[name]).service
    return spec
