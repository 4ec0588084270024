"""What ``offload probe stack`` measured: a design's HTTP stack with nothing behind it.

A design's API costs CPU per signup for two kinds of work: its server and framework taking a
request, parsing and validating it and answering (the same in every design of that stack),
and what its architecture adds (a database write, a publish with its confirm, a provider
call). This model holds the first kind, measured on this machine: the design's own server
command, run with a bare app in place of the design's (``targets/stack_floor``), driven by the
real generator. The JSON that ``--json`` prints is this model's dump.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from loadtests.plan import Arrivals
from offload.rundir.files import Figure, Record
from offload.rundir.floor import Quantiles

#: which app replaced the design's: one in the design's own framework, or none
App = Literal["framework", "none"]


class StackFloor(Record):
    """One measurement of one design's stack at one rate."""

    design: str = Field(description="the design whose server command ran")
    component: str = Field(
        description="the design's server component in a bench (its CPU is what this floor "
        "sits under)"
    )
    server: str = Field(description="the server it runs on (uvicorn, gunicorn)")
    app: App = Field(
        description="framework: a bare app in the design's framework; none: a plain "
        "ASGI/WSGI callable doing the same parsing"
    )
    framework: str = Field(description="the framework of the bare app, or 'none'")
    server_processes: int = Field(description="server worker processes, as the design runs")
    server_threads: int | None = Field(
        description="threads per process, for a threaded server (None: the server has none)"
    )
    rate: float = Field(description="signups/s sent")
    bystander_rate: float = Field(
        0.0, description="bystander reads/s sent beside them (GET /users/{id}, GET /healthz)"
    )
    arrivals: Arrivals = Field(Arrivals.CONSTANT, description="how the arrivals were spread")
    duration_s: float = Field(description="seconds of measured load, after a 1 s warm-up")
    answered: int = Field(description="signups answered with a 2xx, warm-up included")
    failed: int = Field(description="requests of either kind without a 2xx, warm-up included")
    server_cpu_s: float = Field(
        description="CPU seconds (user + system) of the server's process tree, from just "
        "before the generator started to its end; read from each process's CPU clock (to the "
        "nanosecond) where the kernel offers one, else in clock ticks"
    )
    cpu_ms_per_signup: Figure = Field(
        description="server CPU (for signups and bystander reads alike) per signup answered "
        "2xx: a bench's definition of a design's CPU per signup"
    )
    latency_from_sent: Quantiles = Field(description="signups' ended - sent, measured part, ms")
    #: epoch seconds when the measurement ended
    measured_at: float

    @property
    def stack(self) -> str:
        """``uvicorn, 4 processes, FastAPI``: what ran, as a report names it."""
        threads = f" × {self.server_threads} threads" if self.server_threads else ""
        return f"{self.server}, {self.server_processes} processes{threads}, {self.framework}"
