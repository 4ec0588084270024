"""Which design wins, on which metric, by what factor — computed from ``summary.json``.

Nothing here names a winner in advance: every verdict compares the figures of the designs the
run has, and a difference smaller than the tolerance (10 %, or a metric's absolute floor) is a
tie. The sentences per scenario are assembled from the same numbers, so a run with opposite
results reads the opposite way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from offload.analysis import numbers
from offload.analysis.cost import cost_figures
from offload.rundir.summary import DesignSummary, Summary

#: two figures closer than this ratio are a tie
TIE_RATIO = 1.10
TIE = "tie"


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


def reference_phase_name(summary: Summary) -> str | None:
    """The phase every degradation is measured against: the first one (before any fault)."""
    return summary.phases[0].name if summary.phases else None


@dataclass(frozen=True)
class Metric:
    """One row of the verdict table: how to read the figure, its unit, its tie floor."""

    key: str
    label: str
    unit: str
    #: differences at or below this are a tie whatever the ratio
    floor: float
    read: Callable[[DesignSummary], float | None]


def _bystander_worst(design: DesignSummary) -> float | None:
    return worst_bystander_phase(design)[1]


METRICS: tuple[Metric, ...] = (
    Metric(
        "signup_p95_ms",
        "signup response p95",
        "ms",
        1.0,
        lambda d: d.signup.overall.latency_ms.p95,
    ),
    Metric(
        "signup_error_rate",
        "signup error rate",
        "%",
        0.001,
        lambda d: d.signup.overall.error_rate,
    ),
    Metric("bystander_worst_p95_ms", "bystander p95, worst phase", "ms", 1.0, _bystander_worst),
    Metric("e2e_p95_ms", "email end-to-end p95", "ms", 1.0, lambda d: d.e2e_ms.p95),
    Metric("emails_lost", "emails lost", "", 0.0, lambda d: d.emails.lost),
    Metric(
        "cpu_per_1000_signups_s",
        "CPU per 1,000 signups",
        "s",
        0.05,
        lambda d: cost_figures(d).cpu_per_1000_signups,
    ),
)


@dataclass(frozen=True)
class Verdict:
    """The outcome on one metric: ``winner`` is a design name, ``"tie"`` or None (no data)."""

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


def _close(value: float, best: float, floor: float) -> bool:
    """Within the tie tolerance of the best figure."""
    return value - best <= floor or (best > 0 and value / best < TIE_RATIO)


def ranking(
    values: dict[str, float | None], floor: float
) -> tuple[list[str], float | None, float | None]:
    """The designs tied for the lowest figure, that figure, and the next figure beyond the
    tolerance (None when every design is within it)."""
    known = sorted(((v, name) for name, v in values.items() if v is not None), key=lambda x: x[0])
    if not known:
        return [], None, None
    best = known[0][0]
    joint = [name for v, name in known if _close(v, best, floor)]
    rest = [v for v, _ in known if not _close(v, best, floor)]
    return joint, best, (rest[0] if rest else None)


def compare(values: dict[str, float | None], floor: float) -> tuple[str | None, float | None]:
    """The design with the lowest figure (``"a = b"`` when several tie for it), or ``"tie"``
    when every design is within the tolerance; with the runner-up ÷ best ratio."""
    if sum(v is not None for v in values.values()) < 2:
        return None, None
    joint, best, runner_up = ranking(values, floor)
    if runner_up is None:
        return TIE, None
    ratio = runner_up / best if best else float("inf")
    return " = ".join(joint), ratio


def _factor_text(values: dict[str, float | None], floor: float, unit: str) -> str:
    """``715× lower`` (runner-up ÷ winner), ``0 vs 37.8%``, ``both 0``, ``within 10%``."""
    winner, ratio = compare(values, floor)
    if winner is None:
        return "n/a (no data)"
    known = {v for v in values.values() if v is not None}
    if winner == TIE:
        if known == {0}:
            present = sum(v is not None for v in values.values())
            return "both 0" if present == 2 else "all 0"
        return "equal" if len(known) == 1 else "within 10%"
    _, best, runner_up = ranking(values, floor)
    if best == 0:
        return f"0 vs {numbers.value(runner_up, unit)}"
    return f"{numbers.factor(ratio or 0)} lower"


def scenario_label(summary: Summary) -> str:
    """The scenario's name, with the repeat number when the run repeated it."""
    name, repeat = summary.scenario, summary.repeat
    return f"{name} (repeat {repeat})" if repeat > 1 else name


def scenario_verdicts(summary: Summary) -> list[Verdict]:
    """One verdict per metric for one scenario's summary."""
    designs = summary.designs
    verdicts = []
    for metric in METRICS:
        values = {name: metric.read(figures) for name, figures in designs.items()}
        winner, ratio = compare(values, metric.floor)
        figures = {name: numbers.value(v, metric.unit) for name, v in values.items()}
        notes = _notes(metric.key, designs, summary)
        verdicts.append(
            Verdict(
                scenario=scenario_label(summary),
                key=metric.key,
                metric=metric.label,
                unit=metric.unit,
                values=values,
                figures=figures,
                winner=winner,
                factor=_factor_text(values, metric.floor, metric.unit),
                ratio=ratio,
                notes=notes,
            )
        )
    return verdicts


