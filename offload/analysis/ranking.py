"""Every design of a scenario ranked best to worst on each metric, for runs of more than two.

A two-design verdict names a winner; with five designs a reader needs the order. The order is
by the figure (lower is better on every metric), and places follow the verdicts' one rule
(:func:`offload.analysis.verdicts.judge`): a design shares the place of the group's first
design unless it is worse beyond doubt — intervals apart, beyond the tie margin and beyond the
measurement floor. So the designs tied with the best are exactly those the two-design verdict
would call "no clear difference" from it.

A latency percentile at the client timeout is no latency, only a lower bound: such designs rank
below every design with a measured figure (their percentile is at least the timeout, the
others' below it) and among themselves by the share of requests that failed or timed out. A
percentile the sample cannot support, or a figure that does not exist, gets no place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from offload.analysis import numbers
from offload.analysis.uncertainty import wilson
from offload.analysis.verdicts import (
    METRICS,
    MeasurementFloor,
    Metric,
    Reading,
    across_repeats,
    clearly_worse,
    error_rate_reading,
    figure_notes,
    figure_text,
    percentile_reading,
    scenario_label,
)
from offload.rundir.summary import DesignSummary, Summary, WindowStats

#: the relation of the first design(s) of a ranking
BEST = "best"
#: the relation of a design tied with the best
TIED = "no clear difference"


def _worst_phase(design: DesignSummary, key: str) -> WindowStats:
    """The bystander window (phase) with the highest ``key`` percentile, or the whole run."""
    phases = design.bystander.phases
    worst = max(
        (s for s in phases.values() if s.latency_ms.value(key) is not None),
        key=lambda s: s.latency_ms.value(key) or 0.0,
        default=None,
    )
    return worst or design.bystander.overall


def _bystander_failed(design: DesignSummary) -> Reading:
    """The failed share of the bystanders in the phase where most of them failed — always
    measurable, where a bystander percentile of a short phase may not be."""
    phases = list(design.bystander.phases.values()) or [design.bystander.overall]
    worst = max(phases, key=lambda s: s.error_rate or 0.0)
    return error_rate_reading(worst) if worst.count else Reading(None)


def _signup(key: str) -> Callable[[DesignSummary], Reading]:
    return lambda d: percentile_reading(d.signup.overall, key)


def _timeout_share(design: DesignSummary) -> Reading:
    stats = design.signup.overall
    if not stats.count:
        return Reading(None)
    interval = wilson(stats.timeouts, stats.count)
    low, high = interval if interval else (None, None)
    return Reading(stats.timeouts / stats.count, low, high)


def _emails(count: Callable[[DesignSummary], int]) -> Callable[[DesignSummary], Reading]:
    def read(design: DesignSummary) -> Reading:
        return Reading(None) if design.emails is None else Reading(count(design))

    return read


_BASE = {metric.key: metric for metric in METRICS}

#: the metrics a ranking orders the designs on, in the order the table shows them
RANK_METRICS: tuple[Metric, ...] = (
    Metric("signup_p50_ms", "signup response p50", "ms", 1.0, _signup("p50"), median=True),
    _BASE["signup_p95_ms"],
    Metric("signup_p99_ms", "signup response p99", "ms", 1.0, _signup("p99")),
    _BASE["signup_error_rate"],
    Metric("signup_timeout_rate", "signups timed out", "%", 0.001, _timeout_share),
    _BASE["bystander_worst_p95_ms"],
    Metric(
        "bystander_worst_error_rate",
        "bystanders failed, worst phase",
        "%",
        0.001,
        _bystander_failed,
    ),
    Metric(
        "bystander_worst_p99_ms",
        "bystander p99, worst phase",
        "ms",
        1.0,
        lambda d: percentile_reading(_worst_phase(d, "p99"), "p99"),
    ),
    _BASE["e2e_p95_ms"],
    _BASE["emails_lost"],
    Metric(
        "emails_duplicated",
        "emails delivered more than once",
        "",
        0.0,
        _emails(lambda d: d.emails.duplicates if d.emails else 0),
    ),
    _BASE["cpu_per_1000_signups_s"],
)


@dataclass(frozen=True)
class Placed:
    """One design's line of a ranking: its place (None: not ranked), its figure as the tables
    write it, and how it stands against the best."""

    design: str
    place: int | None
    figure: str
    relation: str
    reading: Reading
    note: str = ""

    @property
    def tied_best(self) -> bool:
        return self.place == 1


@dataclass(frozen=True)
class Ranking:
    scenario: str
    key: str
    metric: str
    unit: str
    entries: list[Placed] = field(default_factory=list)

    @property
    def best(self) -> list[str]:
        return [e.design for e in self.entries if e.tied_best]


def _groups(
    names: list[str], readings: dict[str, Reading], floor: float, resolution: float | None
) -> list[list[str]]:
    """``names`` (sorted best first) cut into groups: a design joins the current group unless
    it is clearly worse than the group's first design."""
    groups: list[list[str]] = []
    for name in names:
        if groups and not clearly_worse(readings[name], readings[groups[-1][0]], floor, resolution):
            groups[-1].append(name)
        else:
            groups.append([name])
    return groups


