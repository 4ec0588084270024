"""How far the gate's metrics move when nothing changed: the A/A spread over gate runs.

Why: a tolerance is only as good as the evidence behind it. ``make gate-aa`` runs the A/B gate
again and again with the base *being* the candidate, so every pair there is two runs of the
same code and its per-pair change is noise and nothing else. Gathered over many gate runs,
those changes show which metrics the default tolerances hold (the largest adverse change stays
inside), which come near them (only the "every pair worse" rule keeps them from failing), and
which are too noisy to gate; and, re-judged run by run with the gate's own rule, how many gate
runs would have failed — the false-positive rate a CI job would see on this runner.

The pairs are read from the gate's own run directories (``<gate run>/{base,candidate}/pair-K``;
a pair the gate ran again is read from its last attempt, the one it judged), so the figures
are the ones the gate decided on. The suggested tolerance is the smallest (in 5 % steps) at
which resampled sets of the gate's pair count would fail no more often than the per-metric
share of a 1-in-20 budget: a statement about this runner, to be copied into a policy by a
person, never applied by itself.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from offload.errors import RunInvalid
from offload.expect.paths import shortened
from offload.gate.checks import Verdict
from offload.gate.paired import (
    DEFAULT_ALPHA,
    DEFAULT_PAIRS,
    beyond_tolerance,
    relative_change,
    sign_flip_p_value,
)
from offload.gate.pairs import RunPair, check_pairs
from offload.gate.policy import MetricPolicy, metric_value, recorded_policy
from offload.gate.rundir import RunDirectory, load_run_dir
from offload.rundir.gate_run import GateRunRecord

#: the share of gate runs allowed to fail on unchanged code (issue: at most 1 in 20)
FALSE_POSITIVE_BUDGET = 0.05
#: resampled pair sets per metric when there are too many combinations to enumerate
RESAMPLES = 20_000
#: tolerances tried for the suggestion: 5 %, 10 %, ... 200 %
TOLERANCE_STEPS = tuple(round(0.05 * k, 2) for k in range(1, 41))

_PAIR_FOLDER = re.compile(r"^pair-(\d+)(?:-rerun-(\d+))?$")


@dataclass(frozen=True)
class GateRun:
    """One gate run's judged pairs, and the checks that failed when it is judged again."""

    directory: Path
    pairs: list[RunPair]
    failed: list[str]
    #: its pairs ran side by side (gate-run.json says so): no bench ran second
    side_by_side: bool = False


@dataclass
class MetricSpread:
    """One metric's per-pair changes over every A/A pair (positive: the candidate was worse)."""

    scenario: str
    policy: MetricPolicy
    label: str
    #: oriented per-pair change: relative for relative metrics, in the unit otherwise
    changes: list[float] = field(default_factory=list)
    #: oriented per-pair difference in the metric's unit (for min_delta)
    differences: list[float] = field(default_factory=list)
    #: the same differences as "the pair's second bench against its first" (+ = second worse),
    #: from the pairs run one after the other only
    second_minus_first: list[float] = field(default_factory=list)
    runs_failed: int = 0
    _drawn: dict[int, list[tuple[float, float, bool]]] = field(default_factory=dict, repr=False)

    @property
    def relative(self) -> bool:
        return self.policy.kind == "relative"

    def beyond(self, change: float, difference: float, tolerance: float) -> bool:
        """Worse than ``tolerance`` by the gate's own rule (both figures oriented: + = worse)."""
        return beyond_tolerance(self.policy, change, difference, tolerance)

    @property
    def candidate_worse(self) -> tuple[int, int]:
        """Pairs in which the candidate was worse, of the pairs that differed at all."""
        return _worse_of(self.differences)

    @property
    def side_bias_p(self) -> float | None:
        """Two-sided sign test of "the candidate is as often worse as better". On unchanged
        code it should not reject: a small p says the two sides differ by more than chance
        (something about how each side runs, not the code), which the gate then reads as a
        regression or hides one."""
        return _sign_test_p(*self.candidate_worse)

    @property
    def second_worse(self) -> tuple[int, int]:
        """Pairs in which the bench run second was worse, of the pairs that differed at all."""
        return _worse_of(self.second_minus_first)

    @property
    def order_bias_p(self) -> float | None:
        """Two-sided sign test of "the second bench of a pair is as often worse as better".
        A small p is an order effect (a warm broker, page cache, or a machine that slows as a
        job goes on): the gate's balanced, shuffled order cancels it on average, but it widens
        every pair's spread, and it would become a side bias if the orders were unbalanced."""
        return _sign_test_p(*self.second_worse)

    @property
    def pairs_beyond(self) -> int:
        """Single pairs worse than the tolerance (the gate would need all of a run's pairs)."""
        return sum(
            self.beyond(c, d, self.policy.tolerance)
            for c, d in zip(self.changes, self.differences, strict=True)
        )

    def false_positive_rate(self, tolerance: float, pairs: int) -> float:
        """How often a gate of ``pairs`` pairs drawn from these would fail at ``tolerance``,
        by the gate's own rule: the median change beyond the tolerance and ``min_delta``, and
        the sign-flip test at the default alpha (with 3 pairs: every pair worse)."""
        draws = self._draws(pairs)
        if not draws:
            return math.nan
        failed = sum(
            1
            for change, difference, consistent in draws
            if consistent and self.beyond(change, difference, tolerance)
        )
        return failed / len(draws)

    def _draws(self, pairs: int) -> list[tuple[float, float, bool]]:
        """Every set of ``pairs`` of these pairs (or a fixed-seed sample of them): its median
        change, median difference, and whether the sign-flip test rejects "no change"."""
        cached = self._drawn.get(pairs)
        if cached is not None:
            return cached
        indices = range(len(self.changes))
        sets: Sequence[Sequence[int]]
        if len(self.changes) < pairs:
            sets = []
        elif math.comb(len(self.changes), pairs) <= RESAMPLES:
            sets = list(itertools.combinations(indices, pairs))
        else:
            rng = random.Random(0)
            sets = [rng.sample(indices, pairs) for _ in range(RESAMPLES)]
        drawn = []
        for chosen in sets:
            differences = [self.differences[i] for i in chosen]
            drawn.append(
                (
                    statistics.median(self.changes[i] for i in chosen),
                    statistics.median(differences),
                    sign_flip_p_value(differences) <= DEFAULT_ALPHA,
                )
            )
        self._drawn[pairs] = drawn
        return drawn

    def suggested_tolerance(self, pairs: int, budget: float) -> float | None:
        """The smallest tolerance step whose resampled false-positive rate is within
        ``budget``; None when even the largest step is not (too noisy to gate)."""
        if not self.relative:
            return None
        for step in TOLERANCE_STEPS:
            if self.false_positive_rate(step, pairs) <= budget:
                return step
        return None


