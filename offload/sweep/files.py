"""Sweep files: read one and refuse a malformed one before anything starts, in the words a
scenario file is refused with (file, field, what was expected)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from offload.errors import ScenarioError
from offload.scenario import SCENARIOS_DIR, describe_validation_error
from offload.sweep.model import SweepFile

SWEEPS_DIR = SCENARIOS_DIR / "sweeps"
DEFAULT_SWEEP = SWEEPS_DIR / "default.yaml"


def sweep_path(name_or_path: str | None) -> Path:
    """A shipped sweep by name (``default``) or any YAML file path; None: the default."""
    if name_or_path is None:
        return DEFAULT_SWEEP
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        return candidate
    shipped = SWEEPS_DIR / f"{name_or_path}.yaml"
    if shipped.exists():
        return shipped
    known = ", ".join(sorted(p.stem for p in SWEEPS_DIR.glob("*.yaml")))
    raise ScenarioError(f"no sweep named {name_or_path!r} (shipped: {known}; or give a file path)")


def load_sweep(path: Path | str) -> SweepFile:
    """Read and validate one sweep file; every problem becomes one :class:`ScenarioError`."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the sweep file ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"{path}: not valid YAML{where}: {problem}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{path}: expected a mapping of sweep fields (name, designs, rates, "
            f"provider_latencies, cell, slo, search), got {type(data).__name__}"
        )
    try:
        return SweepFile.model_validate(data)
    except ValidationError as exc:
        message = describe_validation_error(path, exc)
        raise ScenarioError(message.replace("scenarios/README.md", "docs/sweep.md")) from exc
