"""The generator measures itself, because a saturated generator invalidates a run.

Lateness is ``sent - scheduled``. Requests that waited for an in-flight slot are late
because the target is slow (that is the point of open-loop load); requests that did not
wait are late only because the generator itself fell behind — scheduler lag. High
scheduler lag or CPU near a full core means the numbers describe the generator, not the
target; the report file says so in ``warnings``, with what to do about it.

Reported: ``lateness`` (every request sent), ``scheduler_lag`` (those that did not wait)
and ``scheduler_lag_measured`` (the same, measured part only: the warm-up absorbs the
generator's own slower first seconds, so the saturation warning uses this one), and
``precise_wait_seconds``: the time senders spent waiting out the last fraction of a
millisecond before their due time (``loadtests.pacing``), which costs about as much CPU.
"""

from __future__ import annotations

import resource
import time
from array import array
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loadtests.atomic import write_atomically

__all__ = [
    "SCHEMA_VERSION",
    "GeneratorMeter",
    "GeneratorStart",
    "Quantiles",
    "SelfMeasurement",
    "SelfMeasurementError",
    "generator_report_path",
    "generator_start_path",
    "process_cpu_seconds",
]

SCHEMA_VERSION = 1
#: scheduler lag p99 above this means the generator fell behind its own schedule
LAG_P99_WARN_S = 0.005
#: share of one core above which the generator is close to saturating
CPU_SHARE_WARN = 0.8


def generator_report_path(records_path: Path) -> Path:
    """Where the self-measurement of the run writing ``records_path`` goes."""
    return records_path.with_suffix(".generator.json")


def generator_start_path(records_path: Path) -> Path:
    """Where the run writing ``records_path`` announces its t=0 (:class:`GeneratorStart`)."""
    return records_path.with_suffix(".start.json")


class GeneratorStart(BaseModel):
    """``<records>.start.json``: the t=0 a generator process runs its schedule on, written the
    moment it is fixed, before the first arrival.

    Why: a harness that fixes t=0 itself must fix it far enough ahead to cover Locust's
    start-up, which it cannot know (0.4 s on an idle machine, more on a busy one). A plan
    without ``t0_epoch`` lets the generator fix t=0 once it is ready, and the harness waits
    for this file instead: the same run, started as soon as it can be.
    """

    model_config = ConfigDict(extra="forbid")

    t0_epoch: float
    warmup_s: float = Field(ge=0)

    def write(self, path: Path) -> None:
        """Write atomically: the harness polls for this file."""
        write_atomically(path, self.model_dump_json())

    @classmethod
    def read(cls, path: Path) -> GeneratorStart:
        try:
            return cls.model_validate_json(path.read_text())
        except (OSError, ValidationError) as exc:
            raise SelfMeasurementError(f"cannot read the generator's start {path}: {exc}") from exc


class SelfMeasurementError(ValueError):
    """A self-measurement file that cannot be read; the message names the file."""


class Quantiles(BaseModel):
    """Quantiles of a set of times in milliseconds; absent when the set is empty."""

    model_config = ConfigDict(extra="allow")

    count: int
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None


class SelfMeasurement(BaseModel):
    """``<records>.generator.json``: what one Locust process measured of itself.

    Written by the open-loop user (``loadtests.openloop``) and the closed-loop recorder;
    read by the analysis (the generator's CPU and saturation) and the measurement floor.
    A field that does not apply (the schedule figures of a closed loop) is absent, not
    ``null``; unknown fields are kept, so a newer writer may add some.
    """

    model_config = ConfigDict(extra="allow")

    schema_version: int = SCHEMA_VERSION
    #: "open": arrivals on a schedule; "closed": users that wait for each answer
    mode: Literal["open", "closed"] = "open"
    #: CPU seconds and wall seconds from the start of the load (after Locust's start-up)
    cpu_seconds: float
    wall_seconds: float
    cpu_share_of_one_core: float | None = None
    scheduled: int
    sent: int
    dropped: int
    #: what the numbers say about the generator itself, with what to do about it
    warnings: list[str] = Field(default_factory=list)
    # -- open loop only -------------------------------------------------------------------
    process_cpu_seconds: float | None = None
    precise_wait_seconds: float | None = None
    completed: int | None = None
    abandoned: int | None = None
    max_in_flight_observed: int | None = None
    lateness: Quantiles | None = None
    scheduler_lag: Quantiles | None = None
    scheduler_lag_measured: Quantiles | None = None
    #: the run was stopped (``--run-time``, an interrupt) before its schedule ended
    stopped_early: bool | None = None
    #: sent but cut off unanswered by that stop: they have no outcome, so no record
    in_flight_at_stop: int | None = None
    # -- the plan it ran ------------------------------------------------------------------
    records_path: str | None = None
    t0_epoch: float | None = None
    duration_s: float | None = None
    warmup_s: float | None = None
    max_in_flight: int | None = None
    timeout_s: float | None = None
    worker_index: int | None = None
    worker_count: int | None = None
    #: closed loop: the number of users
    users: int | None = None

    @classmethod
    def read(cls, path: Path) -> SelfMeasurement:
        try:
            return cls.model_validate_json(path.read_text())
        except OSError as exc:
            raise SelfMeasurementError(f"{path}: cannot read ({exc.strerror})") from exc
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"]) or "(top level)"
            raise SelfMeasurementError(
                f"{path}: not a generator self-measurement: field '{where}': {first['msg']}"
            ) from exc

    def write(self, path: Path) -> Path:
        """Write atomically: a reader never sees half a file."""
        write_atomically(path, self.model_dump_json(indent=2, exclude_none=True) + "\n")
        return path


