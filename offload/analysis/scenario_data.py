"""One scenario folder of a run directory, loaded once for every table and chart.

The raw records are read by :mod:`offload.analysis.records`; this module only adds what every
consumer needs on top: the measured part of each design's requests, times in seconds from
that design's t=0 (each design runs alone, so each has its own clock origin), the phases of
the fault timeline, and a stable design order (sync-like designs first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from offload.analysis import records
from offload.analysis.summary import summarise_scenario
from offload.errors import RunInvalid
from offload.rundir.manifest import (
    DesignEntry,
    DesignKnobs,
    PhaseRecord,
    ScenarioManifest,
    ScenarioRecord,
)
from offload.rundir.summary import DesignSummary, Summary


@dataclass
class DesignData:
    """One design's raw records, with times relative to its own t=0 (``t0_epoch``)."""

    name: str
    directory: Path
    entry: DesignEntry
    summary: DesignSummary

    @property
    def kind(self) -> str:
        return self.entry.kind

    @property
    def concurrency(self) -> str:
        """How the design's server bounds concurrency, as its manifest declared it. A run
        recorded before manifests declared it gets ``processes``, the model every design
        without a queue got then."""
        return self.entry.target.concurrency or "processes"

    @property
    def config(self) -> DesignKnobs:
        return self.entry.config

    @property
    def t0(self) -> float:
        return self.entry.t0_epoch or 0.0

    @property
    def drain_end_s(self) -> float | None:
        end = self.entry.drain_end_epoch
        return None if end is None else end - self.t0

    @cached_property
    def all_requests(self) -> pd.DataFrame:
        return records.requests(self.directory)

    @cached_property
    def requests(self) -> pd.DataFrame:
        """Measured requests only (warm-up excluded), with ``latency_s`` and ``end_s``."""
        frame = self.all_requests
        frame = frame[frame["phase"] == "measured"].copy()
        frame["latency_s"] = frame["ended"] - frame["scheduled"]
        frame.loc[frame["error_class"] == "dropped", "latency_s"] = np.nan
        frame["end_s"] = frame["ended"] - self.t0
        return frame

    def stream(self, name: str) -> pd.DataFrame:
        return self.requests[self.requests["stream"] == name]

    @cached_property
    def provider(self) -> pd.DataFrame:
        """The provider's log with ``t_s`` (received) and ``done_s`` (answered) from t=0."""
        frame = records.provider_log(self.directory).copy()
        frame["t_s"] = frame["ts"] - self.t0
        frame["done_s"] = frame["done_ts"] - self.t0
        return frame

    @cached_property
    def queues(self) -> pd.DataFrame:
        frame = records.queues(self.directory).copy()
        if not frame.empty:
            frame["t_s"] = frame["t"] - self.t0
        return frame

    @cached_property
    def samples(self) -> pd.DataFrame:
        frame = records.samples(self.directory).copy()
        if not frame.empty:
            frame["t_s"] = frame["t"] - self.t0
        return frame

    @cached_property
    def job_events(self) -> pd.DataFrame:
        frame = records.table(self.directory, "job_events").copy()
        if not frame.empty and "at" in frame:
            frame["t_s"] = frame["at"] - self.t0
        return frame

    @cached_property
    def jobs(self) -> pd.DataFrame:
        return records.table(self.directory, "jobs")

    @cached_property
    def users(self) -> pd.DataFrame:
        return records.table(self.directory, "users")

    @property
    def uses_queue(self) -> bool:
        """A queue-backed design: it has a backlog and job events to show."""
        return self.kind == "async" or self.summary.queue is not None


@dataclass
class ScenarioData:
    """A scenario folder: manifest, summary, phases and every design's records."""

    directory: Path
    manifest: ScenarioManifest
    summary: Summary
    designs: dict[str, DesignData] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.summary.scenario

    @property
    def folder(self) -> str:
        """The folder name (``slow-downstream``, or ``slow-downstream.r2`` for a repeat)."""
        return self.directory.name

    @property
    def scenario(self) -> ScenarioRecord:
        return self.manifest.scenario

    @property
    def phases(self) -> list[PhaseRecord]:
        return self.summary.phases or self.manifest.phases

    @property
    def duration_s(self) -> float:
        return self.scenario.load.duration

    @property
    def valid(self) -> bool:
        return self.summary.valid


def design_order(names_and_kinds: list[tuple[str, str]]) -> list[str]:
    """Sync-kind designs first, then async, then anything else; stable within a kind."""
    rank = {"sync": 0, "async": 1}
    ordered = sorted(
        enumerate(names_and_kinds), key=lambda item: (rank.get(item[1][1], 2), item[0])
    )
    return [name for _, (name, _kind) in ordered]


def load_scenario_dir(directory: Path) -> ScenarioData:
    """Read a scenario folder; ``summary.json`` is computed (not written) when it is missing.

    The designs are those with a manifest entry, a folder of records and figures in the
    summary (a design that never started has no folder).
    """
    directory = Path(directory)
    manifest = ScenarioManifest.in_folder(directory)
    summary_path = directory / Summary.FILE_NAME
    summary = Summary.load(summary_path) if summary_path.exists() else summarise_scenario(directory)
    present = [
        (name, entry.kind)
        for name, entry in manifest.designs.items()
        if (directory / name).is_dir() and name in summary.designs
    ]
    designs = {
        name: DesignData(
            name=name,
            directory=directory / name,
            entry=manifest.designs[name],
            summary=summary.designs[name],
        )
        for name in design_order(present)
    }
    return ScenarioData(directory=directory, manifest=manifest, summary=summary, designs=designs)


def in_run_order(directories: list[Path]) -> list[Path]:
    """Scenario folders in the order they ran (their manifest's ``started_at``): file times
    change when a run directory is copied, the manifest does not. A folder whose manifest
    cannot be read goes first; reading it again reports why."""

    def started(directory: Path) -> float:
        try:
            return ScenarioManifest.in_folder(directory).started_at or 0.0
        except RunInvalid:
            return 0.0

    return sorted(directories, key=started)