def _notes(key: str, designs: dict[str, DesignSummary], summary: Summary) -> dict[str, str]:
    """The context a figure needs in the table (which phase, what else went missing)."""
    notes = {}
    reference = reference_phase_name(summary)
    for name, design in designs.items():
        if key == "bystander_worst_p95_ms":
            phase, worst = worst_bystander_phase(design)
            healthy = phase_p95(design, "bystander", reference)
            if phase and healthy and worst is not None and phase != reference:
                notes[name] = f"in {phase}; {numbers.ms(healthy)} in {reference}"
            elif phase:
                notes[name] = f"in {phase}"
        elif key == "emails_lost":
            emails = design.emails
            extra = [
                f"{count:,} {label}"
                for count, label in (
                    (emails.dead_lettered, "dead-lettered"),
                    (emails.pending, "pending"),
                    (emails.duplicates, "duplicated"),
                )
                if count
            ]
            if extra:
                notes[name] = ", ".join(extra)
        elif key == "cpu_per_1000_signups_s" and cost_figures(design).broker_included:
            notes[name] = "incl. broker"
    return notes


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


def _relation(
    a: float | None, b: float | None, floor: float, faster: str = "faster", slower: str = "slower"
) -> str:
    """How ``a`` compares with ``b`` (lower is better): ``715× faster``, ``about the same``."""
    if a is None or b is None:
        return "not comparable"
    winner, ratio = compare({"a": a, "b": b}, floor)
    if winner == TIE:
        return "about the same"
    if a == 0 or b == 0:
        return faster if winner == "a" else slower
    return f"{numbers.factor(ratio or 0)} {faster if winner == 'a' else slower}"


def scenario_sentences(summary: Summary) -> list[str]:
    """A few sentences per compared design, every word chosen by the numbers."""
    designs = summary.designs
    if not designs:
        return ["No design produced any records in this scenario."]
    scenario = scenario_label(summary)
    reference, others = _pair(summary)
    ref = designs[reference]
    if not others:
        p95 = ref.signup.overall.latency_ms.p95
        return [f"Under {scenario}, only {reference} ran: signup p95 {numbers.ms(p95)}."]
    sentences = []
    for other in others:
        data = designs[other]
        sentences.append(" ".join(_sentences_for(scenario, summary, reference, ref, other, data)))
    return sentences


def _sentences_for(
    scenario: str,
    summary: Summary,
    reference: str,
    ref: DesignSummary,
    other: str,
    data: DesignSummary,
) -> list[str]:
    out = []
    p95_o = data.signup.overall.latency_ms.p95
    p95_r = ref.signup.overall.latency_ms.p95
    out.append(
        f"Under {scenario}, {other} answered signups in {numbers.ms(p95_o)} at p95 against "
        f"{numbers.ms(p95_r)} for {reference} ({_relation(p95_o, p95_r, 1.0)})."
    )
    e2e_o, e2e_r = data.e2e_ms.p95, ref.e2e_ms.p95
    if e2e_o is not None or e2e_r is not None:
        out.append(
            f"Its welcome emails completed end to end in {numbers.ms(e2e_o)} at p95 against "
            f"{numbers.ms(e2e_r)} for {reference} ({_relation(e2e_o, e2e_r, 1.0)})."
        )
    err_o = data.signup.overall.error_rate
    err_r = ref.signup.overall.error_rate
    if err_o or err_r:
        out.append(
            f"Signups that failed: {numbers.pct(err_r)} for {reference}, "
            f"{numbers.pct(err_o)} for {other}."
        )
    out.extend(_bystander_sentence(summary, reference, ref, other, data))
    out.append(_ledger_sentence(reference, ref, other, data))
    cost_o = cost_figures(data).cpu_per_1000_signups
    cost_r = cost_figures(ref).cpu_per_1000_signups
    if cost_o is not None and cost_r is not None:
        broker = " (broker included)" if cost_figures(data).broker_included else ""
        out.append(
            f"CPU per 1,000 successful signups: {numbers.seconds(cost_r)} for {reference}, "
            f"{numbers.seconds(cost_o)} for {other}{broker} "
            f"({_relation(cost_o, cost_r, 0.05, 'cheaper', 'more expensive')})."
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
        if phase == healthy or (worst - base) <= max(1.0, 0.10 * base):
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


def _ledger_sentence(reference: str, ref: DesignSummary, other: str, data: DesignSummary) -> str:
    def describe(name: str, design: DesignSummary) -> str:
        emails = design.emails
        text = f"{emails.lost:,} lost"
        for count, label in (
            (emails.duplicates, "duplicated"),
            (emails.dead_lettered, "dead-lettered"),
            (emails.pending, "still pending"),
        ):
            if count:
                text += f", {count:,} {label}"
        return f"{name} {text} of {emails.owed:,}"

    sentence = f"Welcome emails: {describe(reference, ref)}; {describe(other, data)}."
    failed = ref.consistency.stored_but_failed
    if failed:
        sentence += (
            f" {failed:,} of {reference}'s signups failed for the client although the user was "
            "created (a retry would get 409)."
        )
    return sentence
