"""Checks: each expectation and each baseline metric of a scenario, judged on its own.

Every check is evaluated and reported before the gate decides (as pytest-benchmark does), so a
CI log shows all regressions of a run at once rather than the first. A check passes, fails
(a regression, a broken expectation, a figure without a value) or errs (its input is unusable:
an unknown path, a malformed expression) — errors make the gate exit 2, failures exit 1.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Literal

from offload.expect.expressions import (
    EvaluationError,
    ExpressionError,
    format_number,
    parse_expectation,
)
from offload.expect.paths import MissingValue, UnknownPath, lookup, shortened
from offload.gate.baseline import ScenarioBaseline
from offload.gate.policy import MetricPolicy, metric_value
from offload.gate.rundir import ScenarioRuns
from offload.gate.stats import MIN_RUNS_FOR_TEST, compare


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"


#: ``ab``: a metric of the candidate against the base revision, measured in pairs
CheckKind = Literal["expect", "baseline", "ab"]


@dataclass(frozen=True)
class PairRow:
    """One pair of an A/B check as reports show it (numbers already formatted)."""

    pair: int
    order: str  # AB: base ran first; BA: the candidate did
    base: str
    candidate: str
    difference: str


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    """One check's outcome, with what the terminal table, gate.md and junit.xml show."""

    scenario: str
    kind: CheckKind
    #: the check as written: the expectation, or the baseline metric
    name: str
    #: a shorter spelling for tables (shorthand paths); the name when empty
    label: str = ""
    verdict: Verdict
    #: the current figure(s), the baseline's, and the change between them
    value: str = ""
    baseline: str = ""
    change: str = ""
    #: one line saying why (shown for every failure)
    message: str = ""
    #: more lines (every repeat's figures), for the JUnit body
    details: str = ""
    seconds: float = 0.0
    #: A/B checks: one row per pair of runs
    pairs: tuple[PairRow, ...] = ()

    @property
    def display(self) -> str:
        return self.label or self.name


