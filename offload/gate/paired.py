"""Did the candidate regress from the base, measured side by side? One decision per metric.

``offload gate --base REF`` runs the base and the candidate in interleaved pairs on one
machine, so each pair shares whatever the machine was doing at the time. The rule per metric
(docs/gate.md, "A/B: the statistics", explains the choice):

* **Effect**: the median over the pairs of the per-pair change, candidate vs base (relative
  for ``kind: relative``, in the metric's unit for ``kind: absolute``), must be worse than the
  policy's tolerance (and, for relative metrics, by more than ``min_delta`` in absolute terms).
* **Consistency**: an exact one-sided sign-flip (permutation) test of the paired differences
  must reject "no change" at ``alpha``. Under no change each difference is as likely positive
  as negative, so all 2^n sign assignments are equally likely and the p-value is exact — no
  normality, no large sample. Its smallest value is 2^-n: 0.125 with 3 pairs (every pair worse),
  0.031 with 5; :data:`DEFAULT_ALPHA` is set so that the default 3 pairs can decide.
* ``statistic: worst`` metrics (a lost email) are facts, not noise: the worst candidate run
  against the worst base run, tolerance only.

A regression needs both effect and consistency: a consistent but small shift passes, and so
does a large shift that one pair contradicts.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from offload.expect.expressions import format_number
from offload.gate.policy import MetricPolicy
from offload.gate.stats import format_change, tolerance_text

#: with 3 pairs the smallest one-sided p is 1/8: "every pair was worse" is what decides
DEFAULT_ALPHA = 0.125
DEFAULT_PAIRS = 3
#: how the verdict table's numbers relate: a reader who sees "candidate 8.9, base 9.0,
#: +24 %" should not have to guess that the change is not computed from the two medians
PAIRED_LEGEND = (
    "candidate, base: each side's median over the pairs (its worst, for a check judged on the "
    "worst run); paired change: the median of the pairs' own changes, which is what the gate "
    "judges, so it can differ from, or even have the other sign than, the two medians beside it"
)
#: exact enumeration of 2^n sign assignments up to this many pairs (then a fixed-seed sample)
EXACT_UP_TO = 16
SAMPLED_PERMUTATIONS = 20_000


@dataclass(frozen=True)
class Pair:
    """One pair of runs: which side ran first, and the metric's value on each side."""

    number: int
    order: str  # "AB" (base first) or "BA" (candidate first)
    base: float
    candidate: float

    @property
    def difference(self) -> float:
        return self.candidate - self.base


@dataclass(frozen=True, kw_only=True)
class PairedComparison:
    """The decision for one metric over the pairs, with the figures behind it."""

    regressed: bool
    #: medians over the pairs of each side
    base: float
    candidate: float
    #: the median per-pair change (0.25 = +25 % for relative metrics; the unit otherwise)
    change: float
    beyond_tolerance: bool
    p_value: float | None
    method: str
    reason: str

    def change_text(self, kind: str) -> str:
        return format_change(kind, self.change)


def relative_change(base: float, candidate: float) -> float:
    """(candidate - base) / |base|; ±inf when the base is 0 and the candidate is not."""
    delta = candidate - base
    if base:
        return delta / abs(base)
    return 0.0 if delta == 0 else math.copysign(math.inf, delta)


def sign_flip_p_value(worse_by: Sequence[float]) -> float:
    """One-sided p of "no change" against "worse": the share of sign assignments of the
    absolute differences whose sum is at least the observed sum (ties count, so p is exact and
    never below 2^-n). ``worse_by`` is oriented: positive = the candidate is worse."""
    magnitudes = [abs(d) for d in worse_by]
    observed = sum(worse_by)
    # float sums of the same numbers in another order differ in the last bits
    slack = 1e-9 * (sum(magnitudes) or 1.0)
    n = len(magnitudes)
    if n <= EXACT_UP_TO:
        hits = sum(
            1
            for signs in itertools.product((1, -1), repeat=n)
            if sum(s * m for s, m in zip(signs, magnitudes, strict=True)) >= observed - slack
        )
        return hits / (1 << n)
    import random

    rng = random.Random(0)
    hits = sum(
        1
        for _ in range(SAMPLED_PERMUTATIONS)
        if sum(m if rng.random() < 0.5 else -m for m in magnitudes) >= observed - slack
    )
    return (hits + 1) / (SAMPLED_PERMUTATIONS + 1)


