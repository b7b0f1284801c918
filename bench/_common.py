"""Helpers shared by the benchmarks: statistics, machine facts, versions and markdown tables."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import shlex
import statistics
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Return the ``q`` percentile (0-100) of already sorted values, nearest-rank method.

    Nearest rank (no interpolation) so that a reported p99 is a latency that really happened.
    """
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def summarise(values: Iterable[float]) -> dict[str, float]:
    """Return count, p50, p90, p95, p99, p99.9 and max of ``values`` (any order)."""
    ordered = sorted(values)
    return {
        "count": float(len(ordered)),
        "p50": percentile(ordered, 50),
        "p90": percentile(ordered, 90),
        "p95": percentile(ordered, 95),
        "p99": percentile(ordered, 99),
        "p999": percentile(ordered, 99.9),
        "max": ordered[-1] if ordered else float("nan"),
    }


def median_range(values: Sequence[float]) -> tuple[float, float, float]:
    """Return (median, min, max) of ``values``; NaNs when there are none."""
    if not values:
        nan = float("nan")
        return nan, nan, nan
    return statistics.median(values), min(values), max(values)


def spread(values: Sequence[float]) -> float:
    """Return (max - min) / median, the relative spread the method caps at 10%."""
    med = statistics.median(values)
    return (max(values) - min(values)) / med if med else float("nan")


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo (lscpu is often less specific in VMs)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions(packages: Sequence[str]) -> dict[str, str]:
    """Return installed versions of ``packages`` plus Python and the kernel."""
    found = {"python": platform.python_version(), "kernel": platform.release()}
    for name in packages:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def machine_lines(
    load_start: Sequence[float], load_end: Sequence[float], extra: dict[str, str] | None = None
) -> list[str]:
    """Markdown bullet lines describing the box, its load and the software of a run."""
    lines = [
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical cores; kernel {platform.release()}",
        f"- Load average (1/5/15 min) at start {' / '.join(f'{x:.2f}' for x in load_start)}, "
        f"at end {' / '.join(f'{x:.2f}' for x in load_end)}",
    ]
    for key, value in (extra or {}).items():
        lines.append(f"- {key}: {value}")
    return lines


def command_line() -> str:
    """The command that started this run, as it would be typed from the repo root."""
    args = " ".join(shlex.quote(a) for a in sys.argv[1:])
    module = Path(sys.argv[0]).stem
    return f".venv/bin/python -m bench.{module} {args}".rstrip()


def now_utc() -> str:
    """The current UTC time, ISO format to the second."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Render a markdown table; right-align everything but the first column."""
    out = ["| " + " | ".join(headers) + " |"]
    out.append("|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|")
    for row in rows:
        out.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(out)


def fmt(value: float, digits: int = 2) -> str:
    """Format a float with a fixed number of decimals; NaN as a dash."""
    if value != value:  # NaN
        return "-"
    return f"{value:,.{digits}f}"


def machine_busy_pct(seconds: float = 2.0) -> float:
    """Return how busy the whole machine was over the next ``seconds``, in % of all cores."""
    import psutil

    return float(psutil.cpu_percent(interval=seconds))


def wait_until_quiet(max_wait: float, threshold: float = 20.0) -> float:
    """Wait up to ``max_wait`` s for the box to fall under ``threshold`` % busy; return the last
    reading.

    A shared box cannot be made quiet, only waited for: this polls every few seconds and
    gives up (returning the busy share it saw) rather than blocking for ever.
    """
    import time

    deadline = time.monotonic() + max_wait
    busy = machine_busy_pct()
    while busy > threshold and time.monotonic() < deadline:
        print(f"machine {busy:.0f}% busy, waiting for < {threshold:.0f}%", file=sys.stderr,
              flush=True)
        time.sleep(5)
        busy = machine_busy_pct()
    return busy


def source_fingerprint(*relative_dirs: str) -> str:
    """Return a short hash of the Python sources under ``relative_dirs`` and their newest mtime.

    The source tree changes while benchmarks run (no VCS is consulted here): the fingerprint
    ties a result to the exact code it measured.
    """
    import hashlib

    digest = hashlib.sha256()
    newest = 0.0
    for rel in relative_dirs:
        for path in sorted((ROOT / rel).rglob("*.py")):
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
            newest = max(newest, path.stat().st_mtime)
    stamp = dt.datetime.fromtimestamp(newest, dt.UTC).replace(microsecond=0).isoformat()
    return f"sha256 {digest.hexdigest()[:12]} (newest file {stamp})"
