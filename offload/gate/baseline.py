"""Baseline files: what a known-good run measured, what it was, and how to judge a new one.

A baseline is committed to the repository, so it is JSON meant to be read and diffed::

    {
      "schema_version": 1,
      "created_at": "2026-11-28T10:15:00Z",
      "source": "reports/runs/20261128T101500Z",
      "git": {"sha": "...", "dirty": false},
      "machine": {"cpus": 2, "memory_gb": 7.8, "platform": "...", "hostname": "..."},
      "settings": {"alpha": 0.05},
      "scenarios": {
        "slow-downstream": {
          "identity": {...},                      # what must match (offload.gate.identity)
          "policy": [{"metric": ..., "direction": "lower", "kind": "relative", ...}, ...],
          "runs": [{"<metric>": value, ...}, ...]  # one per repeat
        }
      }
    }

The policy is the part people edit. Re-saving over an existing baseline (``--force``) keeps its
policy and settings, so tuned tolerances and hand-added metrics survive a refresh; ``runs``
holds the value of every policy metric, so a metric added by hand needs one re-save to get
baseline values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from offload.errors import GateFailed
from offload.expect.expressions import ExpressionError, parse_metric
from offload.gate.identity import identity_of
from offload.gate.policy import (
    DIRECTIONS,
    KINDS,
    STATISTICS,
    MetricPolicy,
    metric_value,
    recorded_policy,
)
from offload.gate.rundir import RunDirectory
from offload.gate.stats import DEFAULT_ALPHA
from offload.rundir.files import Record, describe
from offload.rundir.run_info import GitInfo, MachineInfo

SCHEMA_VERSION = 1
KNOWN_SCHEMA_VERSIONS = (1,)

R = TypeVar("R", bound=Record)


@dataclass(kw_only=True)
class ScenarioBaseline:
    identity: dict[str, Any]
    policy: list[MetricPolicy]
    runs: list[dict[str, float | None]]

    def values(self, metric: str) -> list[float]:
        """The metric's value in every baseline run that has one."""
        return [run[metric] for run in self.runs if run.get(metric) is not None]  # type: ignore[misc]


@dataclass(kw_only=True)
class Baseline:
    created_at: str
    source: str
    #: the commit and the machine of the run it was saved from
    git: GitInfo = field(default_factory=GitInfo)
    machine: MachineInfo = field(default_factory=MachineInfo)
    alpha: float = DEFAULT_ALPHA
    scenarios: dict[str, ScenarioBaseline] = field(default_factory=dict)
    #: the file it was read from (None when built in memory)
    path: Path | None = None


def build_baseline(run: RunDirectory, *, keep: Baseline | None = None) -> Baseline:
    """A baseline from a run directory; ``keep`` supplies the policy of an earlier baseline."""
    scenarios: dict[str, ScenarioBaseline] = {}
    for name, scenario in run.scenarios.items():
        kept = keep.scenarios.get(name) if keep is not None else None
        policy = (
            kept.policy
            if kept is not None
            else recorded_policy(scenario.repeats[0].figures, scenario.manifest.scenario)
        )
        scenarios[name] = ScenarioBaseline(
            identity=identity_of(scenario.manifest),
            policy=policy,
            runs=[_measure(policy, repeat.figures) for repeat in scenario.repeats],
        )
    first = next(iter(run.scenarios.values())).manifest if run.scenarios else None
    return Baseline(
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        source=str(run.path),
        git=(first.git if first else None) or GitInfo(),
        machine=(first.machine if first else None) or MachineInfo(),
        alpha=keep.alpha if keep is not None else DEFAULT_ALPHA,
        scenarios=scenarios,
    )


def save_baseline(baseline: Baseline, path: Path | str, *, force: bool = False) -> Path:
    """Write a baseline file; an existing file is replaced only with ``force``."""
    path = Path(path)
    if path.exists() and not force:
        raise GateFailed(
            f"{path} exists; pass --force to replace it (its policy is kept unless --reset-policy)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dumps_readable(to_json(baseline)) + "\n")
    tmp.replace(path)
    return path


def to_json(baseline: Baseline) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "created_at": baseline.created_at,
        "source": baseline.source,
        "git": baseline.git.to_json(),
        "machine": baseline.machine.to_json(),
        "settings": {"alpha": baseline.alpha},
        "scenarios": {
            name: {
                "identity": scenario.identity,
                "policy": [entry.to_json() for entry in scenario.policy],
                "runs": scenario.runs,
            }
            for name, scenario in baseline.scenarios.items()
        },
    }


