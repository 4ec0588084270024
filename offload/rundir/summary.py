"""``<scenario>/summary.json``: every figure of one scenario run (a public contract).

The paths and their meaning are documented in ``reports/README.md``; CI gates and other tools
parse this file, so fields are only ever added. ``offload/analysis/summary.py`` computes it
from the raw records; the report, the gate and ``offload baseline`` read it through
:class:`Summary`. The expectation language looks figures up by dotted path in
:meth:`Summary.figures`, the same JSON object the file holds.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from offload.rundir.broker_probe import BrokerProbeFigures
from offload.rundir.files import Figure, Record, RunFile
from offload.rundir.floor import GeneratorFloor
from offload.rundir.manifest import PhaseRecord
from offload.rundir.stack_floor import StackFloor

#: who made the load generator fall behind its schedule: its own loop (``generator``), other
#: processes or steal (``machine``), or the design under test filling the machine (``design``)
LagCause = Literal["generator", "machine", "design"]
#: what held a queue-backed design's drain rate (``offload.analysis.drain``): the workers'
#: windows (``prefetch``: workers × prefetch ÷ provider latency), the provider's slower
#: answers, the machine's CPU taken by the workers, the broker, the database or another part
#: (``cpu``), time waiting on the database or the broker with cores to spare, or nothing the
#: records show (``unexplained``)
DrainBound = Literal["prefetch", "provider", "workers", "broker", "database", "cpu", "unexplained"]


class Interval(Record):
    """A 95 % confidence interval of one figure, in the figure's unit."""

    low: float
    high: float


class Percentiles(Record):
    """Milliseconds at p50 … p99.9 and the maximum; all None when nothing was measured.

    The fields after ``max`` say how far each percentile can be trusted (absent in files
    written before they existed): ``ci`` its 95 % bootstrap interval, ``unavailable`` the
    percentiles the sample cannot support (with the reason: fewer than 10 requests beyond
    them), ``at_timeout`` those that reached the client timeout — a lower bound, not a
    latency.
    """

    p50: Figure
    p90: Figure
    p95: Figure
    p99: Figure
    p99_9: Figure
    max: Figure
    #: the durations behind the figures
    count: int | None = None
    ci: dict[str, Interval] = Field(default_factory=dict)
    unavailable: dict[str, str] = Field(default_factory=dict)
    at_timeout: list[str] = Field(default_factory=list)

    def value(self, key: str) -> float | None:
        """The figure ``p50`` … ``p99_9`` or ``max`` by name."""
        figure = getattr(self, key)
        return figure if isinstance(figure, float | int) else None


class Lateness(Record):
    """How late the generator sent requests that had a free slot (ms after schedule)."""

    p50: Figure
    p99: Figure
    max: Figure


class WindowStats(Record):
    """The requests of one endpoint scheduled in one window (the whole run, or a phase)."""

    count: int
    ok: int
    #: non-2xx answers and connection errors (not timeouts, not dropped)
    errors: int
    http_4xx: int
    http_5xx: int
    connection_errors: int
    timeouts: int
    dropped: int
    #: (count - ok) / count; None for an empty window
    error_rate: Figure
    offered_rate: float
    rate: float
    goodput: float
    #: from the scheduled time (corrected for coordinated omission)
    latency_ms: Percentiles
    #: from the send time
    service_ms: Percentiles
    #: 95 % Wilson interval of ``error_rate`` (absent in older files)
    error_rate_ci: Interval | None = None
    #: latency from the scheduled time of the 2xx answers only, and of the failed requests
    #: (errors and timeouts; dropped requests were never sent) — as Gatling reports OK / KO
    ok_latency_ms: Percentiles | None = None
    failed_latency_ms: Percentiles | None = None


class EndpointStats(Record):
    overall: WindowStats
    phases: dict[str, WindowStats] = Field(default_factory=dict)
    #: requests scheduled during the warm-up: sent, but in no figure
    warmup_count: int = 0


