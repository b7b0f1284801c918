"""Every service's migrations go up, down and up again, revision by revision, on both dialects."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from okada.infra.db.migrations import alembic_config, downgrade, upgrade
from okada.runtime.registry import SERVICES, load
from tests.support.databases import scratch_engine


@pytest.mark.parametrize("service", sorted(SERVICES))
@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgresql",
                                                           marks=pytest.mark.distributed)])
async def test_stairway(service: str, dialect: str, tmp_path: Path) -> None:
    spec = load(service)
    script = ScriptDirectory.from_config(alembic_config(spec.migrations, service))
    revisions = list(reversed(list(script.walk_revisions())))
    assert revisions, f"{service} has no migrations"
    async with scratch_engine(dialect, tmp_path) as engine:
        for revision in revisions:
            await upgrade(engine, spec.migrations, service, revision.revision)
            await downgrade(engine, spec.migrations, service, revision.down_revision or "base")
            await upgrade(engine, spec.migrations, service, revision.revision)
