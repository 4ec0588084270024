"""Checks of an A/B gate: every pair's base and candidate runs, judged metric by metric.

The metrics are the default policy (:mod:`offload.gate.policy`) of the candidate's first run —
the figures a baseline would gate, with their directions and tolerances — each decided by
:func:`offload.gate.paired.compare_pairs`. The scenarios' ``expect:`` lists are checked on the
candidate's runs, as the baseline gate does; but the A/B gate asks what the *change* did, so
an expectation that fails on the candidate in some pairs and on the base in each of those same
pairs too (side by side: at the same moment, on the same machine and broker) is not held
against the change: it passes, and the gate warns with both sides' figures.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from offload.expect.expressions import ExpressionError, format_number
from offload.expect.paths import UnknownPath, shortened
from offload.gate.checks import (
    CheckResult,
    PairRow,
    Verdict,
    check_expectation,
    check_expectations,
)
from offload.gate.paired import Pair, compare_pairs
from offload.gate.policy import MetricPolicy, metric_value, recorded_policy
from offload.gate.rundir import Repeat, RunDirectory, ScenarioRuns


@dataclass(frozen=True)
class RunPair:
    """Pair ``number``: its order and each side's run directory."""

    number: int
    order: str
    base: RunDirectory
    candidate: RunDirectory


@dataclass
class PairedChecks:
    checks: list[CheckResult]
    warnings: list[str]


def check_pairs(
    pairs: Sequence[RunPair],
    *,
    alpha: float,
    tolerance_scale: float,
    expectations: bool,
) -> PairedChecks:
    """Every metric of every scenario the candidate ran, over the pairs."""
    result = PairedChecks(checks=[], warnings=[])
    for name in pairs[0].candidate.scenarios:
        candidate = [_first(p.candidate, name) for p in pairs]
        base = [_first(p.base, name) for p in pairs]
        if any(b is None for b in base):
            result.warnings.append(f"scenario {name}: the base did not run it; not compared")
            continue
        if expectations:
            runs = _numbered(candidate, pairs)
            base_runs = {run.number: run for run in _numbered(base, pairs)}
            for expectation in check_expectations(ScenarioRuns(name, runs), unit="pair"):
                result.checks.append(
                    _unless_the_base_fails_too(expectation, name, runs, base_runs, result.warnings)
                )
        first = candidate[0]
        assert first is not None
        # the candidate's scenario: the base's has no gate section
        for entry in recorded_policy(first.figures, first.manifest.scenario):
            check = _check_metric(
                name,
                entry,
                pairs,
                [b for b in base if b is not None],
                [c for c in candidate if c is not None],
                alpha=alpha,
                tolerance_scale=tolerance_scale,
                warnings=result.warnings,
            )
            if check is not None:
                result.checks.append(check)
    return result


def _numbered(repeats: Sequence[Repeat | None], pairs: Sequence[RunPair]) -> tuple[Repeat, ...]:
    """Each side's run of a scenario, numbered as its pair."""
    return tuple(
        dataclasses.replace(repeat, number=pair.number)
        for repeat, pair in zip(repeats, pairs, strict=True)
        if repeat is not None
    )


def _unless_the_base_fails_too(
    check: CheckResult,
    scenario: str,
    candidate: Sequence[Repeat],
    base: dict[int, Repeat],
    warnings: list[str],
) -> CheckResult:
    """A failed expectation, or a pass with a warning when the base's run of every pair in
    which it failed fails it too: then the change did not cause it (a broker that stalled
    under both sides, a flaw the base already has), and blocking the change would not fix it."""
    if check.verdict is not Verdict.FAIL:
        return check

    def holds(run: Repeat) -> bool:
        one = check_expectation(ScenarioRuns(scenario, (run,)), check.name, unit="pair")
        return one.verdict is Verdict.PASS

    failed = [run.number for run in candidate if not holds(run)]
    if not failed or any(n not in base for n in failed):
        return check
    on_base = [check_expectation(ScenarioRuns(scenario, (base[n],)), check.name) for n in failed]
    if any(one.verdict is Verdict.PASS for one in on_base):
        return check
    shown = ", ".join(str(n) for n in failed)
    base_figures = "; ".join(one.value for one in on_base)
    warnings.append(
        f"scenario {scenario}: `{check.name}` does not hold on the candidate in pair(s) "
        f"{shown}, nor on the base in the same pair(s) (base: {base_figures}): not caused by the "
        f"change, so not held against it; look at it all the same"
    )
    return dataclasses.replace(
        check,
        verdict=Verdict.PASS,
        message=f"fails on the base in the same pair(s) too: {check.message}",
        details=f"{check.details}\nthe base in pair(s) {shown}: {base_figures}",
    )


def _first(run: RunDirectory, scenario: str) -> Repeat | None:
    runs = run.scenarios.get(scenario)
    return runs.repeats[0] if runs else None


def _check_metric(
    scenario: str,
    entry: MetricPolicy,
    pairs: Sequence[RunPair],
    base: Sequence[Repeat],
    candidate: Sequence[Repeat],
    *,
    alpha: float,
    tolerance_scale: float,
    warnings: list[str],
) -> CheckResult | None:
    started = time.perf_counter()
    try:
        expression = entry.expression()
    except ExpressionError as exc:  # the default policy writes only valid metrics
        raise AssertionError(f"default policy metric {entry.metric!r}: {exc}") from exc
    label = shortened(expression)

    def result(verdict: Verdict, **fields: Any) -> CheckResult:
        return CheckResult(
            scenario=scenario,
            kind="ab",
            name=entry.metric,
            label=label,
            verdict=verdict,
            seconds=time.perf_counter() - started,
            **fields,
        )

    values: list[Pair] = []
    for pair, old, new in zip(pairs, base, candidate, strict=True):
        try:
            old_value = metric_value(expression, old.figures)
        except UnknownPath:
            warnings.append(
                f"scenario {scenario}: {entry.metric} is not compared: the base revision does "
                "not report it"
            )
            return None
        new_value = metric_value(expression, new.figures)
        if new_value is None:
            return result(
                Verdict.FAIL,
                value="no value",
                message=f"no value for {entry.metric} in the candidate's pair {pair.number}",
            )
        if old_value is None:
            warnings.append(
                f"scenario {scenario}: {entry.metric} is not compared: no value in the base's "
                f"pair {pair.number}"
            )
            return None
        values.append(Pair(pair.number, pair.order, old_value, new_value))
    comparison = compare_pairs(entry, values, alpha=alpha, tolerance_scale=tolerance_scale)
    rows = tuple(
        PairRow(
            pair=p.number,
            order=p.order,
            base=format_number(p.base),
            candidate=format_number(p.candidate),
            difference=_signed(p.difference),
        )
        for p in values
    )
    details = (
        f"{comparison.method}\n{entry.direction} is better; {entry.kind} tolerance "
        f"{entry.describe_tolerance(tolerance_scale)}"
    )
    return result(
        Verdict.FAIL if comparison.regressed else Verdict.PASS,
        value=format_number(comparison.candidate),
        baseline=format_number(comparison.base),
        change=comparison.change_text(entry.kind),
        message=comparison.reason,
        details=details,
        pairs=rows,
    )


def _signed(value: float) -> str:
    shown = format_number(value)
    return shown if shown.startswith("-") or value == 0 else f"+{shown}"
