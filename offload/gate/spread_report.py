"""The A/A spread as a Markdown page (``spread.md``) and a terminal table.

One row per gated metric: how far it moved between two runs of the same code, against the
tolerance the gate gives it — so a reader sees at once which metrics their runner can gate
and which it cannot.
"""

from __future__ import annotations

import statistics

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from offload.analysis.uncertainty import wilson
from offload.gate.spread import MetricSpread, Spread

#: a sign test below this on unchanged code is reported as a difference between the sides
SIDE_BIAS_P = 0.01


def headline(spread: Spread, known_change: str | None = None) -> str:
    """How many gate runs failed — false positives on unchanged code, or, with a known change
    in the candidate, the runs that caught it — with the 95 % interval of that rate."""
    runs, failed = len(spread.runs), spread.runs_failed
    interval = wilson(failed, runs)
    if known_change is None:
        rate = f"{failed} of {runs} gate runs failed on unchanged code"
    else:
        rate = f"{failed} of {runs} gate runs caught the change ({known_change})"
    if interval is not None:
        rate += f" (95 % interval {interval[0]:.0%}–{interval[1]:.0%} of runs)"
    text = f"{rate}; {spread.pairs} pairs, {spread.pairs_per_run} per gate run."
    biased = [
        f"{m.label} (candidate worse in {m.candidate_worse[0]} of {m.candidate_worse[1]})"
        for m in spread.metrics
        if m.policy.statistic == "median" and (m.side_bias_p or 1.0) < SIDE_BIAS_P
    ]
    if known_change is None and biased:
        text += (
            f" One side was better more often than chance allows (sign test p < "
            f"{SIDE_BIAS_P:g}) on: {'; '.join(biased)} — on unchanged code that is a "
            "difference between how the two sides run, not noise."
        )
    ordered = [
        f"{m.label} (second bench worse in {m.second_worse[0]} of {m.second_worse[1]})"
        for m in spread.metrics
        if m.policy.statistic == "median" and (m.order_bias_p or 1.0) < SIDE_BIAS_P
    ]
    if ordered:
        text += (
            f" The bench run second in a pair differed more often than chance allows (sign "
            f"test p < {SIDE_BIAS_P:g}) on: {'; '.join(ordered)} — an order effect: the "
            "balanced, shuffled order cancels it on average, but it widens every pair's spread."
        )
    if known_change is None:
        text += (
            f" Suggested tolerance: the smallest 5 % step at which resampled sets of "
            f"{spread.pairs_per_run} pairs fail at most {spread.per_metric_budget:.2%} of the "
            f"time (a 1-in-20 budget shared by the gated metrics)."
        )
    return text


def rows(spread: Spread, known_change: str | None = None) -> list[list[str]]:
    table = []
    for metric in spread.metrics:
        if metric.policy.statistic == "worst" or not metric.changes:
            continue
        magnitudes = [abs(c) for c in metric.changes]
        suggested = metric.suggested_tolerance(spread.pairs_per_run, spread.per_metric_budget)
        table.append(
            [
                metric.scenario,
                metric.label,
                str(len(metric.changes)),
                _change(metric, statistics.median(magnitudes)),
                _change(metric, max(magnitudes)),
                f"{_change(metric, min(metric.changes), True)} … "
                f"{_change(metric, max(metric.changes), True)}",
                metric.policy.describe_tolerance()
                + (f" and ≥ {metric.policy.min_delta:g}" if metric.policy.min_delta else ""),
                _sign_test_cell(metric.candidate_worse, metric.side_bias_p),
                _order_cell(metric),
                str(metric.pairs_beyond),
                f"{metric.runs_failed} of {len(spread.runs)}",
                _suggestion(metric, suggested) if known_change is None else "—",
            ]
        )
    return table


HEADINGS = [
    "scenario",
    "metric",
    "pairs",
    "median |change|",
    "max |change|",
    "range (+ = worse)",
    "tolerance",
    "candidate worse (sign test)",
    "second bench worse (sign test)",
    "pairs beyond it",
    "gate runs failed on it",
    "suggested tolerance",
]


def render_markdown(spread: Spread, known_change: str | None = None) -> str:
    what = (
        "two runs of the same code"
        if known_change is None
        else f"the base and a candidate with a known change ({known_change})"
    )
    lines = [
        "# A/A spread of the gate's metrics"
        if known_change is None
        else "# The gate against a known change",
        "",
        headline(spread, known_change),
        "",
        f"Each pair is {what}, {_how_run(spread)}; its change is the "
        "candidate's figure against the base's, oriented so that + is worse. The facts "
        "gated on the worst run (emails lost or duplicated) are not listed: any change "
        "there fails.",
        "",
        "| " + " | ".join(HEADINGS) + " |",
        "|" + "|".join("---" for _ in HEADINGS) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows(spread, known_change)]
    lines += ["", "## Gate runs", "", "| gate run | pairs | failed checks |", "|---|---:|---|"]
    for run in spread.runs:
        failed = "; ".join(run.failed) or "none"
        lines.append(f"| `{run.directory.name}` | {len(run.pairs)} | {failed} |")
    return "\n".join(lines) + "\n"


def print_spread(spread: Spread, console: Console, known_change: str | None = None) -> None:
    table = Table(title="per-pair change of the gated metrics (+ = the candidate was worse)")
    for heading in HEADINGS:
        table.add_column(heading, overflow="fold")
    for row in rows(spread, known_change):
        table.add_row(*(escape(cell) for cell in row))
    console.print(table)
    console.print(escape(headline(spread, known_change)))


def _change(metric: MetricSpread, value: float, signed: bool = False) -> str:
    sign = "+" if signed and value > 0 else ""
    if metric.relative:
        return f"{sign}{value:.1%}"
    return f"{sign}{value:.4g}"


def _sign_test_cell(counts: tuple[int, int], p: float | None) -> str:
    """ "k of n (p=…)": how often one side (or one place in the order) was worse."""
    worse, differing = counts
    return f"{worse} of {differing}" + ("" if p is None else f" (p={p:.2g})")


def _how_run(spread: Spread) -> str:
    together = sum(run.side_by_side for run in spread.runs)
    if together == len(spread.runs):
        return "measured side by side (both benches at once, each design's load from one t=0)"
    if together == 0:
        return "measured one after the other in one gate run"
    return (
        f"measured side by side in {together} of the {len(spread.runs)} gate runs and one "
        "after the other in the rest"
    )


def _order_cell(metric: MetricSpread) -> str:
    if not metric.second_minus_first:
        return "— (side by side)"
    return _sign_test_cell(metric.second_worse, metric.order_bias_p)


def _suggestion(metric: MetricSpread, suggested: float | None) -> str:
    if not metric.relative:
        return "—"
    if suggested is None:
        return "too noisy to gate"
    verdict = "holds" if suggested <= metric.policy.tolerance else "too tight"
    return f"{suggested:.0%} (default {verdict})"
