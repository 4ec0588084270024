"""Which design wins, on which metric, by what factor — computed from ``summary.json``.

Nothing here names a winner in advance: every verdict compares the figures of the designs the
run has. A design wins a metric only when its 95 % interval and the other's separate *and*
the difference exceeds the tie margin (10 %, or a metric's absolute floor) and the run's
measurement floor; otherwise the verdict is "no clear difference". A latency percentile at
the client timeout is no latency: the verdict then compares the share of failed requests.
The sentences per scenario are assembled from the same numbers, so a run with opposite
results reads the opposite way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from offload.analysis import numbers
from offload.analysis.cost import cost_figures
from offload.analysis.ledger_text import ledger_problems
from offload.analysis.uncertainty import mean_interval
from offload.rundir.summary import DesignSummary, Summary, WindowStats

#: two figures closer than this ratio are a tie
TIE_RATIO = 1.10
#: the verdict when no design is ahead beyond doubt
TIE = "no clear difference"


def worst_bystander_phase(design: DesignSummary) -> tuple[str | None, float | None]:
    """The phase in which this design's bystander p95 was highest, and that p95 (ms)."""
    worst_name, worst = None, None
    for name, stats in design.bystander.phases.items():
        p95 = stats.latency_ms.p95
        if p95 is not None and (worst is None or p95 > worst):
            worst_name, worst = name, p95
    if worst is None:
        return None, design.bystander.overall.latency_ms.p95
    return worst_name, worst


def phase_p95(design: DesignSummary, endpoint: str, phase: str | None) -> float | None:
    """An endpoint's latency p95 in one phase (None when the phase has no figures)."""
    stats = design.endpoint(endpoint).phases.get(phase or "")
    return None if stats is None else stats.latency_ms.p95


def phase_error_rate(design: DesignSummary, endpoint: str, phase: str | None) -> float | None:
    stats = design.endpoint(endpoint).phases.get(phase or "")
    return None if stats is None else stats.error_rate


@dataclass(frozen=True)
class MeasurementFloor:
    """The run's measurement floor as the verdicts use it: latency (from the scheduled time)
    the generator alone showed against an instant server before the designs ran. A difference
    between two medians at or below the floor's median, or between two tail percentiles at or
    below its tail (p99, or its slowest request when too few support a p99), is the harness's,
    not the designs'. A median is held to the floor's median: judging a p50 against the
    floor's p99 called 3.3 ms against 6.0 ms "no clear difference" on a floor of p50 0.7 ms.
    """

    median_ms: float | None
    tail_ms: float | None

    def for_metric(self, metric: Metric) -> float | None:
        """The resolution of one metric: None for anything that is not a latency."""
        if metric.unit != "ms":
            return None
        return self.median_ms if metric.median else self.tail_ms


def measurement_floor_ms(summary: Summary) -> MeasurementFloor | None:
    """The run's measurement floor (:class:`MeasurementFloor`); None when ``summary.json``
    records no floor."""
    floor = summary.floor
    if floor is None:
        return None
    return MeasurementFloor(floor.latency_from_scheduled.p50_ms, floor.resolution_ms)


def reference_phase_name(summary: Summary) -> str | None:
    """The phase every degradation is measured against: the first one (before any fault)."""
    return summary.phases[0].name if summary.phases else None


@dataclass(frozen=True)
class Reading:
    """One design's figure on one metric, with what the comparison needs to know about it."""

    value: float | None
    #: the 95 % interval; None when the figure has none (a count, a single CPU measurement)
    low: float | None = None
    high: float | None = None
    #: why the figure cannot be compared (the sample cannot support the percentile)
    unavailable: str | None = None
    #: the percentile reached the client timeout: a lower bound, not a latency
    at_timeout: bool = False
    #: the share of the same window's requests that failed or timed out, for a verdict that
    #: cannot compare latencies because one of them is the timeout
    failed: Reading | None = None

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None


def percentile_reading(stats: WindowStats | None, key: str = "p95") -> Reading:
    """A latency percentile of one window, with its interval, support and timeout flag."""
    if stats is None:
        return Reading(None)
    block = stats.latency_ms
    interval = block.ci.get(key)
    share = stats.error_rate_ci
    failed = Reading(
        stats.error_rate,
        share.low if share else None,
        share.high if share else None,
    )
    return Reading(
        block.value(key),
        interval.low if interval else None,
        interval.high if interval else None,
        unavailable=block.unavailable.get(key),
        at_timeout=key in block.at_timeout,
        failed=failed,
    )