@dataclass
class Spread:
    runs: list[GateRun]
    metrics: list[MetricSpread]

    @property
    def pairs(self) -> int:
        return sum(len(run.pairs) for run in self.runs)

    @property
    def runs_failed(self) -> int:
        return sum(1 for run in self.runs if run.failed)

    @property
    def pairs_per_run(self) -> int:
        counts = [len(run.pairs) for run in self.runs]
        return min(counts) if counts else DEFAULT_PAIRS

    @property
    def per_metric_budget(self) -> float:
        gated = [m for m in self.metrics if m.policy.statistic == "median"]
        return FALSE_POSITIVE_BUDGET / max(len(gated), 1)


def gate_run_dirs(paths: Sequence[Path]) -> list[Path]:
    """Each path is a gate run (it holds ``base/`` and ``candidate/``) or a folder of them."""
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            raise RunInvalid(f"{path}: no such directory")
        if _is_gate_run(path):
            found.append(path)
            continue
        inside = sorted(p for p in path.iterdir() if p.is_dir() and _is_gate_run(p))
        if not inside:
            raise RunInvalid(
                f"{path}: not a gate run directory (no base/ and candidate/ folders) and holds "
                "none; give reports/gate-aa/runs or one of its runs"
            )
        found += inside
    return list(dict.fromkeys(p.resolve() for p in found))


def load_gate_run(directory: Path) -> GateRun:
    """The pairs a gate run judged, and what it would fail on when judged again.

    What the run was (side by side or not, each pair's order and judged attempt) comes from
    its ``gate-run.json``; a gate run recorded before that file existed has it inferred from
    its folders (the last attempt of each pair; the order from the benches' start times; side
    by side when a ``rendezvous/`` folder is there)."""
    record_file = directory / GateRunRecord.FILE_NAME
    record = GateRunRecord.load(record_file) if record_file.exists() else None
    if record is not None and record.status in ("running", "interrupted"):
        raise RunInvalid(f"{directory}: the gate run is {record.status}: not judged")
    pairs: list[RunPair] = []
    for number, name, order in _judged_pairs(directory, record):
        base = _side_run(directory / "base" / name)
        candidate = _side_run(directory / "candidate" / name)
        # either way the gate gave no verdict; judged again on its other pairs, the run would
        # count as one that passed (or missed a known change) with fewer pairs than the gate had
        if base is None or candidate is None:
            raise RunInvalid(f"{directory}: pair {number} did not finish (interrupted): not judged")
        if _invalid(base) or _invalid(candidate):
            raise RunInvalid(
                f"{directory}: pair {number} was invalid on its last attempt, so the gate refused "
                "the run: not judged"
            )
        if order is None:
            order = "AB" if _started(base) <= _started(candidate) else "BA"
        pairs.append(RunPair(number, order, base, candidate))
    if not pairs:
        raise RunInvalid(f"{directory}: the gate run holds no finished, valid pair")
    judged = check_pairs(pairs, alpha=DEFAULT_ALPHA, tolerance_scale=1.0, expectations=True)
    failed = [f"{c.scenario}: {c.label}" for c in judged.checks if c.verdict is Verdict.FAIL]
    side_by_side = (
        record.side_by_side if record is not None else (directory / "rendezvous").is_dir()
    )
    return GateRun(directory=directory, pairs=pairs, failed=failed, side_by_side=side_by_side)