class EmailLedger(Record):
    """For every user the run created: was the welcome email delivered once, never, or more?"""

    owed: int
    delivered: int
    lost: int
    duplicates: int
    dead_lettered: int
    pending: int
    orphaned: int
    duplicate_attempts: int
    #: of ``owed``, the users created by warm-up signups (owed = measured + warm-up)
    owed_warmup: int = 0

    @property
    def owed_measured(self) -> int:
        """Users created by signups of the measured part."""
        return self.owed - self.owed_warmup


class Consistency(Record):
    """Where the client's view and the database disagree."""

    stored_but_failed: int
    acknowledged_but_missing: int


class QueueStats(Record):
    """A queue-backed design's backlog: ready messages (depth) and unfinished jobs."""

    max_depth: int | None
    max_backlog: int | None
    #: load end → last job finished; None when the backlog did not drain
    drain_seconds: Figure
    drained: bool | None


class DrainRate(Record):
    """How fast a queue-backed design's workers drained while a backlog stood (more jobs
    unfinished than ``workers × prefetch``), beside the capacity
    model's ceiling and the figures that say what bounded it (``offload/analysis/drain.py``).
    Absent when no backlog stood: the arrivals set the pace then, and there is no figure."""

    #: emails the provider accepted per second inside the standing intervals
    jobs_per_s: float
    delivered: int
    #: seconds the backlog stood (summed intervals)
    standing_s: float
    #: workers × prefetch: jobs the workers can hold at once
    slots: int
    #: where the backlog was counted: exactly from the job events, or from the 1 Hz samples
    backlog_from: Literal["job_events", "samples"] = "samples"
    peak_backlog: int | None
    #: the provider's configured latency over those seconds (capped at the provider timeout)
    provider_ms: Figure
    #: workers × prefetch ÷ provider latency
    ceiling_jobs_per_s: Figure
    #: the provider's mean time per call answered in those seconds
    provider_measured_ms: Figure
    #: calls at the provider at once, on average (Little's law: rate × time per call)
    provider_in_flight: float
    #: cores used on average in those seconds, per part (workers, API, broker, relay and
    #: other, the rig, the database server with the harness)
    cpu_cores: dict[str, float] = Field(default_factory=dict)
    #: the machine's busy share of all its cores in those seconds
    machine_busy_share: Figure = None
    cores: int | None = None
    #: per delivered job: ``sending`` event → the provider received it (the start-attempt
    #: write), and the provider's answer → its ``delivered`` event (the outcome's batch)
    before_call_ms: Figure = None
    after_call_ms: Figure = None
    bound: DrainBound
    bound_reason: str


class GeneratorStats(Record):
    """The load generator's own measurement.

    ``saturated``: the generator could not keep its schedule and the machine does not explain
    it (its own CPU near a full core, or a lag while other processes left the machine quiet);
    it invalidates the run. A generator that fell behind while other processes took the CPU
    is not saturated: the run is invalid all the same, and ``machine.busy`` and the reason
    say the machine was busy.
    """

    processes: int = 1
    cpu_s: Figure
    cpu_percent: Figure
    scheduled: int
    sent: int
    dropped: int
    late_starts: int
    lateness_ms: Lateness
    saturated: bool
    #: None when it kept its schedule; else who made it fall behind (absent in older files)
    lag_cause: LagCause | None = None


class Share(Record):
    """A share of all the machine's cores (0 … 1) over the measured part: ``mean`` over the
    whole window, ``p50`` and ``max`` of the per-second values."""

    mean: Figure
    p50: Figure
    max: Figure


