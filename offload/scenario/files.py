"""Scenario files: read one, refuse a malformed one with one clear message, find the shipped
ones."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)
from pydantic_core import ErrorDetails

from offload.errors import ScenarioError
from offload.scenario.model import Scenario

#: a built-in target's name, which is also its design's name (see offload.target.manifest)
_BUILTIN_NAME = re.compile(r"[a-z][a-z0-9_-]*")
SCENARIOS_DIR = Path(__file__).resolve().parent.parent.parent / "scenarios"


def read_yaml_mapping(path: Path, kind: str, fields: str) -> dict[str, Any]:
    """The mapping a YAML file of ``kind`` (scenario, set, sweep) holds; an unreadable file,
    invalid YAML (with its line and column) or anything but a mapping is one
    :class:`ScenarioError` naming the file. ``fields``: the main fields, for that message."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the {kind} file ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"{path}: not valid YAML{where}: {problem}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{path}: expected a mapping of {kind} fields ({fields}), got {type(data).__name__}"
        )
    return data


def load_scenario(path: Path | str) -> Scenario:
    """Read and validate one scenario file; every problem becomes one :class:`ScenarioError`."""
    path = Path(path)
    data = read_yaml_mapping(path, "scenario", "name, load, faults, ...")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(describe_validation_error(path, exc)) from exc
    check_expectation_paths(path, scenario)
    check_gate_designs(path, scenario)
    return scenario


def check_expectation_paths(path: Path, scenario: Scenario) -> None:
    """Refuse an ``expect:`` path that names no summary.json figure now, not after the run."""
    from offload.expect.schema import path_problems  # the summary's models load only here

    problems = path_problems(scenario.expect, _design_names(path, scenario), _phases(scenario))
    if problems:
        raise ScenarioError(
            "\n".join(
                f"{path}: field 'expect[{index}]': {message} (expected a figure of "
                "summary.json: see reports/README.md and docs/gate.md)"
                for index, message in problems
            )
        )


def check_gate_designs(path: Path, scenario: Scenario) -> None:
    """Refuse a ``gate.tolerances`` entry for a design the scenario does not run."""
    names = _design_names(path, scenario)
    unknown = sorted(scenario.gate.designs() - set(names)) if names is not None else []
    if unknown:
        raise ScenarioError(
            f"{path}: field 'gate.tolerances': no design named {', '.join(unknown)} in this "
            f"scenario (expected one of: {', '.join(names or [])})"
        )


def _design_names(path: Path, scenario: Scenario) -> list[str] | None:
    """The names the designs will have in summary.json; None when a target is a directory
    (its manifest names it, and the manifest is read only when the bench prepares)."""
    names = []
    for variant in scenario.variants():
        if variant.name is not None:
            names.append(variant.name)
        elif (
            _BUILTIN_NAME.fullmatch(variant.target) and not (path.parent / variant.target).exists()
        ):
            names.append(variant.target)
        else:
            return None
    return names


def _phases(scenario: Scenario) -> list[str]:
    return [phase.name for phase in scenario.phases()]


def describe_validation_error(path: Path, exc: ValidationError) -> str:
    """``file: field 'a.b[2].c': what was expected`` — one line per problem."""
    lines = []
    for error in exc.errors(include_url=False):
        where = _field_path(error["loc"])
        lines.append(f"{path}: field '{where}': {_expected(error)}")
    return "\n".join(lines)


#: names pydantic puts in an error's location for the member of a union it tried
_UNION_MEMBERS = ("str", "TargetSpec", "ProviderChange")


def _field_path(loc: Iterable[Any]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in _UNION_MEMBERS or (
            isinstance(part, str) and (part.startswith("literal[") or part.startswith("function-"))
        ):
            continue
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _expected(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field (check the spelling; see scenarios/README.md for the schema)"
    if kind == "missing":
        return "field required"
    message = str(error["msg"]).removeprefix("Value error, ")
    if "input" in error and kind not in ("value_error",):
        message += f" (got {error['input']!r})"
    return message


def scenario_path(name_or_path: str) -> Path:
    """A shipped scenario by name (``slow-downstream``) or any YAML file path."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        return candidate
    shipped = SCENARIOS_DIR / f"{name_or_path}.yaml"
    if shipped.exists():
        return shipped
    known = ", ".join(sorted(p.stem for p in SCENARIOS_DIR.glob("*.yaml")))
    raise ScenarioError(
        f"no scenario named {name_or_path!r} (shipped: {known}; or give a file path)"
    )


def shipped_scenarios(tag: str | None = None) -> list[Path]:
    """Shipped scenario files, optionally only those tagged ``tag`` (e.g. default, gate)."""
    paths = sorted(SCENARIOS_DIR.glob("*.yaml"))
    if tag is None:
        return paths
    return [p for p in paths if tag in load_scenario(p).tags]
