"""What ``offload probe broker`` measured: the bare cost of one publish with a confirm.

The async design's accept path ends in exactly this — a persistent message published to a
quorum queue, answered only once the broker confirms it — so these figures are the floor under
its signup latency and the ceiling over one publisher's rate on this machine and broker,
with no HTTP, no database and no framework in the way. The JSON that ``--json`` prints is this
model's dump.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from offload.rundir.files import Record, RunFile
from offload.rundir.floor import Quantiles


class PacedPublishes(Record):
    """Publishes sent one at a time on a schedule (constant arrivals at ``rate``)."""

    rate: float = Field(description="publishes/s asked for")
    duration_s: float = Field(description="seconds the schedule lasted")
    confirmed: int = Field(description="publishes the broker confirmed")
    achieved_rate: float = Field(description="confirmed publishes per second of the schedule")
    confirm: Quantiles = Field(description="publish sent to confirm received, ms")
    lateness: Quantiles = Field(
        description="how late each publish left against its schedule, ms: a confirm slower "
        "than the interval between publishes makes the next one late"
    )


class BackToBackPublishes(Record):
    """Publishes sent as fast as one publisher with one publish in flight can."""

    duration_s: float = Field(description="seconds of publishing")
    confirmed: int = Field(description="publishes the broker confirmed")
    rate: float = Field(description="confirmed publishes per second: one publisher's ceiling")
    confirm: Quantiles = Field(description="publish sent to confirm received, ms")


class BrokerProbe(Record):
    """One measurement of the broker: paced, then back to back, on a fresh quorum queue."""

    broker: str = Field(description="where the broker came from: env, local, private, container")
    rabbitmq_version: str | None = Field(description="the broker's version, as it announces it")
    message_bytes: int = Field(description="body size of every probe message")
    paced: PacedPublishes
    back_to_back: BackToBackPublishes
    #: epoch seconds when the measurement ended
    measured_at: float | None = None


class BrokerProbeBesideLoad(RunFile):
    """The paced probe run beside a design's load, through its measured part, on the run's
    broker: the bare confirm as the machine is while the design works. The probe before or
    after a run (``offload probe broker``) measures an idle machine, a floor the accept path
    at a high rate cannot approach when broker, API, workers and generator share the cores.
    A design's folder holds it when its scenario sets ``load.broker_probe_rate``."""

    FILE_NAME: ClassVar[str] = "broker-probe.json"
    WHAT: ClassVar[str] = "broker probe beside the load"

    rabbitmq_version: str | None = Field(description="the broker's version, as it announces it")
    message_bytes: int = Field(description="body size of every probe message")
    started_epoch: float = Field(description="epoch seconds when the paced publishes began")
    paced: PacedPublishes


class BrokerProbeFigures(Record):
    """A design's probe beside the load, as its summary carries it."""

    started_after_t0_s: float = Field(
        description="seconds after the design's t=0 the paced publishes began (a probe that "
        "started late measured part of the drain, not only the load)"
    )
    paced: PacedPublishes
