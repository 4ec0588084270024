"""Apply a scenario's fault timeline at its offsets, and record when each change took effect.

Offsets count from t=0 of the measured part (the same t=0 the load generator uses). Each
change is recorded with its planned and actual time in ``faults.jsonl``, so the analysis and
the reader can check that the fault hit when the scenario said it would.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("offload.run.timeline")


@dataclass
class TimelineEvent:
    at_s: float
    phase: str
    kind: str
    description: str
    apply: Callable[[], Any]
    payload: dict[str, Any] = field(default_factory=dict)


class Timeline:
    """A thread that fires events at ``t0_epoch + at_s``; errors are recorded, not raised."""

    def __init__(self, events: list[TimelineEvent], t0_epoch: float, record_path: Path) -> None:
        self.events = sorted(events, key=lambda e: e.at_s)
        self.t0_epoch = t0_epoch
        self.record_path = record_path
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="offload-timeline", daemon=True)

    def start(self) -> Timeline:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        with open(self.record_path, "a") as out:
            for event in self.events:
                planned = self.t0_epoch + event.at_s
                if self._stop.wait(max(0.0, planned - time.time())):
                    return
                started = time.time()
                try:
                    result = event.apply()
                    error = None
                except Exception as exc:  # a failed fault is a finding, not a crash
                    result, error = None, f"{type(exc).__name__}: {exc}"
                    self.errors.append(f"{event.kind} at {event.at_s:g}s: {error}")
                    log.warning("timeline event failed: %s", error)
                record = {
                    "at_s": event.at_s,
                    "phase": event.phase,
                    "kind": event.kind,
                    "description": event.description,
                    "planned_epoch": round(planned, 6),
                    "applied_epoch": round(started, 6),
                    "done_epoch": round(time.time(), 6),
                    "payload": event.payload,
                    "result": result
                    if isinstance(result, dict | list | str | int | float)
                    else None,
                    "error": error,
                }
                out.write(json.dumps(record) + "\n")
                out.flush()