def process_cpu_seconds() -> float:
    """This process's CPU seconds so far, user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _quantiles_ms(values: array[float]) -> Quantiles:
    if len(values) == 0:
        return Quantiles(count=0)
    arr = np.asarray(values) * 1000.0
    p50, p99 = np.percentile(arr, [50, 99])
    return Quantiles(
        count=len(values),
        p50_ms=round(float(p50), 3),
        p99_ms=round(float(p99), 3),
        max_ms=round(float(arr.max()), 3),
    )


class GeneratorMeter:
    """Counts and timings of one generator run; ``write`` turns them into a JSON report."""

    def __init__(self) -> None:
        self.scheduled = 0
        self.sent = 0
        self.dropped = 0
        self.completed = 0
        self.abandoned = 0
        self.max_in_flight = 0
        #: seconds spent in precise waits before sends (busy: about as much CPU)
        self.precise_wait_seconds = 0.0
        # seconds; compact arrays, since a long run at 1,000/s sends millions of requests
        self.lateness_all = array("d")
        self.lateness_no_wait = array("d")
        self.lateness_no_wait_measured = array("d")
        self._cpu0 = process_cpu_seconds()
        self._wall0 = time.perf_counter()

    def restart_clock(self) -> None:
        """Start counting CPU and wall time now (after Locust's own start-up)."""
        self._cpu0 = process_cpu_seconds()
        self._wall0 = time.perf_counter()

    def started(
        self, lateness: float, waited_for_slot: bool, in_flight: int, measured: bool
    ) -> None:
        """Count one request that left; ``measured`` is False in the warm-up."""
        self.sent += 1
        self.lateness_all.append(lateness)
        if not waited_for_slot:
            self.lateness_no_wait.append(lateness)
            if measured:
                self.lateness_no_wait_measured.append(lateness)
        self.max_in_flight = max(self.max_in_flight, in_flight)

    def summary(self, **context: object) -> SelfMeasurement:
        """The report; ``context`` (the plan's figures, flags) is included verbatim."""
        wall = time.perf_counter() - self._wall0
        cpu = process_cpu_seconds() - self._cpu0
        # the warm-up absorbs the generator's own start (first ~2 s are slower): judge
        # saturation on the measured part only
        lag = _quantiles_ms(self.lateness_no_wait_measured)
        warnings = []
        if lag.p99_ms is not None and lag.p99_ms > LAG_P99_WARN_S * 1000:
            warnings.append(
                f"scheduler lag p99 is {lag.p99_ms} ms (> {LAG_P99_WARN_S * 1000:g} ms): "
                "the generator fell behind its schedule; lower the rate or add Locust workers"
            )
        if wall > 0 and cpu / wall > CPU_SHARE_WARN:
            warnings.append(
                f"the generator used {cpu / wall:.0%} of a core: it is close to saturation; "
                "lower the rate or add Locust workers"
            )
        return SelfMeasurement.model_validate(
            {
                **context,
                "mode": "open",
                "cpu_seconds": round(cpu, 3),
                "process_cpu_seconds": round(process_cpu_seconds(), 3),
                "wall_seconds": round(wall, 3),
                "cpu_share_of_one_core": round(cpu / wall, 4) if wall > 0 else None,
                "precise_wait_seconds": round(self.precise_wait_seconds, 3),
                "scheduled": self.scheduled,
                "sent": self.sent,
                "dropped": self.dropped,
                "completed": self.completed,
                "abandoned": self.abandoned,
                "max_in_flight_observed": self.max_in_flight,
                "lateness": _quantiles_ms(self.lateness_all),
                "scheduler_lag": _quantiles_ms(self.lateness_no_wait),
                "scheduler_lag_measured": lag,
                "warnings": warnings,
            }
        )

    def write(self, path: Path, **context: object) -> SelfMeasurement:
        report = self.summary(**context)
        report.write(path)
        return report