def error_rate_reading(stats: WindowStats) -> Reading:
    share = stats.error_rate_ci
    return Reading(stats.error_rate, share.low if share else None, share.high if share else None)


@dataclass(frozen=True)
class Metric:
    """One row of the verdict table: how to read the figure, its unit, its tie floor."""

    key: str
    label: str
    unit: str
    #: differences at or below this are a tie whatever the ratio
    floor: float
    read: Callable[[DesignSummary], Reading]
    #: a median (p50): held to the measurement floor's median, not its tail
    median: bool = False


def _bystander_worst(design: DesignSummary) -> Reading:
    phase, _ = worst_bystander_phase(design)
    stats = design.bystander.phases.get(phase) if phase else design.bystander.overall
    return percentile_reading(stats)


def _e2e(design: DesignSummary) -> Reading:
    block = design.e2e_ms
    interval = block.ci.get("p95")
    return Reading(
        block.p95,
        interval.low if interval else None,
        interval.high if interval else None,
        unavailable=block.unavailable.get("p95"),
    )


def _emails_lost(design: DesignSummary) -> Reading:
    if design.emails is None:  # no ledger: no figure (the table's note says why)
        return Reading(None)
    return Reading(design.emails.lost)


METRICS: tuple[Metric, ...] = (
    Metric(
        "signup_p95_ms",
        "signup response p95",
        "ms",
        1.0,
        lambda d: percentile_reading(d.signup.overall),
    ),
    Metric(
        "signup_error_rate",
        "signups failed or timed out",
        "%",
        0.001,
        lambda d: error_rate_reading(d.signup.overall),
    ),
    Metric("bystander_worst_p95_ms", "bystander p95, worst phase", "ms", 1.0, _bystander_worst),
    Metric("e2e_p95_ms", "email end-to-end p95", "ms", 1.0, _e2e),
    Metric("emails_lost", "emails lost", "", 0.0, _emails_lost),
    Metric(
        "cpu_per_1000_signups_s",
        "CPU per 1,000 signups",
        "s",
        0.05,
        lambda d: Reading(cost_figures(d).cpu_per_1000_signups),
    ),
)


@dataclass(frozen=True)
class Verdict:
    """The outcome on one metric: ``winner`` is a design name, :data:`TIE` or None (no
    data). ``basis`` says what was compared when it is not the metric itself (the failed
    share, when a latency percentile is the client timeout)."""

    scenario: str
    key: str
    metric: str
    unit: str
    values: dict[str, float | None]
    figures: dict[str, str]
    winner: str | None
    factor: str
    ratio: float | None = None
    notes: dict[str, str] = field(default_factory=dict)
    readings: dict[str, Reading] = field(default_factory=dict)
    basis: str = ""
    #: the designs whose figure on this metric is the client timeout
    at_timeout: list[str] = field(default_factory=list)


def _close(value: float, best: float, floor: float) -> bool:
    """Within the tie tolerance of the best figure."""
    return value - best <= floor or (best > 0 and value / best < TIE_RATIO)


def clearly_worse(
    reading: Reading, best: Reading, tie_floor: float, resolution: float | None
) -> bool:
    """Worse than the best figure beyond doubt: the intervals separate (when both have one),
    the difference exceeds the tie margin, and it exceeds the measurement floor."""
    assert reading.value is not None and best.value is not None
    if _close(reading.value, best.value, tie_floor):
        return False
    if resolution is not None and reading.value - best.value <= resolution:
        return False
    if reading.has_interval and best.has_interval:
        assert reading.low is not None and best.high is not None
        return reading.low > best.high
    return True


