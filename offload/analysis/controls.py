"""Two questions the control designs answer: is it the queue, or is it the concurrency model?

The usual case for a queue-backed API credits the queue with fast answers and no cascade. The
control designs separate the parts: ``inline-async`` is the ``async`` API's framework and server
without the queue (it sends the email in the request, on the event loop), and ``sync-threads``
and ``inline-async`` are the ``sync`` design's inline sending under a thread pool and an event
loop instead of a few processes. Each question is judged metric by metric with the verdicts'
one rule (:mod:`offload.analysis.ranking`: intervals apart, beyond the tie margin and the
measurement floor), and says which way the figures point — also when they contradict the
usual story. A control design missing from the run leaves the question "not measured".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from offload.analysis.ranking import RANK_METRICS, Placed, rank
from offload.analysis.verdicts import Metric, measurement_floor_ms, scenario_label
from offload.rundir.manifest import ScenarioManifest
from offload.rundir.summary import Summary

QUEUE_QUESTION = "Is it the queue?"
CONCURRENCY_QUESTION = "Is it the concurrency model?"

YES, NO, PARTLY, MIXED, NOT_MEASURED = "yes", "no", "partly", "mixed", "not measured"

#: the metrics both questions are judged on (keys of ``RANK_METRICS``)
CONTROL_METRICS = (
    "signup_p95_ms",
    "signup_p99_ms",
    "signup_error_rate",
    "bystander_worst_p95_ms",
    "bystander_worst_error_rate",
    "emails_lost",
)

#: the outcomes of comparing design ``a`` with ``b`` on one metric
BETTER, SAME, WORSE, NOT_COMPARABLE = "better", "same", "worse", "not comparable"


@dataclass(frozen=True)
class ControlClaim:
    question: str
    #: which designs it compares, and why those
    compares: str
    status: str
    #: the answer in one or two sentences
    answer: str
    #: one line per metric: the figures and which way they point
    evidence: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    metric: str
    result: str
    a: Placed | None
    b: Placed | None

    def figures(self) -> str:
        parts = [
            f"{p.design} {'n/a' if p.reading.unavailable else p.figure.split(' [')[0]}"
            for p in (self.a, self.b)
            if p
        ]
        return ", ".join(parts)


def find_design(summary: Summary, manifest: ScenarioManifest | None, target: str) -> str | None:
    """The run's design of this name, or else its only design built from this target."""
    if target in summary.designs:
        return target
    if manifest is None:
        return None
    built = [
        name
        for name, entry in manifest.designs.items()
        if entry.target.name == target and name in summary.designs
    ]
    return built[0] if len(built) == 1 else None


def compare(summary: Summary, a: str, b: str, metric: Metric) -> Outcome:
    """``a`` against ``b`` on one metric: better, the same ("no clear difference"), worse."""
    ranking = rank(
        metric,
        {name: metric.read(summary.designs[name]) for name in (a, b)},
        scenario_label(summary),
        timeout_s=summary.client_timeout_s,
        floor_ms=measurement_floor_ms(summary),
    )
    placed = {e.design: e for e in ranking.entries}
    first, second = placed[a], placed[b]
    if first.place is None or second.place is None:
        result = NOT_COMPARABLE
    elif first.place == second.place:
        result = SAME
    else:
        result = BETTER if first.place < second.place else WORSE
    return Outcome(metric.label, result, first, second)


def _metrics() -> list[Metric]:
    by_key = {m.key: m for m in RANK_METRICS}
    return [by_key[key] for key in CONTROL_METRICS]


def _missing(
    names: list[str], summary: Summary | None = None, manifest: ScenarioManifest | None = None
) -> str:
    """``not measured: design inline-async was not in this run`` — naming the variants of a
    missing design that did run (``async-w1, async-w2``: the question needs one of them)."""
    if len(names) == 1:
        text = f"not measured: design {names[0]} was not in this run"
    else:
        text = f"not measured: designs {' and '.join(names)} were not in this run"
    variants = _variants(names, summary, manifest)
    return f"{text} ({variants})" if variants else text


def _variants(names: list[str], summary: Summary | None, manifest: ScenarioManifest | None) -> str:
    if summary is None or manifest is None:
        return ""
    built = [
        f"{', '.join(runs)} {'are variants' if len(runs) > 1 else 'is a variant'} of {target}"
        for target in names
        if (
            runs := [
                n
                for n, entry in manifest.designs.items()
                if entry.target.name == target and n in summary.designs
            ]
        )
    ]
    if not built:
        return ""
    return "; ".join(built) + ": the question compares one design of each"


