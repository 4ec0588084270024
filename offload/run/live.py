"""The live view of a running design: what the last few seconds of raw records say.

While the generator runs, ``offload bench`` shows per design — on the progress line of a
terminal, or in the plain line a CI log gets every 10 s — the offered and answered rates,
signup p50/p99 over the last :data:`WINDOW_S` seconds, errors and timeouts so far, the
bystanders' p99, the queue depth (designs with a broker) and how late the generator sent.

It reads the same files the analysis reads afterwards (``requests*.csv`` as the generator
flushes them, ``queues.csv`` as the sampler writes it, ``plan.json`` for the offered rate), by
tailing them: no second measurement path. A request is counted when its record is written,
i.e. when it ended, so in a slow phase the window shows the requests that finished, not those
still in flight; the report, computed from every record by scheduled time, is the reference.
The generator appends its records once a second, so the window ends :data:`LAG_S` before
now: a window ending now lacked its last second's answers and read the answered rate up to a
third low (measured: 20.6/s answered of 30/s offered, with no error and no timeout).
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from loadtests.plan import LoadPlan, PlanError, Segment, load_plan
from loadtests.records import FLUSH_INTERVAL_S

#: seconds of records the live percentiles and rates cover
WINDOW_S = 5.0
#: how long before now the window ends: every request that ended before it is on disk
LAG_S = FLUSH_INTERVAL_S + 0.5
#: measured seconds the window must hold before its rates are shown: in the first second a
#: request or two over half a second read "30/s offered, 4.0/s answered" in a CI log, and a
#: window still ending before t=0 "0/s offered" — both wrong, and alarming
MIN_SPAN_S = 2.0


class CsvTail:
    """New complete rows of a CSV file that another process appends to.

    Keeps the byte offset of the last complete line, so a row half-written at the time of a
    read is read whole at the next one; the header is read once.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._header: list[str] | None = None
        self._partial = ""

    def rows(self) -> Iterator[dict[str, str]]:
        try:
            with self.path.open("r", newline="") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
                self._offset = handle.tell()
        except FileNotFoundError:
            return
        text = self._partial + chunk
        complete, _, self._partial = text.rpartition("\n")
        if not complete:
            return
        lines = complete.split("\n")
        if self._header is None:
            self._header = next(csv.reader([lines.pop(0)]))
        for values in csv.reader(io.StringIO("\n".join(lines))):
            if len(values) == len(self._header):
                yield dict(zip(self._header, values, strict=True))


@dataclass
class _Request:
    stream: str
    ended: float
    latency_s: float
    lateness_s: float


@dataclass
class LiveFigures:
    """What the live line shows; None where the window holds nothing to show."""

    offered_rate: float | None
    #: None until the window holds :data:`MIN_SPAN_S` of the measured part
    answered_rate: float | None
    signup_p50_ms: float | None
    signup_p99_ms: float | None
    errors: int
    timeouts: int
    bystander_p99_ms: float | None
    queue_depth: int | None
    lateness_p99_ms: float | None

    def line(self) -> str:
        """One compact line: ``20/s offered, 19.8/s answered · signup p50 12 ms p99 40 ms
        (last 5 s) · 0 errors, 0 timeouts · bystander p99 3.1 ms · queue 12 · late p99 0.4 ms``."""
        if self.answered_rate is None:
            return f"measuring (rates from {MIN_SPAN_S:g} s into the measured part)"
        offered = "" if self.offered_rate is None else f"{self.offered_rate:g}/s offered, "
        parts = [
            f"{offered}{self.answered_rate:.1f}/s answered",
            f"signup p50 {_ms(self.signup_p50_ms)} p99 {_ms(self.signup_p99_ms)} "
            f"(last {WINDOW_S:g} s)",
            f"{self.errors} errors, {self.timeouts} timeouts",
            f"bystander p99 {_ms(self.bystander_p99_ms)}",
        ]
        if self.queue_depth is not None:
            parts.append(f"queue {self.queue_depth:,}")
        parts.append(f"late p99 {_ms(self.lateness_p99_ms)}")
        return " · ".join(parts)


