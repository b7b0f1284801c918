"""Typed settings: one env prefix per service with a shared ``OKADA_`` fallback."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any, ClassVar, Self, cast

from pydantic import model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEV_SECRET = "dev-only-insecure-secret-change-me"  # noqa: S105 - the placeholder we refuse in prod


class Mode(enum.StrEnum):
    """How the platform is hosted."""

    EMBEDDED = "embedded"
    DISTRIBUTED = "distributed"


class _PrefixedSettings(BaseSettings):
    """Base for settings read from ``<PREFIX>_<NAME>`` before ``OKADA_<NAME>``."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)
    env_prefix_first: ClassVar[str] = "OKADA_"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit arguments win, then the service prefix, then the shared prefix."""
        return (
            init_settings,
            EnvSettingsSource(settings_cls, env_prefix=cls.env_prefix_first),
            EnvSettingsSource(settings_cls, env_prefix="OKADA_"),
        )

    @classmethod
    def for_service(cls, service: str, **overrides: Any) -> Self:
        """Read these settings as seen by ``service`` (``IDENTITY_X`` before ``OKADA_X``)."""
        prefixed = type(
            f"{service.title()}{cls.__name__}",
            (cls,),
            {"env_prefix_first": f"{service.upper()}_", "__module__": cls.__module__},
        )
        return cast(Self, prefixed(**{k: v for k, v in overrides.items() if v is not None}))


class PlatformSettings(_PrefixedSettings):
    """Settings shared by every process.

    Values come from ``<SERVICE>_<NAME>`` first, then ``OKADA_<NAME>``, then the default, so
    one embedded process can host eleven differently configured services.
    """

    mode: Mode = Mode.EMBEDDED
    data_dir: Path = Path("var")
    database_url: str | None = None
    postgres_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432"
    database_prefix: str = "okada_"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    amqp_exchange: str = "okada.events"
    amqp_queue_prefix: str = ""
    redis_prefix: str = "okada:"
    port_offset: int = 0
    redis_url: str = "redis://127.0.0.1:6379/0"
    internal_secret: str = DEV_SECRET
    public_base_url: str = "http://127.0.0.1:8000"
    service_urls: dict[str, str] = {}
    log_level: str = "INFO"
    log_json: bool = True
    max_body_bytes: int = 1_048_576
    cors_origins: list[str] = []
    docs_enabled: bool = True
    seed_demo_data: bool = True
    """Load the demo catalog and stock into empty databases at start (off in production)."""

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> Self:
        if self.mode is Mode.DISTRIBUTED and self.internal_secret == DEV_SECRET:
            raise ValueError(
                "distributed mode refuses the development secret: set OKADA_INTERNAL_SECRET"
            )
        return self

    def database_url_for(self, service: str) -> str:
        """Return the database URL of ``service`` in the current mode."""
        if self.database_url:
            return self.database_url
        if self.mode is Mode.EMBEDDED:
            return f"sqlite+aiosqlite:///{self.data_dir / service}.db"
        return f"{self.postgres_url.rstrip('/')}/{self.database_prefix}{service}"

    def service_url(self, service: str) -> str:
        """Return the base URL of a service's HTTP API in distributed mode."""
        return self.service_urls.get(
            service, f"http://127.0.0.1:{default_port(service) + self.port_offset}"
        )


SERVICE_PORTS = {
    "gateway": 8000,
    "identity": 8101,
    "catalog": 8102,
    "inventory": 8103,
    "orders": 8104,
    "payments": 8105,
    "delivery": 8106,
    "notifications": 8107,
    "sync": 8108,
    "search": 8109,
    "analytics": 8110,
    "recommendations": 8111,
    "simulators": 8190,
}


def default_port(service: str) -> int:
    """Return the port a service listens on by default in distributed mode."""
    return SERVICE_PORTS[service]
