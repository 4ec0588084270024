"""The sweep's own files in its run directory: ``sweep.json`` (what ran: the sweep, the broker
probe, every cell in run order, every search step) and ``sweep-summary.json`` (what the page
shows: each cell's figures, the curves' knees, the maximum rates, the crossover map).

Every cell is an ordinary scenario folder beside them (``<cell>/manifest.json``,
``<cell>/summary.json`` and the raw records), so ``sweep-summary.json`` is computed from the
cells' files alone and can be computed again (``offload sweep --analyse DIR``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from offload.rundir.broker_probe import BrokerProbe
from offload.rundir.files import Figure, Record, RunFile
from offload.rundir.run_info import RunStatus
from offload.rundir.summary import Interval, LagCause

#: why a cell ran: part of the grid, or a step of a design's search
Purpose = Literal["grid", "search"]
#: a cell against the SLO; ``invalid``: the generator or the machine could not keep the
#: schedule, so the cell says nothing about the system
Verdict = Literal["meets", "misses", "invalid"]


class CellRun(Record):
    """One cell as it ran: a scenario folder of the sweep's run directory."""

    folder: str
    design: str
    rate: float
    latency_s: float
    purpose: Purpose
    load_workers: int
    started_at: float
    ended_at: float | None = None


class SearchStep(Record):
    rate: float
    folder: str
    verdict: Verdict
    #: whether the run was new (False: a grid cell at that rate was reused)
    ran: bool


class SweepRecord(RunFile):
    """``sweep.json``: the sweep as asked, and every cell in the order it ran."""

    FILE_NAME: ClassVar[str] = "sweep.json"
    WHAT: ClassVar[str] = "sweep record"

    sweep_file: str
    #: the sweep file as validated (quick form applied when ``quick``)
    sweep: dict[str, Any]
    quick: bool
    load_workers: str
    status: RunStatus
    started_at: float
    ended_at: float | None = None
    broker_probe: BrokerProbe | None = None
    #: why the probe was not measured (no design uses the broker, or it failed)
    broker_probe_missing: str | None = None
    cells: list[CellRun] = Field(default_factory=list)
    #: design -> latency (as written by format_duration) -> the search's steps
    searches: dict[str, dict[str, list[SearchStep]]] = Field(default_factory=dict)
    #: design -> latency -> why its search stopped (see offload.sweep.search)
    search_stops: dict[str, dict[str, str]] = Field(default_factory=dict)


class Percentile(Record):
    """One percentile of a cell with its 95 % interval; ``key`` says which one it is (p99,
    or a lower one when the cell's signups cannot support p99)."""

    key: str
    value: Figure
    ci: Interval | None = None


class CellFigures(Record):
    """One cell's figures, each from its ``summary.json`` (computed from its records) or, for
    the CPU, from its ``samples.csv``."""

    folder: str
    design: str
    rate: float
    latency_s: float
    purpose: Purpose
    valid: bool
    invalid_reasons: list[str] = Field(default_factory=list)
    verdict: Verdict
    #: why the verdict: the figure that decided it
    verdict_reason: str
    signups: int
    achieved_rate: Figure
    #: signup latency from the scheduled time: p50, p90, p95, p99 and max, each with its
    #: interval (None where the cell's signups cannot support it)
    latency: dict[str, Percentile]
    #: the signup figure the SLO was judged on (p99, or the slowest signup when fewer than
    #: 1,000 signups support p99: an upper bound of the p99)
    slo_figure: Percentile
    error_rate: Figure
    error_rate_ci: Interval | None = None
    #: CPU seconds of the design's own components per 1,000 signups answered, over the
    #: measured part, with a 95 % interval over its five equal blocks
    cpu_per_1000: Figure = None
    cpu_per_1000_ci: Interval | None = None
    e2e_p95_ms: Figure = None
    #: False: the backlog had not drained when the drain ended: e2e p95 is of what was
    #: delivered by then (a lower bound)
    drained: bool | None = None
    generator_processes: int
    generator_saturated: bool
    #: who made the generator fall behind (None: it kept its schedule): its own loop, other
    #: processes, or the design filling the machine — for a sweep at high rates, the design
    lag_cause: LagCause | None = None
    #: the bare publish-with-confirm p99 (ms) of the probe beside this cell's load (the sweep
    #: file's ``cell.broker_probe_rate``; absent without it, or for a design with no broker)
    broker_confirm_p99_ms: Figure = None


class Knee(Record):
    """Where a design's curve bends: the first rate whose p99 (or error share) left the SLO,
    with the rate before it."""

    rate: float
    folder: str
    before_rate: float | None
    reason: str


class MaxRate(Record):
    """A design's maximum sustainable rate at one provider latency."""

    design: str
    latency_s: float
    #: the highest rate that met the SLO; None: not even the lowest rate met it
    rate: float | None
    rate_folder: str | None
    #: the lowest rate that missed it (or was invalid) above ``rate``; None: none found up
    #: to the search's bound
    bound: float | None
    bound_folder: str | None
    bound_verdict: Verdict | None
    #: why the search stopped: resolution, runs, time, max_rate, lowest_rate, invalid
    stopped_by: str
    runs: int


class Crossover(Record):
    """One (rate, latency) cell of the crossover map."""

    rate: float
    latency_s: float
    #: the winning design, "no clear difference" where the intervals overlap, or "invalid"
    p99_winner: str
    p99_key: str
    p99_detail: str
    cpu_winner: str
    cpu_detail: str
    #: designs that answered no signup here: they have no CPU per signup, and the CPU winner
    #: is judged among the others (absent in files of older offloads)
    cpu_unanswered: list[str] = Field(default_factory=list)
    #: queue-backed designs whose backlog had not drained: part of their signups' work came
    #: after the measured part, so their CPU per signup is a lower bound; such a design may
    #: lose the CPU comparison but is never named its winner
    cpu_lower_bound: list[str] = Field(default_factory=list)
    #: the queue-backed design's email end-to-end p95 (ms), what the accept latency costs
    e2e_p95_ms: dict[str, Figure] = Field(default_factory=dict)


class SweepSummary(RunFile):
    """``sweep-summary.json``: every figure of the sweep's page."""

    FILE_NAME: ClassVar[str] = "sweep-summary.json"
    WHAT: ClassVar[str] = "sweep summary"

    sweep: str
    quick: bool
    slo_p99_ms: float
    slo_errors: float
    designs: list[str]
    rates: list[float]
    latencies_s: list[float]
    cells: list[CellFigures]
    knees: dict[str, dict[str, Knee | None]] = Field(default_factory=dict)
    max_rates: list[MaxRate] = Field(default_factory=list)
    crossover: list[Crossover] = Field(default_factory=list)
    #: the broker probe's paced confirm p99 (ms): the async curves' reference line
    broker_confirm_p99_ms: Figure = None
    wall_s: Figure = None
