"""Read a run directory the way the gate needs it: scenarios, each with its repeats.

``offload bench`` writes ``<run_dir>/<scenario>/summary.json`` (or ``<scenario>.r1``,
``<scenario>.r2``, ... with ``--repeat N``) beside a ``manifest.json``. The folder name is only
a name: scenarios are grouped by the ``scenario`` field of each summary and ordered by its
``repeat`` field, so renaming a folder cannot mix two scenarios up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offload.errors import GateFailed, RunInvalid

SUMMARY_SCHEMA_VERSIONS = (1,)


@dataclass(frozen=True)
class Repeat:
    """One scenario run: its folder, its figures and its manifest."""

    directory: Path
    summary: Mapping[str, Any]
    manifest: Mapping[str, Any]
    number: int

    @property
    def valid(self) -> bool:
        return bool(self.summary.get("valid", True))

    @property
    def invalid_reasons(self) -> list[str]:
        return [str(reason) for reason in self.summary.get("invalid_reasons") or []]


@dataclass(frozen=True)
class ScenarioRuns:
    """Every repeat of one scenario in a run directory, in repeat order."""

    name: str
    repeats: tuple[Repeat, ...]

    @property
    def summaries(self) -> list[Mapping[str, Any]]:
        return [r.summary for r in self.repeats]

    @property
    def manifest(self) -> Mapping[str, Any]:
        """The first repeat's manifest (every repeat ran the same scenario)."""
        return self.repeats[0].manifest

    @property
    def expectations(self) -> list[str]:
        scenario = self.manifest.get("scenario") or {}
        return [str(text) for text in scenario.get("expect") or []]

    @property
    def invalid(self) -> list[Repeat]:
        return [r for r in self.repeats if not r.valid]


@dataclass(frozen=True)
class RunDirectory:
    path: Path
    scenarios: dict[str, ScenarioRuns]
    #: run.json (the invocation), empty when absent
    invocation: Mapping[str, Any]


def load_run_dir(path: Path | str) -> RunDirectory:
    """Every scenario of a run directory (or of one scenario folder given directly)."""
    path = Path(path)
    if not path.is_dir():
        raise RunInvalid(f"{path}: no such run directory")
    files = [path / "summary.json"] if (path / "summary.json").is_file() else []
    files = files or sorted(path.glob("*/summary.json"))
    if not files:
        raise RunInvalid(
            f"{path}: no scenario results here (no */summary.json); run `offload bench` first"
        )
    grouped: dict[str, dict[int, Repeat]] = {}
    for file in files:
        repeat, manifest_name = _read_repeat(file)
        name = str(repeat.summary.get("scenario") or manifest_name or file.parent.name)
        clash = grouped.setdefault(name, {}).get(repeat.number)
        if clash is not None:
            raise RunInvalid(
                f"{path}: scenario {name!r} repeat {repeat.number} appears twice "
                f"({clash.directory.name} and {file.parent.name})"
            )
        grouped[name][repeat.number] = repeat
    scenarios = {
        name: ScenarioRuns(name, tuple(repeats[k] for k in sorted(repeats)))
        for name, repeats in sorted(grouped.items())
    }
    invocation: Mapping[str, Any] = {}
    if (path / "run.json").is_file():
        invocation = _read_json(path / "run.json")
    return RunDirectory(path=path, scenarios=scenarios, invocation=invocation)


def refuse_invalid(run: RunDirectory) -> None:
    """The gate does not judge a run whose load was not what the scenario asked for."""
    lines = []
    for scenario in run.scenarios.values():
        for repeat in scenario.invalid:
            reasons = "; ".join(repeat.invalid_reasons) or "no reason given"
            lines.append(f"  {repeat.directory.name}: {reasons}")
    if lines:
        raise GateFailed(
            "the run is invalid, so its figures are not what the scenario asked for:\n"
            + "\n".join(lines)
            + "\nFix the cause (see the run's report) and run again, or pass --allow-invalid "
            "to gate it anyway."
        )


def _read_repeat(summary_file: Path) -> tuple[Repeat, str | None]:
    """One scenario folder, and the scenario name its manifest gives (a fallback)."""
    summary = _read_json(summary_file)
    version = summary.get("schema_version")
    if version not in SUMMARY_SCHEMA_VERSIONS:
        raise RunInvalid(
            f"{summary_file}: summary schema_version {version!r} is not one this offload reads "
            f"({', '.join(map(str, SUMMARY_SCHEMA_VERSIONS))})"
        )
    if not isinstance(summary.get("designs"), Mapping):
        raise RunInvalid(f"{summary_file}: no 'designs' figures in the summary")
    manifest_file = summary_file.parent / "manifest.json"
    if not manifest_file.is_file():
        raise RunInvalid(f"{summary_file.parent}: manifest.json is missing beside summary.json")
    manifest = _read_json(manifest_file)
    number = summary.get("repeat") or manifest.get("repeat") or 1
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise RunInvalid(f"{summary_file}: 'repeat' must be a whole number >= 1, got {number!r}")
    scenario = manifest.get("scenario")
    manifest_name = scenario.get("name") if isinstance(scenario, Mapping) else None
    repeat = Repeat(
        directory=summary_file.parent, summary=summary, manifest=manifest, number=number
    )
    return repeat, manifest_name


def _read_json(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text())
    except OSError as exc:
        raise RunInvalid(f"{file}: cannot read ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise RunInvalid(f"{file}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    if not isinstance(data, dict):
        raise RunInvalid(f"{file}: expected a JSON object, got {type(data).__name__}")
    return data
