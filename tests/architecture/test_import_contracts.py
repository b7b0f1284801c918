"""The architecture rules hold: services never import each other, the kernel stays pure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_linter_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_no_module_builds_infrastructure_at_import() -> None:
    # Importing every module must not connect anywhere or create engines or clients.
    code = (
        "import pkgutil, importlib, okada, sqlalchemy.ext.asyncio as a, httpx;"
        "made=[];orig=a.create_async_engine;"
        "a.create_async_engine=lambda *x,**k: made.append(x) or orig(*x,**k);"
        "oc=httpx.AsyncClient.__init__;"
        "httpx.AsyncClient.__init__=lambda s,*x,**k: made.append('client') or oc(s,*x,**k);"
        "[importlib.import_module(m.name) for m in pkgutil.walk_packages(okada.__path__, 'okada.')"
        " if '.migrations' not in m.name];"
        "assert not made, made"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
