"""Catalog settings: ``CATALOG_*`` first, then ``OKADA_*``."""

from __future__ import annotations

from okada.infra.settings import PlatformSettings


class CatalogSettings(PlatformSettings):
    """Catalog service settings (the shared platform ones suffice today)."""