def load_baseline(path: Path | str) -> Baseline:
    """Read and check a baseline file; every problem names the file and the field."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise GateFailed(
            f"{path}: no baseline file here; create one with "
            f"`offload baseline save RUN_DIR --to {path}`"
        ) from exc
    except OSError as exc:
        raise GateFailed(f"{path}: cannot read the baseline ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise GateFailed(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    where = _Where(path)
    if not isinstance(data, dict):
        raise where.error("(top level)", "expected a JSON object")
    version = data.get("schema_version")
    if version not in KNOWN_SCHEMA_VERSIONS:
        raise where.error(
            "schema_version",
            f"{version!r} is not a baseline version this offload reads "
            f"({', '.join(map(str, KNOWN_SCHEMA_VERSIONS))})",
        )
    settings = data.get("settings") or {}
    alpha = settings.get("alpha", DEFAULT_ALPHA)
    if not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise where.error("settings.alpha", f"must be a number between 0 and 1, got {alpha!r}")
    scenarios_data = data.get("scenarios")
    if not isinstance(scenarios_data, dict):
        raise where.error("scenarios", "expected an object of scenarios")
    scenarios = {
        name: _load_scenario(where, f"scenarios.{name}", value)
        for name, value in scenarios_data.items()
    }
    return Baseline(
        created_at=str(data.get("created_at", "")),
        source=str(data.get("source", "")),
        git=_record(where, "git", GitInfo, data.get("git")),
        machine=_record(where, "machine", MachineInfo, data.get("machine")),
        alpha=float(alpha),
        scenarios=scenarios,
        path=path,
    )


class _Where:
    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, field_name: str, problem: str) -> GateFailed:
        return GateFailed(f"{self.path}: field '{field_name}': {problem}")


def _record(where: _Where, at: str, model: type[R], value: Any) -> R:
    """The run's git or machine record, as saved from its manifest."""
    try:
        return model.model_validate(value or {})
    except ValidationError as exc:
        raise where.error(at, describe(exc)) from exc


def _load_scenario(where: _Where, at: str, value: Any) -> ScenarioBaseline:
    if not isinstance(value, dict):
        raise where.error(at, "expected an object with identity, policy and runs")
    identity = value.get("identity")
    if not isinstance(identity, dict):
        raise where.error(f"{at}.identity", "expected an object")
    policy_data = value.get("policy")
    if not isinstance(policy_data, list):
        raise where.error(f"{at}.policy", "expected a list of metrics")
    policy = [_load_entry(where, f"{at}.policy[{i}]", e) for i, e in enumerate(policy_data)]
    runs = value.get("runs")
    if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
        raise where.error(f"{at}.runs", "expected a list of {metric: value} objects")
    for i, run in enumerate(runs):
        for metric, figure in run.items():
            if figure is not None and (
                not isinstance(figure, int | float) or isinstance(figure, bool)
            ):
                raise where.error(f"{at}.runs[{i}].{metric}", f"expected a number, got {figure!r}")
    return ScenarioBaseline(identity=identity, policy=policy, runs=runs)


def _load_entry(where: _Where, at: str, entry: Any) -> MetricPolicy:
    if not isinstance(entry, dict):
        raise where.error(at, "expected an object {metric, direction, kind, tolerance}")
    known = {"metric", "direction", "kind", "tolerance", "statistic", "min_delta"}
    extra = sorted(set(entry) - known)
    if extra:
        raise where.error(f"{at}.{extra[0]}", f"unknown field (known: {', '.join(sorted(known))})")
    for required in ("metric", "direction", "kind", "tolerance"):
        if required not in entry:
            raise where.error(f"{at}.{required}", "field required")
    metric = entry["metric"]
    if not isinstance(metric, str):
        raise where.error(f"{at}.metric", "expected a path or arithmetic over paths")
    try:
        parse_metric(metric)
    except ExpressionError as exc:
        raise where.error(f"{at}.metric", str(exc)) from exc
    choices = {"direction": DIRECTIONS, "kind": KINDS, "statistic": STATISTICS}
    for name, allowed in choices.items():
        if name in entry and entry[name] not in allowed:
            raise where.error(
                f"{at}.{name}", f"expected one of {', '.join(allowed)}, got {entry[name]!r}"
            )
    for name in ("tolerance", "min_delta"):
        number = entry.get(name, 0)
        if not isinstance(number, int | float) or isinstance(number, bool) or number < 0:
            raise where.error(f"{at}.{name}", f"expected a number >= 0, got {number!r}")
    return MetricPolicy(
        metric=metric,
        direction=entry["direction"],
        kind=entry["kind"],
        tolerance=float(entry["tolerance"]),
        statistic=entry.get("statistic", "median"),
        min_delta=float(entry.get("min_delta", 0.0)),
    )


def _measure(policy: list[MetricPolicy], summary: Mapping[str, Any]) -> dict[str, float | None]:
    values: dict[str, float | None] = {}
    for entry in policy:
        value = metric_value(entry.expression(), summary)
        values[entry.metric] = None if value is None else round(value, 6)
    return values


def dumps_readable(value: Any, indent: int = 0, width: int = 160) -> str:
    """JSON with one object per line where it fits: a policy entry reads as one line."""
    one_line = json.dumps(value)
    if len(one_line) + indent <= width or not isinstance(value, dict | list) or not value:
        return one_line
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        items = [
            f"{pad}{json.dumps(key)}: {dumps_readable(child, indent + 2, width)}"
            for key, child in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [f"{pad}{dumps_readable(child, indent + 2, width)}" for child in value]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
