"""Capacity model beside the measurement: what Little's law predicts from the configuration
and the provider's latency, against what the run measured, phase by phase.

Sync: each of the ``server_processes`` workers holds one request for the provider's latency L
(``server_threads`` requests on a threaded server), so it completes at most
``server_processes / L`` signups per second (× ``server_threads``). Requests beyond that wait
in the server's FIFO listen queue (gunicorn's backlog) and carry into the next phase; one that
waited longer than the client timeout is still processed, but its answer reaches nobody — so
goodput collapses to almost zero under overload although every worker is busy. This worker
model applies only to a target whose manifest declares ``concurrency = "processes"`` or
``"threads"``: an event-loop server (uvicorn) holds as many requests as the provider client's
connection pool lets it, a bound no knob declares, so such a design gets no throughput or
goodput prediction — the report says so rather than print a figure the model cannot make.

Async: each worker holds ``prefetch`` jobs at once, so the workers drain at most
``workers × prefetch / L`` jobs per second; the backlog grows at ``arrival − drain`` when
that is positive, and on top of it ``arrival × E[T]`` jobs are always in flight (Little's
law, E[T] = time to finish a job including its retry delays).

A prediction and a measurement more than 25 % apart (and beyond a small absolute floor) are
flagged with a sentence saying which way and the usual reasons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from offload.analysis import numbers, records
from offload.analysis.phases import mean_signup_rate, provider_profile_at, scenario_model
from offload.analysis.scenario_data import DesignData, ScenarioData
from offload.analysis.summary import design_drain_rate
from offload.analysis.timeseries import queue_series
from offload.rundir.manifest import PhaseRecord
from offload.scenario import ProviderProfile, Scenario

#: servers whose concurrency is a count of processes (× threads): the worker model applies
WORKER_MODELS = ("processes", "threads")

#: provider outcomes without an answer (their log line has no meaningful answer time)
UNANSWERED = ("timeout", "reset")
#: relative difference beyond which prediction and measurement "disagree"
DISAGREEMENT = 0.25
#: ... provided the absolute difference is also above this (per unit)
FLOORS = {"/s": 1.0, "jobs": 10.0, "ms": 20.0}


@dataclass(frozen=True)
class Estimate:
    design: str
    phase: str
    quantity: str
    unit: str
    predicted: float | None
    measured: float | None
    basis: str

    @property
    def disagreement(self) -> float | None:
        """(measured − predicted) ÷ predicted, when both are known and the gap is material."""
        if self.predicted is None or self.measured is None:
            return None
        gap = self.measured - self.predicted
        if abs(gap) <= FLOORS.get(self.unit, 0.0):
            return None
        base = max(abs(self.predicted), 1e-9)
        return gap / base if abs(gap) / base > DISAGREEMENT else None


@dataclass(frozen=True)
class ProviderCall:
    """What one call to the provider costs a worker in a phase, and how often it succeeds."""

    latency_s: float
    success: float
    rate_limit: float | None


def provider_call(profile: ProviderProfile, provider_timeout_s: float) -> ProviderCall:
    """The worker-seconds one call holds (timeouts cap the wait at ``provider_timeout``)."""
    if profile.outage or profile.reset_rate >= 1:
        return ProviderCall(0.0, 0.0, profile.rate_limit)
    answered = min(profile.latency, provider_timeout_s)
    hung = provider_timeout_s
    latency = (1 - profile.timeout_rate) * answered + profile.timeout_rate * hung
    success = (1 - profile.error_rate) * (1 - profile.timeout_rate) * (1 - profile.reset_rate)
    if profile.latency >= provider_timeout_s:
        success = 0.0
    return ProviderCall(latency, success, profile.rate_limit)


def expected_job_time(call: ProviderCall, retry_delays: list[float], max_attempts: int) -> float:
    """E[T] of one job: each failed attempt adds its retry delay and another call."""
    failure = 1 - call.success
    total, reach = 0.0, 1.0
    for attempt in range(max_attempts):
        delay = retry_delays[min(attempt - 1, len(retry_delays) - 1)] if attempt else 0.0
        total += reach * (delay + call.latency_s)
        reach *= failure
    return total


def fresh_carried(queued: float, arrival_before: float, capacity: float, timeout: float) -> float:
    """How many of ``queued`` requests, waiting in FIFO order at a phase boundary, are served
    before their client gives up. The request ``k`` places from the head is
    ``(queued − k) ÷ arrival_before`` seconds old and is served ``k ÷ capacity`` later."""
    if queued <= 0 or arrival_before <= 0:
        return 0.0
    head_age = queued / arrival_before
    slope = (1 / capacity if np.isfinite(capacity) else 0.0) - 1 / arrival_before
    if slope < 0:  # serving faster than they arrived: the younger ones are fresh
        first_fresh = max(0.0, (head_age - timeout) / -slope)
        return max(0.0, queued - first_fresh)
    if head_age > timeout:
        return 0.0
    return queued if slope == 0 else min(queued, (timeout - head_age) / slope)


def fresh_share(queued: float, net: float, capacity: float, timeout: float, length: float) -> float:
    """Share of a phase during which a new arrival waits at most ``timeout`` behind the queue
    (queue ``queued + net × t`` served at ``capacity``)."""
    if not np.isfinite(capacity) or length <= 0:
        return 1.0
    limit = capacity * timeout
    if net > 0:
        return float(np.clip((limit - queued) / net, 0, length)) / length
    if net < 0:
        return 1 - float(np.clip((queued - limit) / -net, 0, length)) / length
    return 1.0 if queued <= limit else 0.0


def _sync_estimates(data: ScenarioData, design: DesignData, model: Scenario) -> list[Estimate]:
    """A fluid model of a process/thread server's FIFO listen queue (gunicorn's backlog):
    requests beyond the workers' capacity queue, carry into the next phase, and are answered
    to a client that has given up once they waited longer than the client timeout (no
    goodput, although the server is busy)."""
    config = design.config
    # a threaded server (sync-threads) holds server_threads requests per process
    processes = (config.server_processes or 1) * (config.server_threads or 1)
    servers = f"{config.server_processes or 1} server processes" + (
        f" × {config.server_threads} threads" if config.server_threads else ""
    )
    timeout = config.provider_timeout_s or 3.0
    client_timeout = model.client.timeout
    out, queued, arrival_before = [], 0.0, 0.0
    for phase in data.phases:
        start, end = phase.start_s, phase.end_s
        length = max(end - start, 1e-9)
        call = provider_call(provider_profile_at(model, start), timeout)
        arrival = mean_signup_rate(model, start, end)
        capacity = processes / call.latency_s if call.latency_s > 0 else float("inf")
        processed = min(capacity, arrival + queued / length)
        fresh = fresh_carried(queued, arrival_before, capacity, client_timeout)
        fresh += (
            arrival
            * length
            * fresh_share(queued, arrival - capacity, capacity, client_timeout, length)
        )
        answered = min(processed * length, fresh) / length
        goodput = 0.0 if call.latency_s >= client_timeout else answered * call.success
        if call.rate_limit is not None:
            goodput = min(goodput, call.rate_limit)
        basis = (
            f"{servers} ÷ {numbers.ms(call.latency_s * 1000)} = "
            f"{numbers.rate(capacity)} max; arrivals {numbers.rate(arrival)}"
            + (f"; {queued:.0f} queued from before" if queued >= 1 else "")
            + (f"; {call.success:.0%} of provider calls succeed" if call.success < 1 else "")
        )
        out.append(
            Estimate(
                design.name,
                phase.name,
                "signups processed/s (provider calls)",
                "/s",
                _finite(processed),
                _provider_call_rate(design, start, end),
                basis,
            )
        )
        out.append(
            Estimate(
                design.name,
                phase.name,
                "goodput (2xx answers/s)",
                "/s",
                round(goodput, 2),
                _answered_ok_rate(design, start, end),
                basis,
            )
        )
        out.append(_service_time(design, phase, call))
        queued = max(0.0, queued + (arrival - capacity) * length) if np.isfinite(capacity) else 0.0
        arrival_before = arrival
    return out


def _async_estimates(data: ScenarioData, design: DesignData, model: Scenario) -> list[Estimate]:
    config = design.config
    workers = config.workers or 0
    prefetch = config.prefetch or 1
    timeout = config.provider_timeout_s or 3.0
    delays = config.retry_delays_s or [1.0]
    attempts = config.max_attempts or 1
    queue = queue_series(design.queues)
    out, backlog, carried = [], 0.0, 0.0
    for phase in data.phases:
        start, end = phase.start_s, phase.end_s
        length = end - start
        call = provider_call(provider_profile_at(model, start), timeout)
        arrival = mean_signup_rate(model, start, end)
        slots = workers * prefetch
        drain = slots / call.latency_s if call.latency_s > 0 else float("inf")
        drain_ok = drain * call.success
        if call.rate_limit is not None:
            drain_ok = min(drain_ok, call.rate_limit)
        growth = max(0.0, arrival - drain_ok)
        start_backlog = backlog
        backlog = max(0.0, backlog + (arrival - drain_ok) * length)
        # Little's law on the jobs that complete: throughput × time each spends in the system
        in_flight = min(arrival, drain_ok) * min(expected_job_time(call, delays, attempts), length)
        # the previous phase's jobs in flight are still unfinished when this phase starts
        predicted_max = max(start_backlog + carried, backlog + in_flight)
        carried = in_flight
        inside = queue[(queue["t_s"] >= start) & (queue["t_s"] < end)] if not queue.empty else queue
        measured_max = (
            float(inside["backlog"].max())
            if not inside.empty and inside["backlog"].notna().any()
            else None
        )
        measured_rate = _delivery_rate(design, start, end)
        basis = (
            f"{workers} workers × prefetch {prefetch} ÷ {numbers.ms(call.latency_s * 1000)} = "
            f"{numbers.rate(drain)} drain; arrivals {numbers.rate(arrival)}; growth "
            f"{numbers.rate(growth)}"
        )
        # conservation: what arrived plus what was waiting, minus what is still waiting
        predicted_rate = (arrival * length + start_backlog - backlog) / max(length, 1e-9)
        out.append(
            Estimate(
                design.name,
                phase.name,
                "email delivery rate",
                "/s",
                round(predicted_rate, 2),
                measured_rate,
                basis,
            )
        )
        out.append(
            Estimate(
                design.name,
                phase.name,
                "max backlog",
                "jobs",
                round(predicted_max, 1),
                measured_max,
                basis,
            )
        )
        out.append(_service_time(design, phase, call))
    return out


def _answered_ok_rate(design: DesignData, start: float, end: float) -> float | None:
    """2xx signup answers per second that *arrived* in the window (the server's throughput),
    whenever they were scheduled."""
    signups = design.stream("signup")
    ok = signups[
        (signups["error_class"] == "") & (signups["end_s"] >= start) & (signups["end_s"] < end)
    ]
    return round(len(ok) / (end - start), 3) if end > start else None


def _provider_call_rate(design: DesignData, start: float, end: float) -> float | None:
    """Requests the provider received per second: a sync design calls it once per signup it
    processes, whether or not its client is still waiting."""
    provider = design.provider
    inside = provider[(provider["t_s"] >= start) & (provider["t_s"] < end)]
    return round(len(inside) / (end - start), 3) if end > start else None


def _delivery_rate(design: DesignData, start: float, end: float) -> float | None:
    """Emails the provider accepted per second, by the time it answered."""
    provider = design.provider
    done = provider[
        (provider["outcome"] == "delivered")
        & (provider["done_s"] >= start)
        & (provider["done_s"] < end)
    ]
    return round(len(done) / (end - start), 3) if end > start else None


def _service_time(design: DesignData, phase: PhaseRecord, call: ProviderCall) -> Estimate:
    """The provider's configured latency against its measured mean answer time in the phase
    (calls it answered; a call it never answered has no answer time in its log)."""
    provider = design.provider
    inside = provider[
        (provider["t_s"] >= phase.start_s)
        & (provider["t_s"] < phase.end_s)
        & ~provider["outcome"].isin(UNANSWERED)
    ]
    answered = (inside["done_ts"] - inside["ts"]).dropna()
    measured = round(float(answered.mean() * 1000), 1) if len(answered) else None
    predicted = round(call.latency_s * 1000, 1) if call.success > 0 else None
    return Estimate(
        design.name,
        phase.name,
        "provider time per answered call",
        "ms",
        predicted,
        measured,
        "configured latency (capped at the provider timeout)",
    )


def capacity_model(data: ScenarioData) -> list[Estimate]:
    """Predicted and measured figures for every design and phase of a scenario."""
    model = scenario_model(data.scenario)
    if model is None:
        return []
    estimates: list[Estimate] = []
    for design in data.designs.values():
        if design.uses_queue:
            estimates.extend(_async_estimates(data, design, model))
        elif design.concurrency in WORKER_MODELS:
            estimates.extend(_sync_estimates(data, design, model))
        else:
            # the provider's service time does not depend on the server: still predicted
            timeout = design.config.provider_timeout_s or 3.0
            for phase in data.phases:
                call = provider_call(provider_profile_at(model, phase.start_s), timeout)
                estimates.append(_service_time(design, phase, call))
    return estimates


def unmodelled(data: ScenarioData) -> list[str]:
    """One sentence per design the model gives no throughput or goodput for, saying why."""
    if scenario_model(data.scenario) is None:
        return []
    return [
        f"{design.name}: no capacity model for an event-loop server: it holds as many "
        "requests at once as the provider client's connection pool allows, not one per "
        "server process, and that pool size is not a declared knob — so no signups/s or "
        "goodput is predicted (the provider's time per call still is)."
        for design in data.designs.values()
        if not design.uses_queue and design.concurrency not in WORKER_MODELS
    ]


def reason_family(design: DesignData) -> str:
    """Which REASONS explain a design's disagreements: the queue model's, the worker
    model's, or only those that hold for any server."""
    if design.uses_queue:
        return "async"
    return "sync" if design.concurrency in WORKER_MODELS else "any"


REASONS = {
    ("sync", "signups processed/s (provider calls)", "below"): (
        "per-request work besides the provider call (database insert, HTTP parsing) and CPU "
        "shared with the generator and the provider lower the ceiling"
    ),
    ("sync", "signups processed/s (provider calls)", "above"): (
        "requests queued in the previous phase were processed in this one"
    ),
    ("sync", "goodput (2xx answers/s)", "below"): (
        "requests wait in the server's listen backlog once every worker is busy, and a worker "
        "still serves a request whose client already timed out — work that produces no "
        "goodput; the two cores are also shared with the generator and the provider"
    ),
    ("sync", "goodput (2xx answers/s)", "above"): (
        "requests that queued in the server's listen backlog during the previous phase were "
        "answered in this one (the model does not carry a sync queue across phases)"
    ),
    ("async", "max backlog", "above"): (
        "the workers drained more slowly than workers × prefetch ÷ latency (CPU, broker or "
        "database round trips per job), or retried jobs waited out their retry delays"
    ),
    ("async", "max backlog", "below"): (
        "the 1 Hz backlog sampler can miss a short peak, and a phase shorter than a retry "
        "cycle never reaches the predicted steady state"
    ),
    ("async", "email delivery rate", "below"): (
        "jobs waiting in retry queues come back only after their retry delay, and workers "
        "share two cores with the API, the broker and the provider"
    ),
    ("async", "email delivery rate", "above"): (
        "jobs accumulated in an earlier phase were delivered in this one (the backlog drains "
        "faster than it arrives)"
    ),
    ("any", "provider time per answered call", "above"): (
        "the provider's own queueing under load (it shares the two cores) adds to its "
        "configured latency, and calls that straddle a phase change carry the slower profile"
    ),
    ("any", "provider time per answered call", "below"): (
        "calls that straddle a phase change carry the faster profile, and jitter spreads "
        "answers around the configured latency"
    ),
}


def disagreements(estimates: list[Estimate], families: dict[str, str]) -> list[str]:
    """One sentence per flagged estimate: which way, by how much, and the plausible reasons
    (``families``: each design's :func:`reason_family`; a design missing from it gets only
    the reasons that hold for any server)."""
    sentences = []
    for e in estimates:
        gap = e.disagreement
        if gap is None:
            continue
        direction = "above" if gap > 0 else "below"
        family = families.get(e.design, "any")
        reason = REASONS.get((family, e.quantity, direction)) or REASONS.get(
            ("any", e.quantity, direction), "the model ignores CPU contention and queueing"
        )
        sentences.append(
            f"{e.design}, {e.phase}: measured {e.quantity} {numbers.value(e.measured, e.unit)} "
            f"is {abs(gap):.0%} {direction} the predicted "
            f"{numbers.value(e.predicted, e.unit)} — {reason}."
        )
    return sentences


def saturated_drain_rates(data: ScenarioData) -> dict[str, float]:
    """Each queue-backed design's drain rate (jobs/s) while its backlog stood above
    ``workers × prefetch`` — jobs waiting for a worker, so the workers themselves set the
    rate: the measure claim 4 compares. It is ``summary.json``'s ``drain_rate``
    (:mod:`offload.analysis.drain`), computed from the records for a summary written before
    that field; a design whose backlog never stood has none (the arrivals set its rate)."""
    rates = {}
    model = scenario_model(data.scenario)
    for design in data.designs.values():
        if not design.uses_queue:
            continue
        if "drain_rate" in design.summary.model_fields_set:
            figure = design.summary.drain_rate
        else:
            figure = design_drain_rate(
                design.directory,
                design.entry,
                records.provider_log(design.directory),
                records.table(design.directory, "job_events"),
                model,
            )
        if figure is not None:
            rates[design.name] = figure.jobs_per_s
    return rates


def _finite(value: float) -> float | None:
    return round(value, 2) if np.isfinite(value) else None
