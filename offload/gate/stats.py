"""Is the current run worse than the baseline, or just noisy? One decision per metric.

The rule (docs/gate.md, "Statistics", explains the choice and its false-positive rate):

* Compute the policy's statistic on each side — the median over repeats, or the worst repeat.
* The change is *beyond tolerance* when it is worse than the tolerance (relative to the
  baseline, or in the metric's unit) and, for relative metrics, worse than ``min_delta``.
* With at least :data:`MIN_RUNS_FOR_TEST` repeats on both sides and ``statistic: median``, a
  regression also needs a one-sided Mann-Whitney U test to reject "no shift" at ``alpha``: the
  repeats must be consistently worse, not one unlucky run dragging the median. With fewer
  repeats the tolerance alone decides, so single runs need the wide default tolerances.

Mann-Whitney needs no normality (latency percentiles are skewed) and holds for repeats that are
exchangeable under no change; it cannot tell a slower machine from slower code, which is what
identity checks and machine warnings are for.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from offload.expect.expressions import format_number
from offload.gate.policy import MetricPolicy

DEFAULT_ALPHA = 0.05
#: with 3 repeats on each side the smallest one-sided p is exactly 1/20 = 0.05
MIN_RUNS_FOR_TEST = 3


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """The decision for one metric, with the figures that support it."""

    regressed: bool
    baseline: float
    current: float
    #: relative (0.25 = +25 %) or absolute change, current vs baseline, per the policy's kind
    change: float
    beyond_tolerance: bool
    p_value: float | None
    method: str
    reason: str

    def change_text(self, kind: str) -> str:
        return format_change(kind, self.change)


def compare(
    policy: MetricPolicy,
    baseline: Sequence[float],
    current: Sequence[float],
    *,
    alpha: float = DEFAULT_ALPHA,
    tolerance_scale: float = 1.0,
) -> Comparison:
    """Decide whether ``current`` regressed from ``baseline`` under ``policy``."""
    if not baseline or not current:
        raise ValueError("compare() needs at least one value on each side")
    lower_is_better = policy.direction == "lower"
    old = _statistic(policy, baseline)
    new = _statistic(policy, current)
    delta = new - old
    worse_by = delta if lower_is_better else -delta  # positive = worse
    tolerance = policy.tolerance * tolerance_scale
    if policy.kind == "relative":
        change = (
            delta / abs(old) if old else (0.0 if delta == 0 else math.copysign(math.inf, delta))
        )
        worse_relative = change if lower_is_better else -change
        beyond = worse_relative > tolerance and worse_by > policy.min_delta
    else:
        change = delta
        beyond = worse_by > max(tolerance, 0.0) and worse_by > policy.min_delta

    p_value: float | None = None
    tested = (
        policy.statistic == "median"
        and len(baseline) >= MIN_RUNS_FOR_TEST
        and len(current) >= MIN_RUNS_FOR_TEST
    )
    if tested:
        from scipy.stats import mannwhitneyu  # ~0.5 s to import: only when a test is due

        alternative = "greater" if lower_is_better else "less"
        p_value = float(mannwhitneyu(current, baseline, alternative=alternative).pvalue)
        regressed = beyond and p_value <= alpha
        method = (
            f"{policy.statistic} of {len(current)} vs {len(baseline)} runs, "
            f"Mann-Whitney p={p_value:.3g}"
        )
    else:
        regressed = beyond
        runs = f"{len(current)} vs {len(baseline)} run(s)"
        method = (
            f"worst of {runs}"
            if policy.statistic == "worst"
            else f"median of {runs}, tolerance only (< {MIN_RUNS_FOR_TEST} runs per side)"
        )
    reason = _reason(policy, old, new, change, tolerance, beyond, regressed, p_value, alpha)
    return Comparison(
        regressed=regressed,
        baseline=old,
        current=new,
        change=change,
        beyond_tolerance=beyond,
        p_value=p_value,
        method=method,
        reason=reason,
    )


def _statistic(policy: MetricPolicy, values: Sequence[float]) -> float:
    if policy.statistic == "worst":
        return max(values) if policy.direction == "lower" else min(values)
    return float(statistics.median(values))


def _reason(
    policy: MetricPolicy,
    old: float,
    new: float,
    change: float,
    tolerance: float,
    beyond: bool,
    regressed: bool,
    p_value: float | None,
    alpha: float,
) -> str:
    verb = "rose" if new > old else "fell"
    moved = (
        f"{policy.statistic} {verb} from {format_number(old)} to {format_number(new)}"
        if new != old
        else f"{policy.statistic} stayed at {format_number(new)}"
    )
    detail = f"{moved} ({format_change(policy.kind, change)}; {tolerance_text(policy, tolerance)})"
    if p_value is not None:
        detail += f", Mann-Whitney p={p_value:.3g} (alpha {alpha:g})"
    if regressed:
        return f"regression: {detail}"
    if beyond and p_value is not None:
        return f"within noise: {detail} — the repeats overlap too much to call it a regression"
    return detail


def format_change(kind: str, change: float) -> str:
    """A change as a policy of ``kind`` reads it: relative (+12.5 %) or in the metric's unit.
    One wording for both gates' tables and reasons."""
    if kind == "relative":
        if math.isinf(change):
            return "+inf" if change > 0 else "-inf"
        return f"{change:+.1%}"
    return f"{change:+.4g}"


def tolerance_text(policy: MetricPolicy, tolerance: float) -> str:
    """What the policy allows, in the direction that counts as worse (shared by both gates)."""
    sign = "+" if policy.direction == "lower" else "-"
    if policy.kind != "relative":
        return f"tolerance {sign}{tolerance:g}"
    allowed = f"tolerance {sign}{tolerance:.0%}"
    if policy.min_delta:
        allowed += f" and at least {sign}{format_number(policy.min_delta)}"
    return allowed
