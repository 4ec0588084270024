"""Where run directories are: their names, ``reports/latest`` and their scenario folders.

One directory per ``offload bench`` invocation, named by its UTC start time, never reused
and never overwritten; ``reports/latest`` points at the newest. The layout is documented in
``reports/README.md`` (a public contract).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from offload.errors import RunInvalid

REPORTS_DIR = Path("reports")


def new_run_dir(reports_dir: Path = REPORTS_DIR) -> Path:
    """Create ``reports/runs/<UTC timestamp>/`` (a suffix if two runs start in one second)."""
    runs = reports_dir / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for attempt in range(100):
        candidate = runs / (stamp if attempt == 0 else f"{stamp}-{attempt}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise RunInvalid(f"cannot create a new run directory under {runs}")


def point_latest(run_dir: Path, reports_dir: Path = REPORTS_DIR) -> None:
    """Atomically repoint ``reports/latest`` at ``run_dir``."""
    latest = reports_dir / "latest"
    tmp = reports_dir / f".latest-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(os.path.relpath(run_dir.resolve(), reports_dir.resolve()))
    os.replace(tmp, latest)


def resolve_run_dir(path: Path | str) -> Path:
    """Accept a run directory (or ``reports/latest``) and check that it looks like one."""
    run_dir = Path(path).resolve()
    if not run_dir.is_dir():
        raise RunInvalid(f"{path}: no such run directory")
    if not (run_dir / "run.json").exists() and not list(run_dir.glob("*/manifest.json")):
        raise RunInvalid(
            f"{path}: not a run directory (no run.json and no <scenario>/manifest.json)"
        )
    return run_dir


def scenario_dirs(run_dir: Path) -> list[Path]:
    """Every scenario folder of a run (one per scenario and repeat), in run order."""
    found = [p.parent for p in run_dir.glob("*/manifest.json")]
    return sorted(found, key=lambda p: (p / "manifest.json").stat().st_mtime)