def judge(
    readings: dict[str, Reading], tie_floor: float, resolution: float | None = None
) -> tuple[str | None, float | None, list[str]]:
    """The design(s) with the lowest figure that no other design matches, :data:`TIE` when
    every design is within reach of the best, or None without two figures; with the
    runner-up ÷ best ratio and the designs tied for the lead.

    ``resolution``: differences at or below it are no difference (the measurement floor).
    """
    known = sorted(
        ((r.value, name) for name, r in readings.items() if r.value is not None),
        key=lambda item: item[0],
    )
    if len(known) < 2:
        return None, None, []
    best_name = known[0][1]
    best = readings[best_name]
    joint: list[tuple[float, str]] = []
    beaten: list[tuple[float, str]] = []
    for value, name in known:
        worse = clearly_worse(readings[name], best, tie_floor, resolution)
        (beaten if worse else joint).append((value, name))
    names = [name for _, name in joint]
    if not beaten:
        return TIE, None, names
    runner_up, best_value = beaten[0][0], known[0][0]
    ratio = runner_up / best_value if best_value else float("inf")
    return " = ".join(names), ratio, names


def compare(values: dict[str, float | None], floor: float) -> tuple[str | None, float | None]:
    """:func:`judge` for bare figures (no intervals): the winner and the ratio."""
    winner, ratio, _ = judge({name: Reading(v) for name, v in values.items()}, floor)
    return winner, ratio


def _factor_text(
    readings: dict[str, Reading], floor: float, unit: str, resolution: float | None
) -> str:
    """``715× lower`` (runner-up ÷ winner), ``0 vs 37.8%``, ``both 0``, ``intervals overlap``."""
    winner, ratio, leaders = judge(readings, floor, resolution)
    values = {name: r.value for name, r in readings.items()}
    if winner is None:
        return "n/a (no data)"
    known = [v for v in values.values() if v is not None]
    if winner == TIE:
        if set(known) == {0}:
            return "both 0" if len(known) == 2 else "all 0"
        if len(set(known)) == 1:
            return "equal"
        best = min(known)
        if resolution is not None and all(v - best <= resolution for v in known):
            return f"within the measurement floor ({numbers.ms(resolution)})"
        if all(_close(v, best, floor) for v in known):
            return "within 10%"
        return "95% intervals overlap"
    best_value = min(known)
    runner_up = min(v for name, v in values.items() if v is not None and name not in leaders)
    if best_value == 0:
        return f"0 vs {numbers.value(runner_up, unit)}"
    return f"{numbers.factor(ratio or 0)} lower"


def figure_text(reading: Reading, unit: str, timeout_s: float | None = None) -> str:
    """A figure as the tables show it: ``7.0 ms [6.1–8.2]``, ``≥ 5 s (timeout)``, ``n/a``."""
    if reading.at_timeout:
        return numbers.timeout_bound(timeout_s)
    if reading.unavailable:
        return f"n/a ({reading.unavailable})"
    text = numbers.value(reading.value, unit)
    if reading.has_interval and reading.value is not None:
        text += f" [{numbers.interval(reading.low, reading.high, unit)}]"
    return text


def _latency_at_timeout(
    metric: Metric, readings: dict[str, Reading], timeout_s: float | None
) -> tuple[dict[str, Reading], dict[str, str]]:
    """When a latency percentile is the client timeout the verdict compares the share of
    requests that failed or timed out instead: those readings, and each figure's text."""
    shares = {name: r.failed or Reading(None) for name, r in readings.items()}
    figures = {
        name: f"{figure_text(r, metric.unit, timeout_s)}; {figure_text(shares[name], '%')} failed"
        for name, r in readings.items()
    }
    return shares, figures


def scenario_verdicts(summary: Summary, floor_ms: MeasurementFloor | None = None) -> list[Verdict]:
    """One verdict per metric for one scenario's summary.

    ``floor_ms``: the measurement floor of the run (the generator's own latency against an
    instant server); latency differences at or below it are no difference. None: no floor.
    """
    designs = summary.designs
    return [
        _verdict(
            metric,
            {name: metric.read(figures) for name, figures in designs.items()},
            scenario_label(summary),
            figure_notes(metric.key, designs, summary),
            summary.client_timeout_s,
            floor_ms,
        )
        for metric in METRICS
    ]


def repeat_verdicts(
    repeats: list[Summary], floor_ms: MeasurementFloor | None = None
) -> list[Verdict]:
    """One verdict per metric across the repeats of one scenario (``--repeat``).

    Each design's figure is the mean of its repeats' figures, with a 95 % t-interval across
    them: the spread between runs, which the interval of a single run cannot show. A metric
    at the client timeout in any repeat compares the failed shares instead; a percentile
    unavailable in any repeat stays unavailable.
    """
    if len(repeats) < 2:
        return []
    names = [n for n in repeats[0].designs if all(n in r.designs for r in repeats)]
    timeout_s = repeats[0].client_timeout_s
    label = f"{repeats[0].scenario} (mean of {len(repeats)} repeats)"
    verdicts = []
    for metric in METRICS:
        readings = {
            name: across_repeats([metric.read(r.designs[name]) for r in repeats]) for name in names
        }
        verdicts.append(_verdict(metric, readings, label, {}, timeout_s, floor_ms))
    return verdicts