class MachineLoad(Record):
    """The whole machine's CPU during the measured part, from ``<design>/machine.csv``.

    ``other_processes_share`` is the machine's busy time minus the CPU of the run's own
    processes (its components, the harness, a local database server): what everybody else
    used. ``busy`` says other processes or steal crossed the thresholds of
    ``offload.analysis.noise`` in some second: a generator that fell behind then did so
    because the machine was busy, not because it was saturated. Absent in runs recorded
    before machine sampling existed.
    """

    cores: int
    #: the per-second intervals behind the figures
    seconds: int
    busy_share: Share
    other_processes_share: Share
    steal_share: Share
    iowait_share: Share
    busy: bool
    #: the design under test's own processes (its components, the broker included; not the
    #: rig, not the database server), from ``samples.csv`` (absent in older files)
    design_share: Share | None = None
    #: in some second the machine was full and the design used most of it: a generator that
    #: fell behind then was starved by the system it measured
    design_filled: bool = False


class ResourceUse(Record):
    """CPU seconds used during the run and peak resident memory of one component."""

    cpu_s: float
    peak_rss_mb: float


class DesignSummary(Record):
    """Every figure of one design's run (one entry of ``designs``).

    ``queue``, ``retries`` and ``dead_lettered`` exist for queue-backed designs only: absent
    (not null) for the others, so an expectation about a sync design's queue names nothing.
    ``tables_missing`` says why the figures built on the database tables are null.
    """

    kind: str | None
    signup: EndpointStats
    bystander: EndpointStats
    #: None (null) when the database tables could not be exported after the run: without
    #: the users table nothing says who was owed an email, and a zero would read "none lost"
    emails: EmailLedger | None
    #: None for the same reason: the client's view has nothing to be compared with
    consistency: Consistency | None
    e2e_ms: Percentiles
    generator: GeneratorStats
    resources: dict[str, ResourceUse] = Field(default_factory=dict)
    queue: QueueStats | None = None
    #: queue-backed designs whose backlog stood: their drain rate and its bound
    drain_rate: DrainRate | None = None
    retries: int | None = None
    dead_lettered: int | None = None
    #: the machine's CPU beside the run (absent in older files)
    machine: MachineLoad | None = None
    #: why the database tables are missing from the run (absent when they were exported)
    tables_missing: str | None = None
    #: the bare publish-with-confirm probe paced beside the load on the design's broker
    #: (``load.broker_probe_rate``; absent without it): the accept path's reference
    broker_probe: BrokerProbeFigures | None = None

    @property
    def accept_over_confirm_p99(self) -> float | None:
        """The signup p99 ÷ the bare confirm p99 of the probe beside the load: how far the
        accept path stands above the broker's own answer (None without both figures)."""
        signup_p99 = self.signup.overall.latency_ms.p99
        if self.broker_probe is None or signup_p99 is None:
            return None
        confirm_p99 = self.broker_probe.paced.confirm.p99_ms
        return signup_p99 / confirm_p99 if confirm_p99 else None

    @property
    def no_ledger(self) -> str:
        """What a report writes where the ledger has no value."""
        return f"n/a — {self.tables_missing or 'no email ledger in this run'}"

    def endpoint(self, name: str) -> EndpointStats:
        """``signup`` or ``bystander``."""
        if name == "signup":
            return self.signup
        if name == "bystander":
            return self.bystander
        raise KeyError(name)


class Summary(RunFile):
    """``<scenario>/summary.json``."""

    FILE_NAME: ClassVar[str] = "summary.json"
    WHAT: ClassVar[str] = "scenario summary"

    scenario: str
    repeat: int = Field(1, ge=1)
    quick: bool = False
    mode: Literal["open", "closed"] = "open"
    #: the client's timeout: a percentile at or above it is a lower bound, not a latency
    client_timeout_s: Figure = None
    valid: bool
    invalid_reasons: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    phases: list[PhaseRecord] = Field(default_factory=list)
    designs: dict[str, DesignSummary]
    #: the generator's floor from the manifest (absent in older runs, null when not measured)
    floor: GeneratorFloor | None = None
    #: why ``floor`` is null, from the manifest
    floor_not_measured: str | None = None
    #: each design's server and framework alone, from the manifest (``load.stack_floor``)
    stack_floors: dict[str, StackFloor] = Field(default_factory=dict)

    def figures(self) -> dict[str, Any]:
        """The file's JSON object, for the expectation language's dotted paths."""
        return self.to_json()