def _against_best(value: float, best: float, unit: str) -> str:
    """``4.2× the best``; ``37.8% vs 0``."""
    if best == 0:
        return f"{numbers.value(value, unit)} vs 0"
    return f"{numbers.factor(value / best)} the best"


def rank(
    metric: Metric,
    readings: dict[str, Reading],
    scenario: str,
    *,
    timeout_s: float | None = None,
    floor_ms: MeasurementFloor | None = None,
    notes: dict[str, str] | None = None,
) -> Ranking:
    """Order the designs on one metric, best first (see the module's rule)."""
    notes = notes or {}
    resolution = floor_ms.for_metric(metric) if floor_ms is not None else None
    measured = sorted(
        (n for n, r in readings.items() if r.value is not None and not r.unavailable),
        key=lambda n: readings[n].value or 0.0,
    )
    timed_out = [n for n in measured if readings[n].at_timeout]
    measured = [n for n in measured if not readings[n].at_timeout]
    failed = {n: readings[n].failed or Reading(None) for n in timed_out}
    timed_out.sort(key=lambda n: (failed[n].value is None, failed[n].value or 0.0))
    entries: list[Placed] = []
    place = 1
    best = readings[measured[0]].value if measured else None
    for group in _groups(measured, readings, metric.floor, resolution):
        for name in group:
            reading = readings[name]
            assert reading.value is not None and best is not None
            if place == 1:
                relation = BEST if len(group) == 1 else TIED
            elif name == group[0]:
                relation = _against_best(reading.value, best, metric.unit)
            else:
                relation = (
                    f"{_against_best(reading.value, best, metric.unit)}; {TIED} from {group[0]}"
                )
            text = figure_text(reading, metric.unit, timeout_s)
            entries.append(Placed(name, place, text, relation, reading, notes.get(name, "")))
        place += len(group)
    for group in _groups(timed_out, failed, 0.001, None):
        for name in group:
            share = failed[name]
            relation = f"at the client timeout; {figure_text(share, '%')} failed"
            if place == 1 and len(group) > 1:
                relation += f" ({TIED})"
            text = figure_text(readings[name], metric.unit, timeout_s)
            entries.append(Placed(name, place, text, relation, readings[name], notes.get(name, "")))
        place += len(group)
    for name, reading in readings.items():
        if name in measured or name in timed_out:
            continue
        why = "not ranked: too few requests" if reading.unavailable else "not ranked: no figure"
        # an unsupported percentile reads n/a even when it reached the timeout
        text = (
            f"n/a ({reading.unavailable})"
            if reading.unavailable
            else figure_text(reading, metric.unit, timeout_s)
        )
        entries.append(Placed(name, None, text, why, reading, notes.get(name, "")))
    return Ranking(scenario, metric.key, metric.label, metric.unit, entries)


def scenario_rankings(summary: Summary, floor_ms: MeasurementFloor | None = None) -> list[Ranking]:
    """One ranking per metric of :data:`RANK_METRICS` for one scenario's summary."""
    designs = summary.designs
    return [
        rank(
            metric,
            {name: metric.read(design) for name, design in designs.items()},
            scenario_label(summary),
            timeout_s=summary.client_timeout_s,
            floor_ms=floor_ms,
            notes=figure_notes(metric.key, designs, summary),
        )
        for metric in RANK_METRICS
    ]


def repeat_rankings(
    repeats: list[Summary], floor_ms: MeasurementFloor | None = None
) -> list[Ranking]:
    """The rankings across the repeats of one scenario: each design's mean of its repeats with
    the t-interval between them, as :func:`offload.analysis.verdicts.repeat_verdicts`."""
    if len(repeats) < 2:
        return []
    names = [n for n in repeats[0].designs if all(n in r.designs for r in repeats)]
    label = f"{repeats[0].scenario} (mean of {len(repeats)} repeats)"
    return [
        rank(
            metric,
            {
                name: across_repeats([metric.read(r.designs[name]) for r in repeats])
                for name in names
            },
            label,
            timeout_s=repeats[0].client_timeout_s,
            floor_ms=floor_ms,
        )
        for metric in RANK_METRICS
    ]


def ranking_line(ranking: Ranking) -> str:
    """The whole ranking in one cell: ``1. async 7.0 ms · =1. background 7.3 ms · 3. sync ≥ 5 s
    (timeout)`` — an ``=`` marks a place shared with the design before it."""
    parts, previous = [], None
    for entry in ranking.entries:
        if entry.place is None:
            parts.append(f"{entry.design} {'n/a' if entry.reading.unavailable else entry.figure}")
            continue
        shared = "=" if entry.place == previous else ""
        previous = entry.place
        figure = entry.figure.split(" [")[0]
        name = f"**{entry.design}**" if entry.tied_best else entry.design
        parts.append(f"{shared}{entry.place}. {name} {figure}")
    return " · ".join(parts)
