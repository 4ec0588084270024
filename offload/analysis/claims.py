"""The five claims of the usual case for queue-backed APIs (docs/design.md, "Claims the report
checks"), each judged supported, contradicted or not tested from one scenario's figures.

A contradicted claim is a result, not a failure. The thresholds below are the reading of the
claims' words ("in milliseconds", "does not cascade", "nothing is lost"); they are stated in
every claim's evidence so a reader can disagree with them.
"""

from __future__ import annotations

from dataclasses import dataclass

from offload.analysis import numbers
from offload.analysis.phases import (
    is_downstream_fault,
    is_failing_downstream,
    provider_profile_at,
    scenario_model,
)
from offload.analysis.verdicts import (
    TIE_RATIO,
    phase_error_rate,
    phase_p95,
    reference_phase_name,
)
from offload.rundir.manifest import ScenarioManifest, ScenarioRecord
from offload.rundir.summary import DesignSummary, Percentiles, Summary

SUPPORTED = "supported"
CONTRADICTED = "contradicted"
NOT_TESTED = "not tested"

#: claim 1: "answers in milliseconds" = signup p95 below this in every phase ...
MILLISECONDS_P95 = 100.0
#: ... and at most this share of signups failing in any phase (claims 1 and 5)
MAX_ERROR_RATE = 0.01
#: claim 3: a fault phase's bystander p95 may be at most 2 × healthy + 20 ms
CASCADE_FACTOR, CASCADE_SLACK_MS = 2.0, 20.0

CLAIMS = {
    1: "The async API answers in milliseconds, whatever the downstream does.",
    2: "Total job completion is not faster (end-to-end vs sync response latency).",
    3: "A slow or failing downstream does not cascade into unrelated endpoints.",
    4: "Background work scales independently (drain rate vs worker count).",
    5: "Failures become retries and dead letters instead of client errors, and nothing is lost.",
}


@dataclass(frozen=True)
class Claim:
    number: int
    text: str
    status: str
    evidence: str


def _by_kind(summary: Summary, kind: str) -> list[str]:
    return [n for n, d in summary.designs.items() if d.kind == kind]


def evaluate_claims(
    summary: Summary,
    manifest: ScenarioManifest,
    drain_rates: dict[str, float] | None = None,
) -> list[Claim]:
    """Judge every claim on one scenario (its ``summary.json`` and ``manifest.json``).

    ``drain_rates``: each queue-backed design's peak delivery rate (jobs/s), for claim 4.
    """
    scenario = manifest.scenario
    workers = {name: entry.config.workers for name, entry in manifest.designs.items()}
    return [
        _claim1(summary),
        _claim2(summary),
        _claim3(summary, scenario),
        _claim4(summary, workers, drain_rates or {}),
        _claim5(summary, scenario),
    ]


def _claim(number: int, status: str, evidence: str) -> Claim:
    return Claim(number, CLAIMS[number], status, evidence)


def _phase_p95s(design: DesignSummary) -> dict[str, float | None]:
    return {name: stats.latency_ms.p95 for name, stats in design.signup.phases.items()}


def _phase_error_rates(design: DesignSummary) -> dict[str, float | None]:
    return {name: stats.error_rate for name, stats in design.signup.phases.items()}


def _claim1(summary: Summary) -> Claim:
    designs = summary.designs
    queued = _by_kind(summary, "async")
    if not queued:
        return _claim(1, NOT_TESTED, "no async design in this run")
    status, parts = SUPPORTED, []
    for name in queued:
        p95 = _phase_p95s(designs[name])
        errors = _phase_error_rates(designs[name])
        slow = [p for p, v in p95.items() if v is None or v >= MILLISECONDS_P95]
        failing = [p for p, v in errors.items() if v is not None and v > MAX_ERROR_RATE]
        if slow or failing:
            status = CONTRADICTED
        listed = ", ".join(f"{p} {numbers.ms(v)}" for p, v in p95.items())
        failed = ", ".join(f"{p} {numbers.pct(errors[p])}" for p in failing)
        parts.append(
            f"{name} signup p95 by phase: {listed}"
            + (f"; signups failing: {failed}" if failed else "")
        )
    for name in _by_kind(summary, "sync"):
        p95 = _phase_p95s(designs[name])
        parts.append(f"{name}: " + ", ".join(f"{p} {numbers.ms(v)}" for p, v in p95.items()))
    rule = (
        f"(supported when p95 < {MILLISECONDS_P95:.0f} ms and at most "
        f"{MAX_ERROR_RATE:.0%} of signups fail in every phase)"
    )
    return _claim(1, status, "; ".join(parts) + " " + rule)


