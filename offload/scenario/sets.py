"""Scenario sets: several scenarios run against one list of designs (``offload bench --set``).

A set answers a comparison across faults — every design under every scenario — so its
``targets`` replace each scenario's own, and its ``time_scale`` sizes the whole set to a time
budget. Like a scenario file, a malformed set is refused before anything starts, with one line
per problem naming the file, the field and what was expected.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError, field_validator

from offload.errors import ScenarioError
from offload.scenario.base import StrictModel
from offload.scenario.designs import TargetEntry
from offload.scenario.files import SCENARIOS_DIR, describe_validation_error, read_yaml_mapping
from offload.scenario.model import _NAME, TimeScale, unique_design_names

SETS_DIR = SCENARIOS_DIR / "sets"


class ScenarioSet(StrictModel):
    """``scenarios/sets/NAME.yaml``."""

    name: str
    description: str = ""
    #: shipped scenario names (``slow-downstream``) or YAML paths relative to the set's file
    scenarios: list[str] = Field(min_length=1)
    #: the designs every scenario of the set runs, instead of the scenario's own ``targets``
    #: (a design that uses no broker skips a scenario that breaks the broker)
    targets: list[TargetEntry] = Field(min_length=1)
    #: shorten every scenario of the set by this factor (like ``quick.time_scale``); with
    #: ``--quick`` each scenario's own ``quick.time_scale`` applies instead
    time_scale: TimeScale | None = None

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be lowercase letters, digits and dashes, e.g. matrix")
        return value

    @field_validator("targets")
    @classmethod
    def _names_unique(cls, value: list[TargetEntry]) -> list[TargetEntry]:
        return unique_design_names(value)


def set_path(name_or_path: str) -> Path:
    """A shipped set by name (``matrix``) or any YAML file path."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        return candidate
    shipped = SETS_DIR / f"{name_or_path}.yaml"
    if shipped.exists():
        return shipped
    known = ", ".join(sorted(p.stem for p in SETS_DIR.glob("*.yaml")))
    raise ScenarioError(f"no scenario set named {name_or_path!r} (shipped: {known}; or a path)")


def load_set(path: Path) -> ScenarioSet:
    """Read and validate one set file; every problem becomes one :class:`ScenarioError`."""
    data = read_yaml_mapping(path, "set", "name, scenarios, targets, ...")
    try:
        return ScenarioSet.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(describe_validation_error(path, exc)) from exc


def set_scenario_files(path: Path, scenario_set: ScenarioSet) -> list[Path]:
    """The scenario file of each entry of ``scenarios:``; a missing one is refused now."""
    files, problems = [], []
    for index, entry in enumerate(scenario_set.scenarios):
        if entry.endswith((".yaml", ".yml")):
            file = path.parent / entry
        else:
            file = SCENARIOS_DIR / f"{entry}.yaml"
        if file.is_file():
            files.append(file)
        else:
            problems.append(
                f"{path}: field 'scenarios[{index}]': no scenario file {file} (expected a "
                "shipped scenario's name or a .yaml path relative to the set's file)"
            )
    if problems:
        raise ScenarioError("\n".join(problems))
    return files