def _judged_pairs(
    directory: Path, record: GateRunRecord | None
) -> list[tuple[int, str, str | None]]:
    """(number, folder, order) of each pair the gate judged; the order is None when the
    run has no record of it. A refused run's record lists only the pairs before the refusal,
    so the folders are read too: the pair that made the gate refuse is then found invalid."""
    attempts: dict[int, list[tuple[int, str]]] = {}
    for folder in (directory / "candidate").iterdir():
        match = _PAIR_FOLDER.match(folder.name)
        if match and (directory / "base" / folder.name).is_dir():
            number, attempt = int(match.group(1)), int(match.group(2) or 0)
            attempts.setdefault(number, []).append((attempt, folder.name))
    judged = {pair.number: pair for pair in record.judged} if record is not None else {}
    found: list[tuple[int, str, str | None]] = []
    for number in sorted(attempts.keys() | judged.keys()):
        if number in judged:
            found.append((number, judged[number].folder, judged[number].order))
        else:
            found.append((number, max(attempts[number])[1], None))
    return found


def measure_spread(runs: Sequence[GateRun]) -> Spread:
    """Every metric of the default policy, its per-pair changes over every run's pairs."""
    metrics: dict[tuple[str, str], MetricSpread] = {}
    for run in runs:
        for scenario in run.pairs[0].candidate.scenarios:
            first = run.pairs[0].candidate.scenarios[scenario].repeats[0]
            for entry in recorded_policy(first.figures, first.manifest.scenario):
                key = (scenario, entry.metric)
                spread = metrics.get(key)
                if spread is None:
                    label = shortened(entry.expression())
                    spread = metrics[key] = MetricSpread(scenario, entry, label)
                _add_pairs(spread, run)
                if f"{scenario}: {spread.label}" in run.failed:
                    spread.runs_failed += 1
    return Spread(runs=list(runs), metrics=list(metrics.values()))


def _add_pairs(spread: MetricSpread, run: GateRun) -> None:
    orient = 1.0 if spread.policy.direction == "lower" else -1.0
    expression = spread.policy.expression()
    for pair in run.pairs:
        base_runs = pair.base.scenarios.get(spread.scenario)
        candidate_runs = pair.candidate.scenarios.get(spread.scenario)
        if base_runs is None or candidate_runs is None:
            continue
        old = metric_value(expression, base_runs.repeats[0].figures)
        new = metric_value(expression, candidate_runs.repeats[0].figures)
        if old is None or new is None:
            continue
        difference = (new - old) * orient
        change = relative_change(old, new) * orient if spread.relative else difference
        if math.isinf(change):
            change = math.copysign(10.0, change)  # from 0 to something: shown as +1000 %
        spread.changes.append(change)
        spread.differences.append(difference)
        if not run.side_by_side:  # side by side, "first" is only who started a moment sooner
            spread.second_minus_first.append(difference if pair.order == "AB" else -difference)


def _worse_of(differences: Sequence[float]) -> tuple[int, int]:
    """How many of these oriented differences are worse (+), of those that are not 0."""
    return sum(1 for d in differences if d > 0), sum(1 for d in differences if d != 0)


def _sign_test_p(worse: int, differing: int) -> float | None:
    """Two-sided exact binomial test of ``worse`` of ``differing`` against one half."""
    if differing == 0:
        return None
    from scipy.stats import binomtest  # loaded only here: the gate itself does not need it

    return float(binomtest(worse, differing, 0.5).pvalue)


def _is_gate_run(path: Path) -> bool:
    return (path / "base").is_dir() and (path / "candidate").is_dir()


def _side_run(folder: Path) -> RunDirectory | None:
    runs = sorted(p for p in (folder / "runs").glob("*") if p.is_dir()) if folder.is_dir() else []
    for run in reversed(runs):
        try:
            return load_run_dir(run)
        except RunInvalid:
            continue
    return None


def _invalid(run: RunDirectory) -> bool:
    return any(scenario.invalid for scenario in run.scenarios.values())


def _started(run: RunDirectory) -> float:
    return run.invocation.started_at if run.invocation is not None else 0.0
