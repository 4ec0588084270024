"""Refuse, before anything starts, a load the configured generator processes cannot offer.

A Locust process is one gevent loop on one core: past a few thousand requests per second it
falls behind its schedule and the run comes back invalid (``generator.saturated``) after it
has taken its full duration — and an absurd rate (``100000000/s``) would first build a
schedule of billions of arrivals. The bench checks the scenario's peak request rate against
the measured capacity of one process times ``--load-workers`` while it prepares.
"""

from __future__ import annotations

import math
from pathlib import Path

from offload.errors import ScenarioError
from offload.scenario import Scenario

#: requests per second one generator process keeps on schedule on this machine kind (2 vCPUs,
#: shared with the servers). Source: ``offload probe generator`` under the heavy-command lock,
#: docs/measurement.md ("The floor on this machine"): at 1,000/s one process held its schedule
#: (lateness p50 ≤ 0.14 ms) at 65–75 % of a core in every run; at 2,000/s it used 96 % of a
#: core and fell behind (lateness p99 8.5–8.9 ms). The highest rate measured to be held is the
#: cap; docs/scale-out.md says how to go beyond it.
REQUESTS_PER_GENERATOR_PROCESS = 1_000


def peak_request_rate(scenario: Scenario) -> tuple[float, str]:
    """The highest rate the generator is asked for (signups at their peak plus bystanders),
    and the scenario field that sets the signup peak."""
    load = scenario.load
    peak, field = load.rate, "load.rate"
    for index, step in enumerate(load.steps):
        if step.rate > peak:
            peak, field = step.rate, f"load.steps[{index}].rate"
    return peak + load.bystander_rate, field


def check_generator_capacity(file: Path, scenario: Scenario, processes: int) -> None:
    """Raise a :class:`ScenarioError` naming the file, the field, the rate and the capacity
    when the scenario asks more of ``processes`` generator processes than they can offer."""
    rate, field = peak_request_rate(scenario)
    capacity = REQUESTS_PER_GENERATOR_PROCESS * processes
    if rate <= capacity:
        return
    signups = rate - scenario.load.bystander_rate
    bystanders = (
        f" + {_rate(scenario.load.bystander_rate)}/s of bystanders (load.bystander_rate)"
        if scenario.load.bystander_rate
        else ""
    )
    needed = math.ceil(rate / REQUESTS_PER_GENERATOR_PROCESS)
    plural = "process" if processes == 1 else "processes"
    raise ScenarioError(
        f"{file}: field '{field}': {_rate(signups)} signups/s{bystanders} is beyond what the "
        f"load generator can offer: {REQUESTS_PER_GENERATOR_PROCESS:,} requests/s per process "
        f"(measured, docs/scale-out.md) × {processes} {plural} = {capacity:,}/s. Lower the rate, "
        f"or generate it with more processes: --load-workers {needed:,} would be needed"
    )


def _rate(value: float) -> str:
    """``100,000,000`` rather than ``1e+08``; a fraction keeps two decimals."""
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"
