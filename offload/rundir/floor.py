"""The generator's floor as a run directory records it (``floor`` in ``manifest.json`` and
``summary.json``): what offload measures against a server that answers at once.

``offload bench`` measures it before a scenario's designs run (``offload/run/floor.py``), the
manifest records it, the summary carries it, the report states it next to the latency
figures and the verdicts treat a latency difference at or below its p99 as no difference.
``offload probe generator`` prints the same model. See docs/measurement.md.
"""

from __future__ import annotations

from pydantic import Field

from loadtests.plan import Arrivals
from offload.analysis.uncertainty import supported
from offload.rundir.files import Figure, Record


class Quantiles(Record):
    """The median and the 99th percentile of one duration, in milliseconds (None: no data)."""

    p50_ms: Figure
    p99_ms: Figure
    #: the slowest one (absent from files written before it was recorded)
    max_ms: Figure = None


class GeneratorFloor(Record):
    """The generator's floor at one rate on this machine (the measured part of its run only).

    One generator process sends signups at ``rate`` to an instant server on loopback; every
    latency a run reports against a real target includes this much that is the harness's own.
    """

    rate: float = Field(description="requests/s the generator was asked to send")
    arrivals: Arrivals
    duration_s: float = Field(description="seconds of measured load")
    requests: int = Field(description="requests answered in the measured part")
    failed: int = Field(description="requests in the measured part that did not get a 2xx")
    latency_from_scheduled: Quantiles = Field(description="ended - scheduled: what reports show")
    latency_from_sent: Quantiles = Field(description="ended - sent: client work and loopback")
    lateness: Quantiles = Field(description="sent - scheduled: how late the generator sent")
    cpu_ms_per_request: Figure = Field(description="generator CPU per request sent")
    cpu_share_of_one_core: Figure = Field(description="generator CPU over its run")
    #: epoch seconds when the measurement ended
    measured_at: float | None = None

    @property
    def p99_supported(self) -> bool:
        """Whether the floor's p99 rests on enough requests (the report's one support rule)."""
        return supported(self.requests, 99)

    @property
    def resolution_ms(self) -> float | None:
        """A latency difference at or below this is the harness's, not the target's (what the
        verdicts use): the p99 of latency from the scheduled time when enough requests support
        it, else the slowest request — at a scenario's starting rate a floor of a few seconds
        has ~100 requests, whose "p99" is just their second slowest, and a threshold that
        decides verdicts must not be smaller than what the harness alone was seen to do."""
        scheduled = self.latency_from_scheduled
        if self.p99_supported or scheduled.max_ms is None:
            return scheduled.p99_ms
        return scheduled.max_ms