def _claim2(summary: Summary) -> Claim:
    designs = summary.designs
    queued, inline = _by_kind(summary, "async"), _by_kind(summary, "sync")
    if not queued or not inline:
        return _claim(2, NOT_TESTED, "needs a sync and an async design in the same scenario")
    reference = designs[inline[0]]
    response = reference.signup.overall.latency_ms
    sync_e2e = reference.e2e_ms
    status, parts = SUPPORTED, []
    for name in queued:
        e2e = designs[name].e2e_ms
        e2e_p95, response_p95 = e2e.p95, response.p95
        if e2e_p95 is None or response_p95 is None:
            return _claim(2, NOT_TESTED, f"{name} has no end-to-end figures")
        capped = "p95" in response.at_timeout
        if capped and e2e_p95 * TIE_RATIO < response_p95:
            # the response p95 is only a lower bound: faster, by a factor nobody knows
            status = CONTRADICTED
            verdict = "faster at p95; no factor from a p95 at the client timeout"
        elif capped:
            status = NOT_TESTED if status == SUPPORTED else status
            verdict = "not comparable at p95: the response p95 is the client timeout"
        elif e2e_p95 * TIE_RATIO < response_p95:
            status = CONTRADICTED
            verdict = f"{numbers.factor(response_p95 / e2e_p95)} faster at p95"
        elif e2e_p95 > response_p95 * TIE_RATIO:
            verdict = f"{numbers.factor(e2e_p95 / response_p95)} slower at p95"
        else:
            verdict = "about the same at p95"
        parts.append(
            f"{name} end-to-end p50/p95 {numbers.ms(e2e.p50)} / {numbers.ms(e2e_p95)} "
            f"against {inline[0]} response p50/p95 {numbers.ms(response.p50)} / "
            f"{_p95_text(response, summary.client_timeout_s)} ({verdict})"
        )
    parts.append(
        f"{inline[0]}'s own end-to-end p50/p95: {numbers.ms(sync_e2e.p50)} / "
        f"{numbers.ms(sync_e2e.p95)}"
    )
    return _claim(2, status, "; ".join(parts) + " (contradicted when more than 10% faster)")


def _p95_text(block: Percentiles, timeout_s: float | None) -> str:
    return numbers.timeout_bound(timeout_s) if "p95" in block.at_timeout else numbers.ms(block.p95)


def _claim3(summary: Summary, scenario: ScenarioRecord) -> Claim:
    designs = summary.designs
    model = scenario_model(scenario)
    queued = _by_kind(summary, "async")
    if model is None or not queued:
        return _claim(3, NOT_TESTED, "no async design, or the scenario could not be read")
    faults = [p for p in summary.phases if is_downstream_fault(model, p)]
    healthy = reference_phase_name(summary)
    if not faults or healthy in {p.name for p in faults}:
        return _claim(3, NOT_TESTED, "no downstream fault after a healthy phase in this scenario")
    status, parts = SUPPORTED, []
    for name, design in designs.items():
        base_p95 = phase_p95(design, "bystander", healthy)
        base_err = phase_error_rate(design, "bystander", healthy) or 0.0
        texts = []
        for phase in faults:
            p95 = phase_p95(design, "bystander", phase.name)
            err = phase_error_rate(design, "bystander", phase.name) or 0.0
            texts.append(f"{numbers.ms(p95)} and {numbers.pct(err)} errors in {phase.name}")
            cascaded = (
                p95 is None
                or base_p95 is None
                or p95 > CASCADE_FACTOR * base_p95 + CASCADE_SLACK_MS
                or err > base_err + MAX_ERROR_RATE
            )
            if cascaded and design.kind == "async":
                status = CONTRADICTED
        parts.append(
            f"{name} bystander p95 {numbers.ms(base_p95)} in {healthy}, " + ", ".join(texts)
        )
    rule = (
        f"(supported when every async design's bystander p95 stays under "
        f"{CASCADE_FACTOR:g} × healthy + {CASCADE_SLACK_MS:g} ms and its error rate rises by "
        f"at most {MAX_ERROR_RATE:.0%})"
    )
    return _claim(3, status, "; ".join(parts) + " " + rule)