def compare_pairs(
    policy: MetricPolicy,
    pairs: Sequence[Pair],
    *,
    alpha: float = DEFAULT_ALPHA,
    tolerance_scale: float = 1.0,
) -> PairedComparison:
    """Decide whether the candidate regressed from the base under ``policy``."""
    if not pairs:
        raise ValueError("compare_pairs() needs at least one pair")
    lower_is_better = policy.direction == "lower"
    orient = 1.0 if lower_is_better else -1.0
    tolerance = policy.tolerance * tolerance_scale
    base_mid = float(statistics.median(p.base for p in pairs))
    candidate_mid = float(statistics.median(p.candidate for p in pairs))

    if policy.statistic == "worst":
        pick = max if lower_is_better else min
        old, new = pick(p.base for p in pairs), pick(p.candidate for p in pairs)
        worse_by = (new - old) * orient
        change = relative_change(old, new) if policy.kind == "relative" else new - old
        beyond = beyond_tolerance(policy, change * orient, worse_by, tolerance)
        runs = f"{len(pairs)} pair(s)"
        return PairedComparison(
            regressed=beyond,
            base=old,
            candidate=new,
            change=change,
            beyond_tolerance=beyond,
            p_value=None,
            method=f"worst run of each side over {runs}, tolerance only",
            reason=_reason(policy, "worst", old, new, change, tolerance, beyond, beyond, None, 0),
        )

    differences = [p.difference * orient for p in pairs]
    absolute_effect = float(statistics.median(differences))
    if policy.kind == "relative":
        change = float(statistics.median(relative_change(p.base, p.candidate) for p in pairs))
    else:
        change = float(statistics.median(p.difference for p in pairs))
    beyond = beyond_tolerance(policy, change * orient, absolute_effect, tolerance)
    p_value = sign_flip_p_value(differences)
    regressed = beyond and p_value <= alpha
    worse = sum(1 for d in differences if d > 0)
    method = (
        f"{len(pairs)} pairs, {worse} worse; median per-pair change; "
        f"sign-flip p={p_value:.3g} (alpha {alpha:g})"
    )
    return PairedComparison(
        regressed=regressed,
        base=base_mid,
        candidate=candidate_mid,
        change=change,
        beyond_tolerance=beyond,
        p_value=p_value,
        method=method,
        reason=_reason(
            policy, "median", base_mid, candidate_mid, change, tolerance, beyond, regressed,
            p_value, alpha,
        ),
    )  # fmt: skip


def beyond_tolerance(
    policy: MetricPolicy, worse_change: float, worse_by: float, tolerance: float
) -> bool:
    """Worse than the tolerance (relative or in the unit) and than ``min_delta``."""
    if policy.kind == "relative":
        return worse_change > tolerance and worse_by > policy.min_delta
    return worse_by > max(tolerance, 0.0) and worse_by > policy.min_delta


def _reason(
    policy: MetricPolicy,
    statistic: str,
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
        f"{statistic} {verb} from {format_number(old)} (base) to {format_number(new)} (candidate)"
        if new != old
        else f"{statistic} stayed at {format_number(new)}"
    )
    shown, allowed = format_change(policy.kind, change), tolerance_text(policy, tolerance)
    detail = f"{moved}; per-pair change {shown} ({allowed})"
    if p_value is not None:
        detail += f", sign-flip p={p_value:.3g} (alpha {alpha:g})"
    if regressed:
        return f"regression: {detail}"
    if beyond and p_value is not None:
        return f"within noise: {detail} — the pairs disagree too much to call it a regression"
    return detail