@dataclass(kw_only=True)
class GateReport:
    """Every check of a gate run, the warnings, and the exit code they add up to."""

    run_dir: Path
    baseline_path: Path | None = None
    checks: list[CheckResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: what was compared, when it is not a run against a baseline file (the A/B gate)
    context: str = ""
    #: the table's headings for the two sides
    value_heading: str = "value"
    baseline_heading: str = "baseline"
    change_heading: str = "change"
    #: one sentence under the table on how its columns relate (empty: none needed)
    legend: str = ""

    def count(self, verdict: Verdict) -> int:
        return sum(1 for check in self.checks if check.verdict is verdict)

    @property
    def exit_code(self) -> int:
        """0 every check passed, 1 a regression or failed expectation, 2 unusable input."""
        if self.count(Verdict.ERROR):
            return 2
        if self.count(Verdict.FAIL):
            return 1
        return 0

    @property
    def status(self) -> str:
        return {0: "PASS", 1: "FAIL", 2: "ERROR"}[self.exit_code]

    def headline(self) -> str:
        total = len(self.checks)
        failed, errors = self.count(Verdict.FAIL), self.count(Verdict.ERROR)
        if self.exit_code == 0:
            return f"PASS: all {total} checks passed"
        parts = []
        if failed:
            regressions = sum(
                1 for c in self.checks if c.verdict is Verdict.FAIL and c.kind in ("baseline", "ab")
            )
            expectations = failed - regressions
            kinds = []
            if regressions:
                kinds.append(f"{regressions} regression{'s' if regressions != 1 else ''}")
            if expectations:
                kinds.append(f"{expectations} expectation{'s' if expectations != 1 else ''}")
            parts.append(f"{failed} of {total} checks failed ({', '.join(kinds)})")
        if errors:
            parts.append(f"{errors} check{'s' if errors != 1 else ''} could not be evaluated")
        return f"{self.status}: " + "; ".join(parts)

    def ordered(self) -> list[CheckResult]:
        """Errors, then failures, then passes; otherwise in evaluation order."""
        rank = {Verdict.ERROR: 0, Verdict.FAIL: 1, Verdict.PASS: 2}
        return sorted(self.checks, key=lambda c: rank[c.verdict])


# -- expectations --------------------------------------------------------------------------


def check_expectations(scenario: ScenarioRuns, unit: str = "repeat") -> list[CheckResult]:
    """One check per ``expect:`` entry; it must hold in every repeat of the scenario.

    An expectation states an invariant of the design ("no email is lost"), so a repeat that
    breaks it is a failure, not noise to be averaged away. ``unit`` names what the runs are
    to the reader: repeats of a baseline gate, or the candidate's side of an A/B gate's pairs.
    """
    return [check_expectation(scenario, text, unit) for text in scenario.expectations]


def check_expectation(scenario: ScenarioRuns, text: str, unit: str = "repeat") -> CheckResult:
    """One expectation, which must hold in every repeat of the scenario."""
    started = time.perf_counter()

    def result(verdict: Verdict, **fields: str) -> CheckResult:
        return CheckResult(
            scenario=scenario.name,
            kind="expect",
            name=text,
            verdict=verdict,
            seconds=time.perf_counter() - started,
            pairs=(),
            **fields,
        )

    try:
        expression = parse_expectation(text)
    except ExpressionError as exc:
        return result(Verdict.ERROR, message=f"not a valid expectation: {exc}")
    lines: list[str] = []
    failed: list[str] = []
    first_shown = first_failure = ""
    for repeat in scenario.repeats:
        label = f"{unit[0]}{repeat.number}"
        figure = partial(lookup, repeat.figures)
        try:
            holds = bool(expression.evaluate(figure))
            shown = expression.explain(figure)
        except UnknownPath as exc:
            return result(Verdict.ERROR, message=str(exc))
        except (MissingValue, EvaluationError) as exc:
            holds, shown = False, str(exc)
        lines.append(f"{label}: {shown} → {'holds' if holds else 'does not hold'}")
        first_shown = first_shown or shown
        if not holds:
            failed.append(label)
            first_failure = first_failure or shown
    many = len(scenario.repeats) > 1
    details = "\n".join(lines)
    if not failed:
        value = first_shown
        if many:
            value += f" (all {len(lines)} {unit}s)"
        return result(Verdict.PASS, value=value, details=details)
    where = f" in {', '.join(failed)} of {len(lines)} {unit}s" if many else ""
    message = f"expectation does not hold{where}: {first_failure}"
    return result(Verdict.FAIL, value=first_failure, message=message, details=details)


# -- baseline ------------------------------------------------------------------------------


def check_baseline(
    scenario: ScenarioRuns,
    baseline: ScenarioBaseline,
    *,
    alpha: float,
    tolerance_scale: float = 1.0,
    baseline_file: str = "the baseline",
) -> list[CheckResult]:
    """One check per policy metric: the current repeats against the baseline's runs."""
    return [
        _check_metric(scenario, baseline, entry, alpha, tolerance_scale, baseline_file)
        for entry in baseline.policy
    ]


def _check_metric(
    scenario: ScenarioRuns,
    baseline: ScenarioBaseline,
    entry: MetricPolicy,
    alpha: float,
    tolerance_scale: float,
    baseline_file: str,
) -> CheckResult:
    started = time.perf_counter()

    label = entry.metric

    def result(verdict: Verdict, **fields: str) -> CheckResult:
        return CheckResult(
            scenario=scenario.name,
            kind="baseline",
            name=entry.metric,
            label=label,
            verdict=verdict,
            seconds=time.perf_counter() - started,
            pairs=(),
            **fields,
        )

    try:
        expression = entry.expression()
    except ExpressionError as exc:
        return result(Verdict.ERROR, message=f"not a valid metric: {exc}")
    label = shortened(expression)
    old = baseline.values(entry.metric)
    if not old:
        return result(
            Verdict.ERROR,
            message=(
                f"{baseline_file} has no values for this metric (added to the policy by hand?): "
                "re-save it from a good run with `offload baseline save RUN_DIR --to FILE "
                "--force`, which keeps the policy"
            ),
        )
    new: list[float] = []
    missing: list[str] = []
    for repeat in scenario.repeats:
        try:
            value = metric_value(expression, repeat.figures)
        except UnknownPath as exc:
            return result(Verdict.ERROR, message=str(exc))
        if value is None:
            missing.append(f"r{repeat.number}")
        else:
            new.append(value)
    shown_old = format_number(statistics.median(old))
    if missing:
        where = f" (repeat {', '.join(missing)})" if len(scenario.repeats) > 1 else ""
        return result(
            Verdict.FAIL,
            value="no value",
            baseline=shown_old,
            message=f"no value for {entry.metric} in this run{where}",
        )
    comparison = compare(entry, old, new, alpha=alpha, tolerance_scale=tolerance_scale)
    details = (
        f"{comparison.method}\n"
        f"current:  {', '.join(format_number(v) for v in new)}\n"
        f"baseline: {', '.join(format_number(v) for v in old)}\n"
        f"{entry.direction} is better; {entry.kind} tolerance "
        f"{entry.describe_tolerance(tolerance_scale)}"
    )
    return result(
        Verdict.FAIL if comparison.regressed else Verdict.PASS,
        value=format_number(comparison.current),
        baseline=format_number(comparison.baseline),
        change=comparison.change_text(entry.kind),
        message=comparison.reason,
        details=details,
    )


def noise_warnings(
    scenario: ScenarioRuns, baseline: ScenarioBaseline, tolerance_scale: float = 1.0
) -> list[str]:
    """pyperf-style stability warnings that say what to do."""
    warnings = []
    runs_now, runs_then = len(scenario.repeats), len(baseline.runs)
    if min(runs_now, runs_then) < MIN_RUNS_FOR_TEST:
        warnings.append(
            f"scenario {scenario.name}: {runs_now} current and {runs_then} baseline run(s), so "
            "regressions are decided by the tolerances alone; repeat the run "
            f"(offload bench --repeat 5) on both sides for a statistical test"
        )
    for entry in baseline.policy:
        if entry.kind != "relative" or entry.statistic != "median":
            continue
        values = baseline.values(entry.metric)
        if len(values) < 2:
            continue
        middle = sorted(values)[len(values) // 2]
        spread = (max(values) - min(values)) / abs(middle) if middle else 0.0
        tolerance = entry.tolerance * tolerance_scale
        # a spread inside the absolute floor (min_delta) cannot trip the check
        if spread > tolerance and max(values) - min(values) > entry.min_delta:
            warnings.append(
                f"scenario {scenario.name}: {entry.metric} varies by {spread:.0%} between the "
                f"baseline's runs, more than its tolerance ({tolerance:.0%}): the comparison may "
                "be unstable; raise the tolerance in the baseline's policy or repeat more"
            )
    return warnings
