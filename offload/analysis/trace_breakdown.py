"""Where a queue-backed signup's end-to-end time goes, from its trace.

One signup's trace (``traces.otlp.jsonl``) holds the generator's request span, the API's
publish span, one worker span per attempt and, inside each attempt, the call to the provider.
Its end-to-end time — the generator sending the signup to the worker hearing the provider
accept the email — splits at those spans' edges into four parts that add up to it exactly:

* **accept**: signup sent → the API starts publishing the job (read, validate, insert);
* **queue**: publish started → the first attempt starts (the broker's hand-over, and the wait
  behind other jobs);
* **retry delays**: each failed attempt's end → the next attempt's start (the retry tier's
  delay, then the wait in the work queue again);
* **sending**: the attempts themselves, up to the provider's acceptance in the last one.

The split is cross-checked against ``job_events.csv``, written by the worker's database
writes, not by the tracer: every ``sending`` event of a job must fall inside the span of its
attempt and the ``delivered`` event inside the accepting attempt's span, one ``sending``
event per attempt span. Two independent records then tell the same story, or the report
says where they do not.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd

from offload.analysis.scenario_data import DesignData, ScenarioData
from offload.rundir.traces import FILE_NAME, SpanRecord, read_spans

#: the parts, in the order they happen
PARTS = ("accept", "queue", "retry_delays", "sending")
END_TO_END = "end_to_end"
#: a worker attempt's outcomes that mean the provider took the email
ACCEPTED = frozenset({"delivered", "duplicate"})
#: how far a job event may lie outside its attempt's span and still agree: the event times
#: pass through a CSV as decimal text
TOLERANCE_S = 0.001
#: the columns of the ``trace_breakdown`` and ``trace_check`` tables
BREAKDOWN_COLUMNS = ["design", "part", "signups", "mean_ms", "p50_ms", "p95_ms", "share_of_mean"]
CHECK_COLUMNS = [
    "design", "traced_signups", "jobs_checked", "jobs_agreeing", "worst_outside_ms",
    "parts_sum_error_ms", "agree", "services",
]  # fmt: skip


@dataclass(frozen=True)
class SignupBreakdown:
    """One delivered signup's end-to-end time and its parts, in seconds."""

    trace_id: str
    job_id: str
    sent: float
    accept: float
    queue: float
    retry_delays: float
    sending: float
    end_to_end: float
    #: attempt number → (start, end) of its worker span
    attempts: dict[int, tuple[float, float]]
    #: the attempt in which the provider accepted the email
    accepted_attempt: int

    def part(self, name: str) -> float:
        return float(getattr(self, name))


def breakdown(trace: Sequence[SpanRecord]) -> SignupBreakdown | None:
    """The parts of one trace's end-to-end time; None for a trace that is not a signup whose
    email a worker got accepted (a refused signup, a dead-lettered job, a bystander read)."""
    root = next((s for s in trace if s.service == "generator" and s.parent_span_id is None), None)
    publish = next((s for s in trace if s.kind == "producer"), None)
    attempts = sorted((s for s in trace if s.kind == "consumer"), key=lambda s: s.start)
    if root is None or publish is None or not attempts:
        return None
    accepting = next(
        (a for a in reversed(attempts) if a.attributes.get("offload.outcome") in ACCEPTED), None
    )
    if accepting is None:
        return None
    call = next(
        (s for s in trace if s.kind == "client" and s.parent_span_id == accepting.span_id), None
    )
    if call is None:
        return None
    before = [a for a in attempts if a.start < accepting.start]
    accepted_at = call.end
    used = [*before, accepting]
    gaps = [nxt.start - prev.end for prev, nxt in pairwise(used)]
    return SignupBreakdown(
        trace_id=root.trace_id,
        job_id=str(publish.attributes.get("job_id", accepting.attributes.get("job_id", ""))),
        sent=root.start,
        accept=publish.start - root.start,
        queue=attempts[0].start - publish.start,
        retry_delays=sum(gaps),
        sending=sum(a.duration for a in before) + (accepted_at - accepting.start),
        end_to_end=accepted_at - root.start,
        attempts={_attempt(a, i + 1): (a.start, a.end) for i, a in enumerate(used)},
        accepted_attempt=_attempt(accepting, len(used)),
    )


def _attempt(span: SpanRecord, position: int) -> int:
    """The attempt number the worker recorded on its span (its position if it did not)."""
    return int(span.attributes.get("attempt", position))


