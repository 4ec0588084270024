"""``--load-workers auto``: as many Locust processes as the peak rate needs, and no more.

Each process keeps :data:`~offload.run.generator_capacity.REQUESTS_PER_GENERATOR_PROCESS`
requests/s on schedule on this machine kind (measured; docs/measurement.md); a run asking for
more from one process comes back invalid (``generator.saturated``), and every extra process
takes CPU from the servers on a 2-core machine. So ``auto`` is the scenario's peak request rate
(signups at their peak plus bystanders) divided by that capacity, rounded up.
"""

from __future__ import annotations

import argparse
import math
from typing import Literal

from offload.run.generator_capacity import REQUESTS_PER_GENERATOR_PROCESS, peak_request_rate
from offload.scenario import Scenario

#: ``--load-workers`` as given: a count, or ``auto`` (from each scenario's peak rate)
LoadWorkers = int | Literal["auto"]


def auto_load_workers(scenario: Scenario) -> int:
    """Generator processes for ``scenario``: its peak request rate ÷ one process's capacity."""
    rate, _field = peak_request_rate(scenario)
    return max(1, math.ceil(rate / REQUESTS_PER_GENERATOR_PROCESS))


def resolve_load_workers(setting: LoadWorkers, scenario: Scenario) -> int:
    return auto_load_workers(scenario) if setting == "auto" else setting


def parse_load_workers(text: str) -> LoadWorkers:
    """The ``--load-workers`` argument: a count of at least 1, or ``auto``."""
    if text == "auto":
        return "auto"
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of processes (at least 1) or auto, got {text!r}"
        ) from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1 process or auto, got {count}")
    return count
