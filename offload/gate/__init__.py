"""The CI performance-regression gate: expectations and baselines over run directories.

Public surface (the CLI commands and the scenario loader use only these)::

    parse_expectation(text) -> Expression      syntax check at scenario-load time
    evaluate_expectation(text, summary) -> bool   one expectation against one summary.json
    evaluate_run(run_dir, GateOptions(...)) -> GateReport      every check, no output
    run_gate(run_dir, GateOptions(...), out_dir=..., console=...) -> GateReport
                                               evaluate + terminal table + gate.md + junit.xml
    build_baseline / save_baseline / load_baseline               baseline files

Exit codes follow :attr:`GateReport.exit_code`: 0 pass, 1 regression or failed expectation,
2 unusable input (also every :class:`~offload.errors.GateFailed` / ``RunInvalid`` raised here).
"""

from collections.abc import Mapping
from functools import partial
from typing import Any

from offload.expect.expressions import (
    EvaluationError,
    Expression,
    ExpressionError,
    parse_expectation,
    parse_metric,
)
from offload.expect.paths import MissingValue, UnknownPath, lookup
from offload.gate.baseline import Baseline, build_baseline, load_baseline, save_baseline
from offload.gate.checks import CheckResult, GateReport, Verdict
from offload.gate.evaluate import GateOptions, evaluate_run, run_gate, write_reports
from offload.gate.rundir import load_run_dir
from offload.rundir.summary import Summary


def evaluate_expectation(text: str, summary: Summary | Mapping[str, Any]) -> bool:
    """Whether one expectation holds in one summary.json (its model, or its parsed JSON).

    Raises ExpressionError (syntax), UnknownPath (a path naming nothing) or MissingValue /
    EvaluationError (a figure without a value, a division by zero) — all GateFailed.
    """
    figures = summary.figures() if isinstance(summary, Summary) else summary
    return bool(parse_expectation(text).evaluate(partial(lookup, figures)))


__all__ = [
    "Baseline",
    "CheckResult",
    "EvaluationError",
    "Expression",
    "ExpressionError",
    "GateOptions",
    "GateReport",
    "MissingValue",
    "UnknownPath",
    "Verdict",
    "build_baseline",
    "evaluate_expectation",
    "evaluate_run",
    "load_baseline",
    "load_run_dir",
    "parse_expectation",
    "parse_metric",
    "run_gate",
    "save_baseline",
    "write_reports",
]