def breakdowns(spans: Iterable[SpanRecord], since: float | None = None) -> list[SignupBreakdown]:
    """Every delivered signup's breakdown, of signups sent at or after ``since``."""
    traces: dict[str, list[SpanRecord]] = defaultdict(list)
    for span in spans:
        traces[span.trace_id].append(span)
    found = [b for t in traces.values() if (b := breakdown(t)) is not None]
    return [b for b in found if since is None or b.sent >= since]


@dataclass(frozen=True)
class CrossCheck:
    """How the traces and ``job_events.csv`` agree (see the module doc)."""

    jobs_checked: int
    jobs_agreeing: int
    #: the farthest an event lay outside the span it belongs in, ms (0: all inside)
    worst_outside_ms: float

    @property
    def agree(self) -> bool:
        return self.jobs_checked > 0 and self.jobs_agreeing == self.jobs_checked


def cross_check(found: Sequence[SignupBreakdown], job_events: pd.DataFrame) -> CrossCheck:
    """Check every breakdown against its job's events (a job missing from the events, or an
    event outside its span, disagrees)."""
    by_job = {job: rows for job, rows in job_events.groupby("job_id")} if len(job_events) else {}
    agreeing, worst = 0, 0.0
    for item in found:
        events = by_job.get(item.job_id)
        if events is None:
            continue
        sending = events[events["state"] == "sending"]
        delivered = events[events["state"] == "delivered"]
        checks = list(
            zip(
                sending["attempt"].astype(int).tolist(),
                sending["at"].astype(float).tolist(),
                strict=True,
            )
        )
        checks += [(item.accepted_attempt, at) for at in delivered["at"].astype(float).tolist()]
        outside = [
            _outside(at, item.attempts.get(attempt, (np.inf, -np.inf))) for attempt, at in checks
        ]
        worst = max([worst, *outside])
        if (
            len(sending) == len(item.attempts)
            and len(delivered) == 1
            and all(o <= TOLERANCE_S for o in outside)
        ):
            agreeing += 1
    return CrossCheck(len(found), agreeing, worst * 1000)


def _outside(at: float, span: tuple[float, float]) -> float:
    start, end = span
    return max(start - at, at - end, 0.0)


def load_spans(design: DesignData) -> list[SpanRecord] | None:
    """The design's spans; None when it ran without tracing."""
    path = design.directory / FILE_NAME
    return read_spans(path) if path.is_file() else None


def breakdown_tables(data: ScenarioData) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per design with traced, delivered signups in the measured part: the parts' mean, p50
    and p95 in ms and each mean's share of the end-to-end mean; and the cross-check."""
    rows: list[dict[str, object]] = []
    checks: list[dict[str, object]] = []
    for name, design in data.designs.items():
        spans = load_spans(design)
        if spans is None:
            continue
        found = breakdowns(spans, since=design.t0)
        services = ", ".join(sorted({span.service for span in spans})) or "none"
        if not found:
            if design.uses_queue:  # tracing was on, yet no signup could be followed
                checks.append({"design": name, "traced_signups": 0, "services": services})
            continue
        total_mean = float(np.mean([b.end_to_end for b in found]))
        for part in (*PARTS, END_TO_END):
            values = np.array([b.part(part) for b in found]) * 1000
            rows.append(
                {
                    "design": name,
                    "part": part,
                    "signups": len(found),
                    "mean_ms": float(values.mean()),
                    "p50_ms": float(np.quantile(values, 0.5)),
                    "p95_ms": float(np.quantile(values, 0.95)),
                    "share_of_mean": float(values.mean()) / (total_mean * 1000),
                }
            )
        check = cross_check(found, design.job_events)
        sum_error = max(abs(sum(b.part(p) for p in PARTS) - b.end_to_end) for b in found)
        checks.append(
            {
                "design": name,
                "traced_signups": len(found),
                "jobs_checked": check.jobs_checked,
                "jobs_agreeing": check.jobs_agreeing,
                "worst_outside_ms": check.worst_outside_ms,
                "parts_sum_error_ms": sum_error * 1000,
                "agree": check.agree,
                "services": services,
            }
        )
    return (
        pd.DataFrame(rows, columns=BREAKDOWN_COLUMNS),
        pd.DataFrame(checks, columns=CHECK_COLUMNS),
    )
