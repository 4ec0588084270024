"""A run directory as the gate needs it: scenarios, each with its repeats.

``offload bench`` writes ``<run_dir>/<scenario>/summary.json`` (or ``<scenario>.r1``,
``<scenario>.r2``, ... with ``--repeat N``) beside a ``manifest.json``. The folder name is only
a name: scenarios are grouped by the ``scenario`` field of each summary and ordered by its
``repeat`` field, so renaming a folder cannot mix two scenarios up. Every file is read through
the run directory's models (:mod:`offload.rundir`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from offload.errors import GateFailed, RunInvalid
from offload.rundir.manifest import ScenarioManifest
from offload.rundir.run_info import RunInfo
from offload.rundir.summary import Summary


@dataclass(frozen=True)
class Repeat:
    """One scenario run: its folder, its figures and its manifest."""

    directory: Path
    summary: Summary
    manifest: ScenarioManifest
    number: int

    @property
    def valid(self) -> bool:
        return self.summary.valid

    @property
    def invalid_reasons(self) -> list[str]:
        return self.summary.invalid_reasons

    @cached_property
    def figures(self) -> dict[str, Any]:
        """The summary as the expectation language reads it (dotted paths into its JSON)."""
        return self.summary.figures()


@dataclass(frozen=True)
class ScenarioRuns:
    """Every repeat of one scenario in a run directory, in repeat order."""

    name: str
    repeats: tuple[Repeat, ...]

    @property
    def manifest(self) -> ScenarioManifest:
        """The first repeat's manifest (every repeat ran the same scenario)."""
        return self.repeats[0].manifest

    @property
    def expectations(self) -> list[str]:
        return self.manifest.scenario.expect

    @property
    def invalid(self) -> list[Repeat]:
        return [r for r in self.repeats if not r.valid]


@dataclass(frozen=True)
class RunDirectory:
    path: Path
    scenarios: dict[str, ScenarioRuns]
    #: run.json (the invocation); None for a scenario folder given on its own
    invocation: RunInfo | None

    def status_warnings(self) -> list[str]:
        """What the gate says about a bench that did not end normally."""
        if self.invocation is None or self.invocation.complete:
            return []
        if self.invocation.status == "interrupted":
            return ["the run was interrupted: only finished scenarios are gated"]
        return [
            f"the run did not complete (run.json status: {self.invocation.status}): only "
            "finished scenarios are gated"
        ]


def load_run_dir(path: Path | str) -> RunDirectory:
    """Every scenario of a run directory (or of one scenario folder given directly)."""
    path = Path(path)
    if not path.is_dir():
        raise RunInvalid(f"{path}: no such run directory")
    files = [path / Summary.FILE_NAME] if (path / Summary.FILE_NAME).is_file() else []
    files = files or sorted(path.glob(f"*/{Summary.FILE_NAME}"))
    if not files:
        raise RunInvalid(
            f"{path}: no scenario results here (no */summary.json); run `offload bench` first"
        )
    grouped: dict[str, dict[int, Repeat]] = {}
    for file in files:
        repeat = _read_repeat(file)
        name = repeat.summary.scenario
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
    run_json = path / RunInfo.FILE_NAME
    invocation = RunInfo.load(run_json) if run_json.is_file() else None
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


def _read_repeat(summary_file: Path) -> Repeat:
    """One scenario folder: its summary and the manifest beside it."""
    summary = Summary.load(summary_file)
    manifest_file = summary_file.parent / ScenarioManifest.FILE_NAME
    if not manifest_file.is_file():
        raise RunInvalid(f"{summary_file.parent}: manifest.json is missing beside summary.json")
    manifest = ScenarioManifest.load(manifest_file)
    # a summary that does not say which repeat it is takes its manifest's word
    number = summary.repeat if "repeat" in summary.model_fields_set else manifest.repeat
    return Repeat(directory=summary_file.parent, summary=summary, manifest=manifest, number=number)