def across_repeats(readings: list[Reading]) -> Reading:
    """The readings of one design in every repeat as one: their mean and its interval."""
    unavailable = next((r.unavailable for r in readings if r.unavailable), None)
    failed = [r.failed for r in readings if r.failed is not None]
    values = [r.value for r in readings if r.value is not None]
    if len(values) < len(readings):
        return Reading(None, unavailable=unavailable)
    interval = mean_interval(values)
    return Reading(
        sum(values) / len(values),
        interval[0] if interval else None,
        interval[1] if interval else None,
        unavailable=unavailable,
        at_timeout=any(r.at_timeout for r in readings),
        failed=across_repeats(failed) if len(failed) == len(readings) else None,
    )


def _verdict(
    metric: Metric,
    readings: dict[str, Reading],
    scenario: str,
    notes: dict[str, str],
    timeout_s: float | None,
    floor_ms: MeasurementFloor | None,
) -> Verdict:
    """Judge one metric: on the figures themselves, or on the failed shares when one of
    them is the client timeout; no winner when a percentile is not available."""
    values = {name: r.value for name, r in readings.items()}
    figures = {name: figure_text(r, metric.unit, timeout_s) for name, r in readings.items()}
    resolution = floor_ms.for_metric(metric) if floor_ms is not None else None
    compared, unit, tie_floor, basis = readings, metric.unit, metric.floor, ""
    if any(r.at_timeout for r in readings.values()):
        compared, figures = _latency_at_timeout(metric, readings, timeout_s)
        unit, tie_floor, resolution = "%", 0.001, None
        basis = "failed share (a p95 at the client timeout is no latency)"
    if any(r.unavailable for r in compared.values()):
        winner, ratio, factor = None, None, "n/a: too few requests"
    else:
        winner, ratio, _ = judge(compared, tie_floor, resolution)
        factor = _factor_text(compared, tie_floor, unit, resolution)
        if basis and winner not in (None, TIE):
            factor = f"{factor} failed"
    return Verdict(
        scenario=scenario,
        key=metric.key,
        metric=metric.label,
        unit=metric.unit,
        values=values,
        figures=figures,
        winner=winner,
        factor=factor,
        ratio=None if basis else ratio,
        notes=notes,
        readings=compared,
        basis=basis,
        at_timeout=[name for name, r in readings.items() if r.at_timeout],
    )


def scenario_label(summary: Summary) -> str:
    """The scenario's name, with the repeat number when the run repeated it."""
    name, repeat = summary.scenario, summary.repeat
    return f"{name} (repeat {repeat})" if repeat > 1 else name


def figure_notes(key: str, designs: dict[str, DesignSummary], summary: Summary) -> dict[str, str]:
    """The context a figure needs in the table (which phase, what else went missing)."""
    notes = {}
    reference = reference_phase_name(summary)
    for name, design in designs.items():
        if key == "bystander_worst_p95_ms":
            note = _bystander_note(design, reference, summary.client_timeout_s)
            if note:
                notes[name] = note
        elif key == "emails_lost" and design.emails is None:
            notes[name] = design.no_ledger
        elif key == "emails_lost" and design.emails is not None:
            extra = ledger_problems(design.emails, lost=False)
            if extra:
                notes[name] = ", ".join(extra)
        elif key == "cpu_per_1000_signups_s" and cost_figures(design).broker_included:
            notes[name] = "incl. broker"
    return notes


