"""Sweep files: read one and refuse a malformed one before anything starts, in the words a
scenario file is refused with (file, field, what was expected)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from offload.errors import ScenarioError
from offload.scenario import SCENARIOS_DIR, describe_validation_error
from offload.scenario.files import read_yaml_mapping
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
    data = read_yaml_mapping(
        path, "sweep", "name, designs, rates, provider_latencies, cell, slo, search"
    )
    try:
        return SweepFile.model_validate(data)
    except ValidationError as exc:
        message = describe_validation_error(path, exc)
        raise ScenarioError(message.replace("scenarios/README.md", "docs/sweep.md")) from exc
