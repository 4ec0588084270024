"""Per-second series for the time charts, each from one raw record file.

Seconds are counted from the design's t=0. Latency is binned by the second a request was
*scheduled* in (what a user arriving then experienced); goodput and errors by the second the
answer came (what the server delivered then). Per-second percentiles use numpy on the
handful of values in a second; summary-level percentiles stay HDR-based
(:mod:`offload.analysis.percentiles`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from offload.rundir.manifest import PhaseRecord

#: error classes in the order charts and tables list them
ERROR_CLASSES = ("timeout", "http_5xx", "connection", "http_4xx", "dropped")


def _seconds(values: pd.Series) -> pd.Series:
    return pd.Series(np.floor(values.astype(float)), index=values.index).astype("Int64")


def _frame(index: range, **columns: pd.Series) -> pd.DataFrame:
    frame = pd.DataFrame(index=pd.Index(list(index), name="t_s"))
    for name, series in columns.items():
        frame[name] = series.reindex(frame.index)
    return frame


def _span(duration_s: float) -> range:
    return range(0, max(1, int(np.ceil(duration_s))))


def latency_per_second(requests: pd.DataFrame, duration_s: float) -> pd.DataFrame:
    """p50 and p99 (ms) of the requests scheduled in each second; NaN in a second without any."""
    sent = requests[requests["latency_s"].notna()]
    groups = (sent["latency_s"] * 1000).groupby(_seconds(sent["offset"]))
    return _frame(
        _span(duration_s),
        p50_ms=groups.quantile(0.5),
        p99_ms=groups.quantile(0.99),
        count=groups.size().astype(float),
    )


def offered_and_goodput(requests: pd.DataFrame, duration_s: float) -> pd.DataFrame:
    """Scheduled per second (offered) and 2xx answers per second by answer time (goodput)."""
    offered = requests.groupby(_seconds(requests["offset"])).size().astype(float)
    ok = requests[requests["error_class"] == ""]
    goodput = ok.groupby(_seconds(ok["end_s"])).size().astype(float)
    end = max(duration_s, float(ok["end_s"].max()) + 1 if not ok.empty else 0.0)
    frame = _frame(_span(end), offered=offered, goodput=goodput)
    inside = frame.index < duration_s
    frame["offered"] = frame["offered"].fillna(0.0).where(inside, np.nan)
    frame["goodput"] = frame["goodput"].fillna(0.0)
    return frame


def errors_per_second(requests: pd.DataFrame, duration_s: float) -> pd.DataFrame:
    """Failed requests per second by class, by the time the client learnt of the failure
    (a dropped request, never sent, counts at its scheduled time)."""
    failed = requests[requests["error_class"] != ""]
    when = failed["end_s"].where(failed["end_s"].notna(), failed["offset"])
    end = max(duration_s, float(when.max()) + 1 if not when.empty else 0.0)
    frame = pd.DataFrame(index=pd.Index(list(_span(end)), name="t_s"))
    for error_class in ERROR_CLASSES:
        mask = failed["error_class"] == error_class
        counts = failed[mask].groupby(_seconds(when[mask])).size()
        frame[error_class] = counts.reindex(frame.index).fillna(0).astype(float)
    return frame


def error_rate_per_second(requests: pd.DataFrame, duration_s: float) -> pd.Series:
    """Share of the requests scheduled in each second that did not get a 2xx."""
    second = _seconds(requests["offset"])
    failed = (requests["error_class"] != "").astype(float)
    rate = failed.groupby(second).mean()
    return rate.reindex(pd.Index(list(_span(duration_s)), name="t_s"))


def queue_series(queues: pd.DataFrame) -> pd.DataFrame:
    """Per sample: unfinished jobs (backlog), ready messages in the work and retry queues,
    and messages in the dead-letter queue."""
    if queues.empty:
        return pd.DataFrame(columns=["t_s", "backlog", "ready", "dead"])
    by_role = queues.pivot_table(index="t_s", columns="role", values="depth", aggfunc="sum")
    frame = pd.DataFrame(index=by_role.index)
    frame["backlog"] = by_role.get("backlog")
    ready = [c for c in ("work", "retry") if c in by_role]
    frame["ready"] = by_role[ready].sum(axis=1, min_count=1) if ready else np.nan
    frame["dead"] = by_role.get("dead")
    return frame.reset_index()


def deliveries_per_second(provider: pd.DataFrame, end_s: float) -> pd.Series:
    """Emails the provider accepted per second (its ``delivered`` records, by answer time):
    the worker throughput of a queue-backed design, the inline sending rate of a sync one."""
    accepted = provider[provider["outcome"] == "delivered"]
    counts = accepted.groupby(_seconds(accepted["done_s"])).size().astype(float)
    return counts.reindex(_index_covering(counts, end_s)).fillna(0.0)


def job_events_per_second(events: pd.DataFrame, state: str, end_s: float) -> pd.Series:
    """Job events of one state (``retrying``, ``dead_lettered``) per second."""
    if events.empty or "state" not in events:
        return pd.Series(0.0, index=pd.Index(list(_span(end_s)), name="t_s"))
    chosen = events[events["state"] == state]
    counts = chosen.groupby(_seconds(chosen["t_s"])).size().astype(float)
    return counts.reindex(_index_covering(counts, end_s)).fillna(0.0)


def _index_covering(counts: pd.Series, end_s: float) -> pd.Index:
    """Whole seconds from 0 (or the earliest count) to ``end_s`` (or the latest count)."""
    start = min(0, int(counts.index.min())) if len(counts) else 0
    stop = max(int(np.ceil(end_s)), int(counts.index.max()) + 1 if len(counts) else 0)
    return pd.Index(list(range(start, stop)), name="t_s")


def backlog_recovery_s(
    queue: pd.DataFrame, fault_end_s: float, healthy_level: float
) -> float | None:
    """Seconds from the end of the fault until the backlog is back to its healthy level
    (None when it never came back in the recorded samples)."""
    if queue.empty or "backlog" not in queue:
        return None
    after = queue[(queue["t_s"] >= fault_end_s) & queue["backlog"].notna()]
    back = after[after["backlog"] <= healthy_level]
    if back.empty:
        return None
    return max(0.0, float(back["t_s"].iloc[0]) - fault_end_s)


def backlog_recovery(
    queue: pd.DataFrame, phases: list[PhaseRecord], disturbed: set[str]
) -> tuple[float, float | None] | None:
    """After the last disturbed phase: the healthy backlog level (the highest sample of the
    first undisturbed phase, at least 1) and the seconds until the backlog was back at or
    below it. None when the scenario has no disturbed phase or no healthy phase."""
    from offload.analysis.phases import reference_phase

    shaded = [p for p in phases if p.name in disturbed]
    healthy = reference_phase(phases, disturbed)
    if not shaded or healthy is None or queue.empty:
        return None
    inside = queue[(queue["t_s"] >= healthy.start_s) & (queue["t_s"] < healthy.end_s)]
    level = max(1.0, float(inside["backlog"].max()) if inside["backlog"].notna().any() else 1.0)
    return level, backlog_recovery_s(queue, max(p.end_s for p in shaded), level)