def _bystander_note(
    design: DesignSummary, reference: str | None, timeout_s: float | None
) -> str | None:
    """``in slow; 4.0 ms in healthy``: the phase the bystander figure comes from, and the
    healthy phase's p95 beside it for scale — quoted under the same support rule as every
    figure of the table, so a p95 from too few requests reads ``n/a`` with the reason."""
    phase, _ = worst_bystander_phase(design)
    if not phase:
        return None
    stats = design.bystander.phases.get(reference or "")
    if phase == reference or stats is None or not stats.latency_ms.p95:
        return f"in {phase}"
    healthy = percentile_reading(stats)
    if healthy.unavailable:  # the why in short: the table's rule states the support rule
        return f"in {phase}; n/a in {reference}: too few requests"
    if healthy.at_timeout:
        return f"in {phase}; {numbers.timeout_bound(timeout_s)} in {reference}"
    return f"in {phase}; {numbers.ms(healthy.value)} in {reference}"


def verdict_rows(verdicts: list[Verdict], designs: list[str]) -> list[dict[str, str]]:
    """Table rows: scenario, metric, winner, factor and one column per design."""
    rows = []
    for verdict in verdicts:
        row = {
            "scenario": verdict.scenario,
            "metric": verdict.metric,
            "winner": verdict.winner or "–",
            "factor": verdict.factor,
        }
        for design in designs:
            figure = verdict.figures.get(design, "")
            note = verdict.notes.get(design)
            row[design] = f"{figure} ({note})" if note else figure
        rows.append(row)
    return rows


# -- sentences --------------------------------------------------------------------------------


def _pair(summary: Summary) -> tuple[str, list[str]]:
    """The reference design (the first sync-kind one) and the designs compared with it."""
    designs = summary.designs
    names = list(designs)
    sync_like = [n for n in names if designs[n].kind == "sync"]
    reference = sync_like[0] if sync_like else names[0]
    return reference, [n for n in names if n != reference]


def _tail(floor: MeasurementFloor | None) -> float | None:
    return None if floor is None else floor.tail_ms


def _relation(
    a: Reading,
    b: Reading,
    floor: float,
    resolution: float | None = None,
    faster: str = "faster",
    slower: str = "slower",
) -> str:
    """How ``a`` compares with ``b`` (lower is better): ``715× faster``, ``no clear
    difference``; no factor from a figure that is the client timeout."""
    if a.at_timeout or b.at_timeout:
        return "no factor: a percentile at the client timeout is not a latency"
    if a.unavailable or b.unavailable:
        return "not comparable: too few requests"
    if a.value is None or b.value is None:
        return "not comparable"
    winner, ratio, _ = judge({"a": a, "b": b}, floor, resolution)
    if winner == TIE:
        return "no clear difference"
    if a.value == 0 or b.value == 0:
        return faster if winner == "a" else slower
    return f"{numbers.factor(ratio or 0)} {faster if winner == 'a' else slower}"


def scenario_sentences(summary: Summary, floor_ms: MeasurementFloor | None = None) -> list[str]:
    """A few sentences per compared design, every word chosen by the numbers."""
    designs = summary.designs
    if not designs:
        return ["No design produced any records in this scenario."]
    scenario = scenario_label(summary)
    reference, others = _pair(summary)
    ref = designs[reference]
    if not others:
        p95 = percentile_reading(ref.signup.overall)
        figure = figure_text(p95, "ms", summary.client_timeout_s)
        return [f"Under {scenario}, only {reference} ran: signup p95 {figure}."]
    sentences = []
    for other in others:
        data = designs[other]
        sentences.append(
            " ".join(_sentences_for(scenario, summary, reference, ref, other, data, floor_ms))
        )
    return sentences


