"""Identity and users: phone-first login, tokens, roles, profiles and saved places."""

from pathlib import Path

from okada.infra.hosting import ServiceSpec
from okada.services.identity.bootstrap import build

service = ServiceSpec(name="identity", build=build, migrations=Path(__file__).parent / "migrations")
