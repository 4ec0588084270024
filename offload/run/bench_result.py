"""The result of ``offload bench --json``: one JSON document on stdout, for scripts and CI.

The headline figures of every scenario and design, as the closing table shows them, taken from
each scenario's ``summary.json`` (nothing is computed here that the summary or the cost
definition in :mod:`offload.analysis.cost` does not already say), plus where the run directory
is and the exit code the bench ends with. A bench that could not run (bad arguments, a
malformed scenario, an interruption) prints a document with ``error`` and no scenarios, so a
consumer always gets a document. ``schema_version`` changes only when a field changes meaning
or goes away; fields may be added. docs/report.md ("offload bench --json") lists the fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from offload.analysis.cost import cost_figures
from offload.rundir.summary import DesignSummary, Summary

#: the version of this document (not of the run directory's files)
BENCH_RESULT_VERSION: Literal[1] = 1


class _Result(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BenchDesignResult(_Result):
    """One design's headline figures in one scenario run (the measured part, warm-up left out).

    A figure the run has no value for is null: a percentile the sample cannot support, the
    ledger of a run whose tables could not be exported, the cost of a run without a 2xx.
    """

    #: signups scheduled in the measured part, and of them answered 2xx
    signups: int
    signups_ok: int
    #: latency from the scheduled time, ms
    signup_p50_ms: float | None
    signup_p99_ms: float | None
    #: non-2xx answers and connection errors (timeouts counted apart)
    signup_errors: int
    signup_timeouts: int
    #: welcome emails owed but never delivered, and delivered more than once
    emails_lost: int | None
    emails_duplicates: int | None
    #: CPU seconds of the design's own components (broker included) per 1,000 2xx signups
    cpu_per_1000_signups_s: float | None

    @classmethod
    def of(cls, design: DesignSummary) -> BenchDesignResult:
        signup = design.signup.overall
        ledger = design.emails
        return cls(
            signups=signup.count,
            signups_ok=signup.ok,
            signup_p50_ms=signup.latency_ms.value("p50"),
            signup_p99_ms=signup.latency_ms.value("p99"),
            signup_errors=signup.errors,
            signup_timeouts=signup.timeouts,
            emails_lost=None if ledger is None else ledger.lost,
            emails_duplicates=None if ledger is None else ledger.duplicates,
            cpu_per_1000_signups_s=cost_figures(design).cpu_per_1000_signups,
        )


class BenchScenarioResult(_Result):
    """One scenario run (one repeat): its folder of the run directory and its validity."""

    scenario: str
    repeat: int
    folder: Path
    valid: bool
    invalid_reasons: list[str]
    designs: dict[str, BenchDesignResult]

    @classmethod
    def of(cls, folder: Path, summary: Summary) -> BenchScenarioResult:
        return cls(
            scenario=summary.scenario,
            repeat=summary.repeat,
            folder=folder,
            valid=summary.valid,
            invalid_reasons=list(summary.invalid_reasons),
            designs={name: BenchDesignResult.of(d) for name, d in summary.designs.items()},
        )


class BenchResult(_Result):
    """What ``offload bench --json`` prints."""

    schema_version: Literal[1] = BENCH_RESULT_VERSION
    #: the code the command exits with (0 valid, 1 invalid or failed, 2 unusable input, 130)
    exit_code: int
    #: the run directory (None when the bench was refused before making one)
    run_dir: Path | None
    scenarios: list[BenchScenarioResult] = []
    #: scenarios that could not be summarised or reported, one line each
    failures: list[str] = []
    #: why the bench could not run or finish; None when it did
    error: str | None = None

    @classmethod
    def of_run(
        cls,
        run_dir: Path,
        summaries: list[tuple[Path, Summary]],
        failures: list[str],
        exit_code: int,
    ) -> BenchResult:
        return cls(
            exit_code=exit_code,
            run_dir=run_dir,
            scenarios=[BenchScenarioResult.of(folder, s) for folder, s in summaries],
            failures=failures,
        )

    @classmethod
    def refused(cls, reason: str, exit_code: int) -> BenchResult:
        return cls(exit_code=exit_code, run_dir=None, error=reason)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)