@dataclass
class LiveWindow:
    """Tails one design's records and keeps the last :data:`WINDOW_S` seconds of them."""

    design_dir: Path
    window_s: float = WINDOW_S
    #: the window ends this long before the ``now`` it is asked about (0 for records that are
    #: complete, as in a replay of a finished run)
    lag_s: float = LAG_S
    _tails: dict[Path, CsvTail] = field(default_factory=dict)
    _queues: CsvTail | None = None
    _recent: deque[_Request] = field(default_factory=deque)
    _errors: int = 0
    _timeouts: int = 0
    _depth: dict[str, int] = field(default_factory=dict)
    _plan: LoadPlan | None = None

    def figures(self, now: float, t0: float) -> LiveFigures:
        """Read what was written since the last call and summarise the window ending
        :attr:`lag_s` before ``now``."""
        self._read_requests(t0)
        self._read_queues()
        end = now - self.lag_s
        while self._recent and self._recent[0].ended < end - self.window_s:
            self._recent.popleft()
        # the files hold requests that ended after the window's end too, and several
        # generator files interleave, so the deque is not in end order
        window = [r for r in self._recent if end - self.window_s <= r.ended <= end]
        signups = [r.latency_s for r in window if r.stream == "signup"]
        bystanders = [r.latency_s for r in window if r.stream != "signup"]
        # early in the measured part the window is shorter than WINDOW_S (warm-up is left out)
        measured_s = min(self.window_s, end - t0)
        early = measured_s < MIN_SPAN_S
        return LiveFigures(
            offered_rate=None if early else self._offered(end - t0),
            answered_rate=None if early else len(window) / measured_s,
            signup_p50_ms=_percentile_ms(signups, 50),
            signup_p99_ms=_percentile_ms(signups, 99),
            errors=self._errors,
            timeouts=self._timeouts,
            bystander_p99_ms=_percentile_ms(bystanders, 99),
            queue_depth=sum(self._depth.values()) if self._depth else None,
            lateness_p99_ms=_percentile_ms([r.lateness_s for r in window], 99),
        )

    def _read_requests(self, t0: float) -> None:
        for path in sorted(self.design_dir.glob("requests*.csv")):
            tail = self._tails.setdefault(path, CsvTail(path))
            for row in tail.rows():
                with contextlib.suppress(ValueError):
                    self._add(row, t0)

    def _add(self, row: dict[str, str], t0: float) -> None:
        scheduled = float(row["scheduled"])
        if scheduled < t0:
            return  # warm-up: recorded, never measured, not shown either
        error_class = row["error_class"]
        if error_class == "timeout":
            self._timeouts += 1
        elif error_class and error_class != "dropped":
            self._errors += 1
        if not row["ended"] or not row["sent"]:
            return
        ended = float(row["ended"])
        self._recent.append(
            _Request(
                stream=row["stream"],
                ended=ended,
                latency_s=ended - scheduled,
                lateness_s=max(0.0, float(row["sent"]) - scheduled),
            )
        )

    def _read_queues(self) -> None:
        if self._queues is None:
            self._queues = CsvTail(self.design_dir / "queues.csv")
        for row in self._queues.rows():
            if row.get("role") in ("work", "retry") and row.get("depth", "").isdigit():
                self._depth[row["queue"]] = int(row["depth"])

    def _offered(self, offset: float) -> float | None:
        if self._plan is None:
            try:
                self._plan = load_plan(self.design_dir / "plan.json")
            except (OSError, PlanError, ValueError):
                return None
        return sum(_rate_at(stream.segments, offset) for stream in self._plan.streams)


def _rate_at(segments: list[Segment], offset: float) -> float:
    """The scheduled rate at ``offset`` (linear inside a segment, 0 outside every segment)."""
    for segment in segments:
        if segment.start_s <= offset < segment.end_s:
            share = (offset - segment.start_s) / (segment.end_s - segment.start_s)
            return segment.rate_from + share * (segment.rate_to - segment.rate_from)
    return 0.0


def _percentile_ms(seconds: list[float], percentile: float) -> float | None:
    return float(np.percentile(seconds, percentile)) * 1000 if seconds else None


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"
