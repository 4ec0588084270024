"""One headline per scenario: what happened, in three sentences a reviewer reads first.

Every word is chosen by the figures of ``summary.json`` (the failed share and its interval,
the slowest answer, the ledger), never by which design is expected to win; each sentence
names the chart that shows it, so the page can link the two.
"""

from __future__ import annotations

from dataclasses import dataclass

from offload.analysis import numbers
from offload.analysis.ledger_text import emails_missing, ledger_problems
from offload.analysis.verdicts import worst_bystander_phase
from offload.rundir.manifest import PhaseRecord
from offload.rundir.summary import DesignSummary, Summary, WindowStats


@dataclass(frozen=True)
class HeadlineSentence:
    text: str
    #: the chart that shows it: the name of ``charts/<name>.png``
    chart: str


def scenario_headline(
    summary: Summary,
    disturbed: set[str],
    labels: dict[str, str],
) -> list[HeadlineSentence]:
    """What the fault did to each design's signups, to its bystanders, and to the emails."""
    designs = summary.designs
    if not designs:
        return [HeadlineSentence("No design produced any records in this scenario.", "latency")]
    timeout_s = summary.client_timeout_s
    failing = any(d.signup.overall.error_rate for d in designs.values())
    signups = "; ".join(_signup_clause(name, d, timeout_s) for name, d in designs.items())
    sentences = [
        HeadlineSentence(
            f"{_situation(summary.phases, disturbed, labels)}: {signups}.",
            "throughput" if failing else "latency",
        )
    ]
    bystanders = _bystander_sentence(designs, timeout_s)
    if bystanders:
        sentences.append(HeadlineSentence(bystanders, "bystanders"))
    sentences.append(HeadlineSentence(_email_sentence(designs), "ledger"))
    return sentences


def _situation(phases: list[PhaseRecord], disturbed: set[str], labels: dict[str, str]) -> str:
    """``During slow (latency 2s ±200ms, 12.5 s)`` — or ``With no fault`` for a steady run."""
    faults = [p for p in phases if p.name in disturbed]
    if not faults:
        return "With no fault"
    parts = [
        f"{p.name} ({labels.get(p.name, p.provider)}, {p.end_s - p.start_s:g} s)" for p in faults
    ]
    return "During " + ", then ".join(parts)


def _failed(stats: WindowStats) -> str:
    """``45% [41–49%]`` of the window's requests failed or timed out."""
    share = stats.error_rate_ci
    text = numbers.pct(stats.error_rate)
    if share is not None:
        text += f" [{numbers.interval(share.low, share.high, '%')}]"
    return text


def _signup_clause(name: str, design: DesignSummary, timeout_s: float | None) -> str:
    stats = design.signup.overall
    if not stats.count:
        return f"{name} measured no signups"
    if stats.ok == stats.count:
        fastest = stats.latency_ms.max
        return f"{name} answered every one of its {stats.count:,} signups within {_ms(fastest)}"
    timed_out = stats.timeouts / stats.count
    how = "timed out or failed" if stats.timeouts else "failed"
    clause = f"{name} {how} on {_failed(stats)} of {stats.count:,} signups"
    if stats.timeouts and stats.timeouts < stats.count - stats.ok:
        clause += f" ({numbers.pct(timed_out)} timed out)"
    ok = design.signup.overall.ok_latency_ms
    if ok is not None and ok.p95 is not None:
        clause += f", answering the rest with p95 {_ms(ok.p95)}"
    return clause


def _bystander_sentence(designs: dict[str, DesignSummary], timeout_s: float | None) -> str:
    """Unrelated requests on the same servers, in each design's worst phase."""
    parts = []
    for name, design in designs.items():
        phase, _ = worst_bystander_phase(design)
        stats = design.bystander.phases.get(phase or "") or design.bystander.overall
        if not stats.count:
            continue
        slowest = stats.latency_ms.max
        reached = timeout_s is not None and slowest is not None and slowest >= timeout_s * 999
        waited = f"the {timeout_s:g} s client timeout" if reached and timeout_s else _ms(slowest)
        where = f" in {phase}" if phase else ""
        text = f"{name}'s waited up to {waited}{where}"
        if stats.error_rate:
            text += f", {_failed(stats)} of them failing"
        parts.append(text)
    if not parts:
        return ""
    return f"Bystanders (unrelated GETs on the same servers): {'; '.join(parts)}."


def _email_sentence(designs: dict[str, DesignSummary]) -> str:
    if all(emails_missing(d.emails) == 0 for d in designs.values()):
        every = "either" if len(designs) == 2 else "any design"
        return f"No welcome email lost or duplicated in {every}."
    parts = []
    for name, design in designs.items():
        emails = design.emails
        if emails is None:
            parts.append(f"{name} {design.no_ledger}")
            continue
        counts = ledger_problems(emails)
        parts.append(f"{name} {', '.join(counts) or 'none missing'} of {emails.owed:,} owed")
    return f"Welcome emails: {'; '.join(parts)}."


def _ms(value: float | None) -> str:
    """Latency in words: ``15 ms``, ``5.0 s`` above a second."""
    if value is not None and value >= 1000:
        return f"{value / 1000:.1f} s"
    return numbers.ms(value)