def _sentences_for(
    scenario: str,
    summary: Summary,
    reference: str,
    ref: DesignSummary,
    other: str,
    data: DesignSummary,
    floor_ms: MeasurementFloor | None,
) -> list[str]:
    out = []
    timeout_s = summary.client_timeout_s
    p95_o = percentile_reading(data.signup.overall)
    p95_r = percentile_reading(ref.signup.overall)
    out.append(
        f"Under {scenario}, {other}'s signup p95 was {figure_text(p95_o, 'ms', timeout_s)} "
        f"against {figure_text(p95_r, 'ms', timeout_s)} for {reference} "
        f"({_relation(p95_o, p95_r, 1.0, _tail(floor_ms))})."
    )
    e2e_o, e2e_r = _e2e(data), _e2e(ref)
    if e2e_o.value is not None or e2e_r.value is not None:
        out.append(
            f"Its welcome emails completed end to end at p95 in {figure_text(e2e_o, 'ms')} "
            f"against {figure_text(e2e_r, 'ms')} for {reference} "
            f"({_relation(e2e_o, e2e_r, 1.0, _tail(floor_ms))})."
        )
    err_o = error_rate_reading(data.signup.overall)
    err_r = error_rate_reading(ref.signup.overall)
    if err_o.value or err_r.value:
        out.append(
            f"Signups that failed or timed out: {figure_text(err_r, '%')} for {reference}, "
            f"{figure_text(err_o, '%')} for {other} "
            f"({_relation(err_o, err_r, 0.001, None, 'fewer', 'more')})."
        )
    out.extend(_bystander_sentence(summary, reference, ref, other, data))
    out.append(_ledger_sentence(reference, ref, other, data))
    cost_o = cost_figures(data).cpu_per_1000_signups
    cost_r = cost_figures(ref).cpu_per_1000_signups
    if cost_o is not None and cost_r is not None:
        broker = " (broker included)" if cost_figures(data).broker_included else ""
        relation = _relation(Reading(cost_o), Reading(cost_r), 0.05, None, "cheaper", "dearer")
        out.append(
            f"CPU per 1,000 successful signups: {numbers.seconds(cost_r)} for {reference}, "
            f"{numbers.seconds(cost_o)} for {other}{broker} ({relation}; one measurement, "
            "no interval)."
        )
    return out


def _bystander_sentence(
    summary: Summary, reference: str, ref: DesignSummary, other: str, data: DesignSummary
) -> list[str]:
    healthy = reference_phase_name(summary)
    if healthy is None or len(summary.phases) < 2:
        return []
    parts = []
    for name, design in ((reference, ref), (other, data)):
        phase, worst = worst_bystander_phase(design)
        base = phase_p95(design, "bystander", healthy)
        err = phase_error_rate(design, "bystander", phase)
        if worst is None or base is None:
            continue
        errors = f", {numbers.pct(err)} of them failing" if err else ""
        unsupported = _unsupported_bystander_p95(design, [healthy, phase or healthy])
        if unsupported:  # a p95 from too few requests is quoted nowhere
            parts.append(f"is n/a for {name} ({'; '.join(unsupported)}){errors}")
            continue
        capped = percentile_reading(design.bystander.phases.get(phase or "")).at_timeout
        if capped:
            parts.append(
                f"rose from {numbers.ms(base)} ({healthy}) to "
                f"{numbers.timeout_bound(summary.client_timeout_s)} ({phase}) for {name}{errors}"
            )
        elif phase == healthy or (worst - base) <= max(1.0, 0.10 * base):
            parts.append(f"stayed at {numbers.ms(base)} for {name}{errors}")
        else:
            growth = numbers.factor(worst / base) if base > 0 else "∞"
            parts.append(
                f"rose from {numbers.ms(base)} ({healthy}) to {numbers.ms(worst)} ({phase}) "
                f"for {name}, {growth}{errors}"
            )
    if not parts:
        return []
    return [f"Bystander p95 (unrelated GET requests on the same servers) {'; '.join(parts)}."]


def _unsupported_bystander_p95(design: DesignSummary, phases: list[str]) -> list[str]:
    """``healthy: p95 needs ≥ 200 requests, 150 measured`` for each of these phases whose
    bystander p95 its sample cannot support (each phase once)."""
    reasons = []
    for phase in dict.fromkeys(phases):
        reading = percentile_reading(design.bystander.phases.get(phase))
        if reading.unavailable:
            reasons.append(f"{phase}: {reading.unavailable}")
    return reasons


def _ledger_sentence(reference: str, ref: DesignSummary, other: str, data: DesignSummary) -> str:
    def describe(name: str, design: DesignSummary) -> str:
        emails = design.emails
        if emails is None:
            return f"{name} {design.no_ledger}"
        text = ", ".join([f"{emails.lost:,} lost", *ledger_problems(emails, lost=False)])
        owed = f"{emails.owed:,}"
        if emails.owed_warmup:
            owed += f" owed ({emails.owed_measured:,} measured + {emails.owed_warmup:,} warm-up)"
        return f"{name} {text} of {owed}"

    sentence = f"Welcome emails: {describe(reference, ref)}; {describe(other, data)}."
    failed = ref.consistency.stored_but_failed if ref.consistency else 0
    if failed:
        sentence += (
            f" {failed:,} of {reference}'s signups failed for the client although the user was "
            "created (a retry would get 409)."
        )
    return sentence