def _claim4(
    summary: Summary, workers: dict[str, int | None], drain_rates: dict[str, float]
) -> Claim:
    queued = _by_kind(summary, "async")
    variants = sorted(
        (count, drain_rates[name], name)
        for name in queued
        if (count := workers.get(name)) is not None and drain_rates.get(name)
    )
    if len({w for w, _, _ in variants}) < 2:
        counts = sorted({count for n in queued if (count := workers.get(n)) is not None})
        if len(counts) < 2:
            why = "needs async variants with different worker counts in one scenario"
        else:
            saturated = ", ".join(n for _, _, n in variants) or "none"
            why = (
                "needs at least two worker counts whose workers were saturated (backlog above "
                f"workers × prefetch); saturated here: {saturated}"
            )
        return _claim(4, NOT_TESTED, why + " (e.g. the worker-scaling scenario)")
    (w_lo, r_lo, _), (w_hi, r_hi, _) = variants[0], variants[-1]
    gain, expected = r_hi / r_lo - 1, w_hi / w_lo - 1
    status = SUPPORTED if gain >= 0.5 * expected else CONTRADICTED
    listed = ", ".join(f"{n} ({w} workers) {numbers.rate(r)}" for w, r, n in variants)
    return _claim(
        4,
        status,
        f"drain rate while the workers were saturated: {listed}; {w_hi / w_lo:g}× the workers "
        f"gave {r_hi / r_lo:.2f}× the drain rate (supported when at least half the "
        "proportional gain)",
    )


def _claim5(summary: Summary, scenario: ScenarioRecord) -> Claim:
    designs = summary.designs
    model = scenario_model(scenario)
    queued = _by_kind(summary, "async")
    if model is None or not queued:
        return _claim(5, NOT_TESTED, "no async design, or the scenario could not be read")
    timeout = model.designs.provider_timeout_s
    failing = [
        p
        for p in summary.phases
        if is_failing_downstream(provider_profile_at(model, p.start_s), timeout)
    ]
    parts = []
    status = SUPPORTED if failing else NOT_TESTED
    for name in queued:
        design = designs[name]
        emails = design.emails
        errors = {p.name: phase_error_rate(design, "signup", p.name) for p in failing}
        bad = [p for p, e in errors.items() if e is not None and e > MAX_ERROR_RATE]
        if emails is None:  # without the ledger the claim cannot be supported
            status = CONTRADICTED if bad else NOT_TESTED if status == SUPPORTED else status
            parts.append(f"{name}: {design.no_ledger}")
            continue
        problems = emails.lost + emails.duplicates + emails.pending
        if failing and (bad or problems):
            status = CONTRADICTED
        error_text = ", ".join(f"{p} {numbers.pct(e)}" for p, e in errors.items())
        parts.append(
            f"{name}: {design.retries or 0:,} retries, "
            f"{emails.dead_lettered:,} dead-lettered, "
            f"{emails.lost:,} lost, {emails.duplicates:,} duplicated, "
            f"{emails.pending:,} pending of {emails.owed:,} owed"
            + (f"; signups failing during the fault: {error_text}" if error_text else "")
        )
    for name in _by_kind(summary, "sync"):
        failed = designs[name].signup.overall.error_rate
        parts.append(f"{name}: {numbers.pct(failed)} of signups failed for the client")
    prefix = "" if failing else "no failing downstream in this scenario; "
    return _claim(5, status, prefix + "; ".join(parts) + " (broker faults not exercised)")


def combine(per_scenario: dict[str, list[Claim]]) -> list[tuple[int, str, str, dict[str, str]]]:
    """Across a run: contradicted anywhere → contradicted; else supported anywhere → supported.

    Returns ``(number, text, status, {scenario: status})`` per claim.
    """
    combined = []
    for number, text in CLAIMS.items():
        statuses = {
            scenario: next(c.status for c in claims if c.number == number)
            for scenario, claims in per_scenario.items()
        }
        values = set(statuses.values())
        overall = (
            CONTRADICTED
            if CONTRADICTED in values
            else SUPPORTED
            if SUPPORTED in values
            else NOT_TESTED
        )
        combined.append((number, text, overall, statuses))
    return combined
