"""The scenario as run, read back from the manifest: the provider's profile and the offered
signup rate in each phase of the fault timeline.

The manifest stores the scenario exactly as it ran (already shortened by ``--quick``), so the
capacity model and the claims use the same numbers the timeline applied.
"""

from __future__ import annotations

import numpy as np
from pydantic import ValidationError

from offload.rundir.manifest import PhaseRecord, ScenarioRecord
from offload.scenario import ProviderProfile, Scenario


def scenario_model(scenario: ScenarioRecord) -> Scenario | None:
    """The scenario as today's schema reads it, or None for one an older schema wrote."""
    try:
        return Scenario.model_validate(scenario.to_json())
    except (ValidationError, TypeError, ValueError):
        return None


def provider_profile_at(scenario: Scenario, t: float) -> ProviderProfile:
    """The provider's profile in force at ``t`` seconds (the last provider change at or
    before ``t``; broker and worker faults leave the provider as it was)."""
    return scenario.provider_at(t + 1e-9)


def signup_rate_at(scenario: Scenario, t: float) -> float:
    """Signups per second the schedule asks for at ``t`` (load steps, linear ramps)."""
    rate = scenario.load.rate
    for step in scenario.load.steps:
        if t < step.at:
            break
        if step.ramp > 0 and t < step.at + step.ramp:
            return rate + (step.rate - rate) * (t - step.at) / step.ramp
        rate = step.rate
    return rate


def mean_signup_rate(scenario: Scenario, start_s: float, end_s: float) -> float:
    """The offered signup rate averaged over a window."""
    if end_s <= start_s:
        return signup_rate_at(scenario, start_s)
    points = np.linspace(start_s, end_s, 201)[:-1]
    return float(np.mean([signup_rate_at(scenario, float(t)) for t in points]))


def is_downstream_fault(scenario: Scenario, phase: PhaseRecord) -> bool:
    """The provider behaves differently from the scenario's baseline in this phase."""
    return provider_profile_at(scenario, phase.start_s) != scenario.provider


def is_component_fault(scenario: Scenario, phase: PhaseRecord) -> bool:
    """A part of the system is down in this phase: the broker stopped or blocked, or the
    phase starts at a crash of queue workers or API processes (a resize of the worker pool is
    a configuration, not a fault)."""
    if scenario.broker_at(phase.start_s) != "up":
        return True
    return any(
        fault.at == phase.start_s
        and (fault.api is not None or (fault.workers is not None and fault.workers.kill))
        for fault in scenario.faults
    )


def is_load_change(scenario: Scenario, phase: PhaseRecord) -> bool:
    mean = mean_signup_rate(scenario, phase.start_s, phase.end_s)
    return abs(mean - scenario.load.rate) > 0.05 * scenario.load.rate


def is_failing_downstream(profile: ProviderProfile, provider_timeout_s: float) -> bool:
    """The provider fails requests (not merely slows down): errors, timeouts, resets, outage,
    rate limiting, or a latency beyond the designs' provider timeout."""
    return bool(
        profile.outage
        or profile.error_rate
        or profile.timeout_rate
        or profile.reset_rate
        or profile.rate_limit is not None
        or profile.latency >= provider_timeout_s
    )


def disturbed_phases(record: ScenarioRecord, phases: list[PhaseRecord]) -> set[str]:
    """Names of phases with a downstream fault, a broken component (broker, workers, API
    processes) or a changed load (shaded on every chart, named by the headline)."""
    scenario = scenario_model(record)
    if scenario is None:
        return {p.name for p in phases if p.name not in ("healthy", "recovery")}
    return {
        p.name
        for p in phases
        if is_downstream_fault(scenario, p)
        or is_component_fault(scenario, p)
        or is_load_change(scenario, p)
    }


def reference_phase(phases: list[PhaseRecord], disturbed: set[str]) -> PhaseRecord | None:
    """The healthy phase figures are compared against: the first undisturbed phase."""
    for phase in phases:
        if phase.name not in disturbed:
            return phase
    return None


def phase_labels(record: ScenarioRecord, phases: list[PhaseRecord]) -> dict[str, str]:
    """A short label per phase for charts: what changed in it — the provider's behaviour,
    the signup rate, or both (``latency 2s ±200ms``, ``100 signups/s``)."""
    scenario = scenario_model(record)
    labels = {}
    for phase in phases:
        if scenario is None:
            labels[phase.name] = phase.provider
            continue
        parts = []
        if is_load_change(scenario, phase):
            rate = mean_signup_rate(scenario, phase.start_s, phase.end_s)
            parts.append(f"{rate:g} signups/s")
        if is_downstream_fault(scenario, phase) or not parts:
            parts.append(phase.provider)
        labels[phase.name] = "; ".join(parts)
    return labels
