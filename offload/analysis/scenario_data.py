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
from typing import Any

import numpy as np
import pandas as pd

from offload.analysis import records
from offload.analysis.summary import summarise_scenario
from offload.rundir.paths import read_json


@dataclass
class DesignData:
    """One design's raw records, with times relative to its own t=0 (``t0_epoch``)."""

    name: str
    directory: Path
    entry: dict[str, Any]
    summary: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.entry.get("kind") or self.summary.get("kind") or self.name)

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.entry.get("config") or {})

    @property
    def t0(self) -> float:
        return float(self.entry.get("t0_epoch") or 0.0)

    @property
    def drain_end_s(self) -> float | None:
        end = self.entry.get("drain_end_epoch")
        return None if end is None else float(end) - self.t0

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
        return self.kind == "async" or "queue" in self.summary


@dataclass
class ScenarioData:
    """A scenario folder: manifest, summary, phases and every design's records."""

    directory: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]
    designs: dict[str, DesignData] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.summary.get("scenario") or self.manifest["scenario"]["name"])

    @property
    def folder(self) -> str:
        """The folder name (``slow-downstream``, or ``slow-downstream.r2`` for a repeat)."""
        return self.directory.name

    @property
    def scenario(self) -> dict[str, Any]:
        return dict(self.manifest.get("scenario") or {})

    @property
    def phases(self) -> list[dict[str, Any]]:
        return list(self.summary.get("phases") or self.manifest.get("phases") or [])

    @property
    def duration_s(self) -> float:
        return float(self.scenario.get("load", {}).get("duration") or 0.0)

    @property
    def valid(self) -> bool:
        return bool(self.summary.get("valid", True))


def design_order(names_and_kinds: list[tuple[str, str]]) -> list[str]:
    """Sync-kind designs first, then async, then anything else; stable within a kind."""
    rank = {"sync": 0, "async": 1}
    ordered = sorted(
        enumerate(names_and_kinds), key=lambda item: (rank.get(item[1][1], 2), item[0])
    )
    return [name for _, (name, _kind) in ordered]


def load_scenario_dir(directory: Path) -> ScenarioData:
    """Read a scenario folder; ``summary.json`` is computed (not written) when it is missing."""
    directory = Path(directory)
    manifest = read_json(directory / "manifest.json")
    summary_path = directory / "summary.json"
    summary = read_json(summary_path) if summary_path.exists() else summarise_scenario(directory)
    entries = manifest.get("designs", {})
    present = [
        (name, str(entry.get("kind") or name))
        for name, entry in entries.items()
        if (directory / name).is_dir()
    ]
    designs = {
        name: DesignData(
            name=name,
            directory=directory / name,
            entry=dict(entries[name]),
            summary=dict(summary.get("designs", {}).get(name) or {}),
        )
        for name in design_order(present)
    }
    return ScenarioData(directory=directory, manifest=manifest, summary=summary, designs=designs)


def in_run_order(directories: list[Path]) -> list[Path]:
    """Scenario folders in the order they ran (their manifest's ``started_at``): file times
    change when a run directory is copied, the manifest does not."""

    def started(directory: Path) -> float:
        try:
            return float(read_json(directory / "manifest.json").get("started_at") or 0.0)
        except Exception:
            return 0.0

    return sorted(directories, key=started)


def dig(data: Any, *path: str) -> Any:
    """``data[path[0]][path[1]]…``, or None as soon as a level is missing (summaries of
    interrupted runs lack whole sections)."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