def queue_claim(summary: Summary, manifest: ScenarioManifest | None = None) -> ControlClaim:
    """``async`` against ``inline-async``: the same framework and server, minus the queue."""
    compares = "async against inline-async (the same framework and server, minus the queue)"
    queued = find_design(summary, manifest, "async")
    inline = find_design(summary, manifest, "inline-async")
    missing = [n for n, d in (("async", queued), ("inline-async", inline)) if d is None]
    if queued is None or inline is None:
        return ControlClaim(
            QUEUE_QUESTION, compares, NOT_MEASURED, _missing(missing, summary, manifest)
        )
    outcomes = [compare(summary, queued, inline, m) for m in _metrics()]
    evidence = []
    for o in outcomes:
        says = {
            BETTER: f"the queue helps: {queued} is better",
            SAME: "not the queue: no clear difference without it",
            WORSE: f"against the queue: {inline} is better without it",
            NOT_COMPARABLE: "not comparable (too few requests, or no figure)",
        }[o.result]
        evidence.append(f"{o.metric}: {o.figures()} — {says}")
    helped = [o.metric for o in outcomes if o.result == BETTER]
    same = [o.metric for o in outcomes if o.result == SAME]
    hurt = [o.metric for o in outcomes if o.result == WORSE]
    status = _status(helped, same, hurt)
    parts = []
    if helped:
        parts.append(f"With the queue, {queued} did better on {', '.join(helped)}")
    if same:
        parts.append(f"Without it, {inline} did as well on {', '.join(same)}")
    if hurt:
        parts.append(f"Without it, {inline} did better on {', '.join(hurt)}")
    answer = ". ".join(parts or ["No metric could be compared"]) + "."
    return ControlClaim(QUEUE_QUESTION, compares, status, answer, evidence)


def _status(helped: list[str], same: list[str], hurt: list[str]) -> str:
    if helped and hurt:
        return MIXED
    if helped:
        return PARTLY if same else YES
    return NO


def concurrency_claim(summary: Summary, manifest: ScenarioManifest | None = None) -> ControlClaim:
    """``sync-threads`` (threads) and ``inline-async`` (an event loop) against ``sync`` (a few
    processes): the same inline sending, another way of holding requests. With ``async`` in
    the run, each is also set against it: a control that matches ``async`` where ``sync``
    fell behind shows the concurrency model alone closes the gap, without a queue."""
    compares = (
        "sync-threads (threads) and inline-async (event loop) against sync (processes): "
        "the same inline email, another concurrency model"
    )
    base = find_design(summary, manifest, "sync")
    if base is None:
        return ControlClaim(
            CONCURRENCY_QUESTION, compares, NOT_MEASURED, _missing(["sync"], summary, manifest)
        )
    controls = {c: find_design(summary, manifest, c) for c in ("sync-threads", "inline-async")}
    present = [d for d in controls.values() if d is not None]
    absent = [c for c, d in controls.items() if d is None]
    if not present:
        return ControlClaim(
            CONCURRENCY_QUESTION, compares, NOT_MEASURED, _missing(absent, summary, manifest)
        )
    queued = find_design(summary, manifest, "async")
    evidence: list[str] = []
    closes: list[str] = []
    results: dict[str, dict[str, list[str]]] = {c: {} for c in present}
    for metric in _metrics():
        against_async = compare(summary, base, queued, metric) if queued else None
        gap = against_async is not None and against_async.result == WORSE
        for control in present:
            o = compare(summary, control, base, metric)
            results[control].setdefault(o.result, []).append(metric.label)
            line = f"{metric.label}: {o.figures()} — "
            line += {
                BETTER: f"{control} is better than {base}",
                SAME: f"no clear difference from {base}",
                WORSE: f"{control} is worse than {base}",
                NOT_COMPARABLE: "not comparable (too few requests, or no figure)",
            }[o.result]
            if queued is not None and gap:
                versus = compare(summary, control, queued, metric)
                if versus.result in (SAME, BETTER):
                    closes.append(f"{control} on {metric.label}")
                    line += (
                        f"; and it matches {queued} ({versus.figures()}), which {base} did "
                        "not: the concurrency model alone closes the gap, without a queue"
                    )
                elif versus.result == WORSE:
                    line += f"; {queued} is still better ({versus.figures()})"
            evidence.append(line)
    helped = [m for c in present for m in results[c].get(BETTER, [])]
    same = [m for c in present for m in results[c].get(SAME, [])]
    hurt = [m for c in present for m in results[c].get(WORSE, [])]
    status = _status(helped, same, hurt)
    clauses = []
    for control in present:
        found = results[control]
        parts = [
            f"{word} {', '.join(found[result])}"
            for result, word in (
                (BETTER, "did better on"),
                (SAME, "made no clear difference on"),
                (WORSE, "did worse on"),
            )
            if found.get(result)
        ]
        clauses.append(f"{control} {'; '.join(parts) or 'could be compared on no metric'}")
    answer = f"Against {base}: " + "; ".join(clauses) + "."
    if closes:
        answer += f" Against the usual story, {'; '.join(closes)} matched {queued} without a queue."
    if absent:
        answer += f" ({_missing(absent)}.)"
    return ControlClaim(CONCURRENCY_QUESTION, compares, status, answer, evidence)


def control_claims(
    summary: Summary, manifest: ScenarioManifest | None = None
) -> list[ControlClaim]:
    return [queue_claim(summary, manifest), concurrency_claim(summary, manifest)]
