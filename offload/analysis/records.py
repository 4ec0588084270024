"""Read a design's raw records into pandas, with the types every analysis relies on.

Each loader reads one file of the run directory (see ``reports/README.md``) and tolerates a
file that is missing or empty — an interrupted run still gets analysed as far as it went.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pydantic import JsonValue

from loadtests.selfmeasure import SelfMeasurement, SelfMeasurementError
from offload.errors import RunInvalid

REQUEST_COLUMNS = {
    "stream": "string",
    "name": "string",
    "phase": "string",
    "offset": "float64",
    "scheduled": "float64",
    "sent": "float64",
    "ended": "float64",
    "status": "Int64",
    "error_class": "string",
    "waited_for_slot": "boolean",
    "correlation_id": "string",
    "user_id": "string",
    "job_id": "string",
}


def _read_csv(path: Path, dtypes: dict[str, str] | None = None) -> pd.DataFrame:
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame({col: pd.Series(dtype=t) for col, t in (dtypes or {}).items()})
    frame = pd.read_csv(path, keep_default_na=True, na_values=[""], low_memory=False)
    for column, dtype in (dtypes or {}).items():
        if column not in frame:
            frame[column] = pd.Series(dtype=dtype)
        elif dtype == "boolean":
            frame[column] = (
                frame[column]
                .map(lambda v: str(v).strip().lower() in ("true", "1") if pd.notna(v) else pd.NA)
                .astype("boolean")
            )
        else:
            frame[column] = frame[column].astype(dtype)  # type: ignore[call-overload]  # a dtype name from the table above
    return frame


def requests(design_dir: Path) -> pd.DataFrame:
    """Every scheduled request (all generator processes' files merged), ``error_class`` '' = ok."""
    files = sorted(design_dir.glob("requests*.csv"))
    frames = [_read_csv(path, REQUEST_COLUMNS) for path in files]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return _read_csv(Path("/nonexistent"), REQUEST_COLUMNS)
    frame = pd.concat(frames, ignore_index=True)
    frame["error_class"] = frame["error_class"].fillna("")
    return frame.sort_values("scheduled", kind="stable").reset_index(drop=True)


def provider_log(design_dir: Path) -> pd.DataFrame:
    """The provider's log, one row per request it received; a torn last line is skipped."""
    path = design_dir / "provider-log.jsonl"
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn last line from a provider killed mid-write
    columns = ["ts", "done_ts", "key", "job_id", "user_id", "email", "correlation_id",
               "attempt", "outcome", "status", "profile_version"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(columns=columns)
    return frame.astype({"ts": "float64", "done_ts": "float64"})


def table(design_dir: Path, name: str) -> pd.DataFrame:
    """A database table exported after the run (users, jobs, job_events)."""
    return _read_csv(design_dir / f"{name}.csv")


def samples(design_dir: Path) -> pd.DataFrame:
    return _read_csv(design_dir / "samples.csv")


def machine(design_dir: Path) -> pd.DataFrame:
    """The machine's CPU beside the run (``machine.csv``; empty in runs recorded before it)."""
    return _read_csv(design_dir / "machine.csv")


def queues(design_dir: Path) -> pd.DataFrame:
    return _read_csv(design_dir / "queues.csv")


def faults(design_dir: Path) -> list[dict[str, JsonValue]]:
    path = design_dir / "faults.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@dataclass(frozen=True)
class GeneratorReport:
    """What the load generator measured about itself, over all its processes."""

    processes: int
    #: CPU seconds the generator used during the load
    cpu_seconds: float | None
    #: the busiest process's CPU as a share of one core (a Locust process is one gevent loop)
    cpu_share_of_one_core: float | None


def generator(design_dir: Path) -> GeneratorReport:
    """The generator's own reports (``requests*.generator.json``, one per process) combined."""
    try:
        reports = [
            SelfMeasurement.read(path)
            for path in sorted(design_dir.glob("requests*.generator.json"))
        ]
    except SelfMeasurementError as exc:
        raise RunInvalid(str(exc)) from exc
    cpu = sum(report.cpu_seconds for report in reports) if reports else None
    # each worker is its own process: the busiest one says whether any saturated
    shares = [s for report in reports if (s := report.cpu_share_of_one_core) is not None]
    return GeneratorReport(
        processes=max(1, len(reports)),
        cpu_seconds=cpu,
        cpu_share_of_one_core=max(shares) if shares else None,
    )
