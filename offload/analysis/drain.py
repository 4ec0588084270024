"""The drain rate of a queue-backed design: emails delivered per second while a backlog
stood, beside what its configuration allows, and what bounded it.

*While a backlog stood* means while the unfinished jobs were more than ``workers ×
prefetch`` — the jobs the workers can hold at once — so jobs were waiting for a worker and
the workers, not the arrivals, set the pace. The backlog is counted exactly from the job
events (``job_events.csv``: each job's ``queued`` event, less its ``delivered`` or
``dead_lettered`` one), so a drain of a second or two is seen whole; a run without them falls
back on the 1 Hz backlog samples (``queues.csv``: between two consecutive samples both above
the slots); each stretch of such intervals
counts from its first delivery (before it the workers were starting, or scaled to none).
The rate is the provider's ``delivered`` answers inside those intervals
(``provider-log.jsonl``) over their length. A
run whose backlog never stood so (or for less than :data:`MIN_STANDING_S`) has no figure:
its deliveries followed the arrivals and say nothing about how fast its workers drain — a
0 there would read "drains nothing".

Beside it, the capacity model's ceiling (``workers × prefetch ÷ L``, L the provider's
configured latency, capped at the provider timeout) and the figures that say which part held
the rate below it, all over the same intervals. By Little's law the delivery rate is the
calls at the provider at once over the provider's time per call, so the shortfall splits
into two measured factors: how full the workers' windows were *at the provider* (calls in
flight ÷ slots) and how much slower the provider answered than configured. What took the
rest of each job's time is read from the CPU the design's parts used (``samples.csv``,
``machine.csv``) and, when the cores were not full, from the job events (``job_events.csv``:
the start-attempt write before the call, the outcome recorded after it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from offload.analysis import numbers
from offload.rundir.summary import DrainBound, DrainRate

#: the backlog must have stood this long (seconds, summed over intervals) for a figure, with
#: at least :data:`MIN_DELIVERED` deliveries in it: less is a count, not a rate
MIN_STANDING_S = 1.0
MIN_DELIVERED = 20
#: job events that finish a job (it leaves the backlog)
FINISHED = ("delivered", "dead_lettered")
#: the measured rate within this share of the ceiling: the workers' windows were the bound
AT_CEILING = 0.8
#: calls at the provider at once, as a share of the slots, from which the windows were full
#: at the provider (so a shortfall is the provider's slower answers)
WINDOWS_FULL = 0.8
#: the machine's busy share of all cores from which its CPU was the bound: below the 90 % a
#: single second needs (offload.analysis.noise), because this is a mean over the whole
#: standing window read from 1 Hz counters, which blends in the quieter seconds at its edges
CPU_FULL = 0.85
#: samples.csv roles → the part of the design they are, for the CPU split
PARTS = {
    "worker": "workers",
    "server": "API",
    "broker": "broker",
    "other": "relay and other",
    "provider": "provider (rig)",
    "generator": "generator (rig)",
    "database": "database server",
}
#: the part whose CPU is the run's own CPU (machine.csv) beyond every sampled component: the
#: harness, and in runs from before a local database server was sampled, that server
UNSAMPLED = "harness and unsampled"


def standing_intervals(queues: pd.DataFrame, slots: int) -> list[tuple[float, float]]:
    """(start, end) epochs between consecutive backlog samples both above ``slots``."""
    if queues.empty or "role" not in queues:
        return []
    backlog = queues[queues["role"] == "backlog"][["t", "depth"]].copy()
    backlog["depth"] = pd.to_numeric(backlog["depth"], errors="coerce")
    backlog = backlog.dropna().sort_values("t")
    times = backlog["t"].to_numpy(dtype=float)
    above = backlog["depth"].to_numpy(dtype=float) > slots
    return [
        (float(times[i]), float(times[i + 1]))
        for i in range(len(times) - 1)
        if above[i] and above[i + 1] and times[i + 1] > times[i]
    ]


def event_intervals(events: pd.DataFrame, slots: int) -> list[tuple[float, float]] | None:
    """(start, end) epochs of the stretches in which more than ``slots`` jobs were unfinished,
    from the job events; None when the events hold no ``queued`` event to count from."""
    if events.empty or "state" not in events or "at" not in events:
        return None
    queued = events.loc[events["state"] == "queued", "at"].to_numpy(dtype=float)
    if not len(queued):
        return None
    finished = events.loc[events["state"].isin(FINISHED), "at"].to_numpy(dtype=float)
    times = np.concatenate([queued, finished])
    steps = np.concatenate([np.ones(len(queued)), -np.ones(len(finished))])
    order = np.argsort(times, kind="stable")
    times, backlog = times[order], np.cumsum(steps[order])
    above = backlog > slots
    intervals, start = [], None
    for t, high in zip(times, above, strict=True):
        if high and start is None:
            start = float(t)
        elif not high and start is not None:
            intervals.append((start, float(t)))
            start = None
    if start is not None:  # still standing at the last event: up to it
        intervals.append((start, float(times[-1])))
    return [(a, b) for a, b in intervals if b > a]


def from_first_delivery(
    intervals: list[tuple[float, float]], delivered_at: np.ndarray[Any, Any]
) -> list[tuple[float, float]]:
    """Each stretch of touching intervals from its first delivery on: time a backlog stood
    before any email left is workers starting (or scaled to none), not their pace. (Counting
    that first delivery over the time after it overstates the rate by one delivery per
    stretch: under 5 % with the :data:`MIN_DELIVERED` a figure needs, nothing at hundreds.)"""
    stretches: list[list[float]] = []
    for start, end in intervals:
        if stretches and stretches[-1][1] == start:
            stretches[-1][1] = end
        else:
            stretches.append([start, end])
    kept = []
    for start, end in stretches:
        after = delivered_at[(delivered_at >= start) & (delivered_at < end)]
        if len(after):
            kept.append((max(start, float(after[0])), end))
    return kept


def _inside(
    values: np.ndarray[Any, Any], intervals: list[tuple[float, float]]
) -> np.ndarray[Any, Any]:
    mask = np.zeros(len(values), dtype=bool)
    for start, end in intervals:
        mask |= (values >= start) & (values < end)
    return mask


def _overlap(
    begins: np.ndarray[Any, Any], ends: np.ndarray[Any, Any], intervals: list[tuple[float, float]]
) -> float:
    """Seconds the spans [begin, end) spent inside the intervals, summed over spans."""
    total = 0.0
    for start, end in intervals:
        total += float(np.clip(np.minimum(ends, end) - np.maximum(begins, start), 0, None).sum())
    return total


def _cumulative_at(times: np.ndarray[Any, Any], values: np.ndarray[Any, Any], at: float) -> float:
    return float(np.interp(at, times, values))


def _used(
    times: np.ndarray[Any, Any], values: np.ndarray[Any, Any], intervals: list[tuple[float, float]]
) -> float:
    """CPU seconds a cumulative counter grew by inside the intervals (interpolated)."""
    if len(times) < 2:
        return 0.0
    return sum(
        max(0.0, _cumulative_at(times, values, end) - _cumulative_at(times, values, start))
        for start, end in intervals
    )


def cpu_split(
    samples: pd.DataFrame, machine: pd.DataFrame, intervals: list[tuple[float, float]]
) -> tuple[dict[str, float], float | None, int | None]:
    """Cores each part of the run used on average inside the intervals, the machine's busy
    share of all its cores there, and its core count (None without ``machine.csv``)."""
    length = sum(end - start for start, end in intervals)
    parts: dict[str, float] = {}
    sampled = 0.0
    if not samples.empty and "cpu_s" in samples:
        for (component, role), rows in samples.groupby(["component", "role"], sort=True):
            rows = rows.dropna(subset=["cpu_s"]).sort_values("t")
            used = _used(
                rows["t"].to_numpy(dtype=float), rows["cpu_s"].to_numpy(dtype=float), intervals
            )
            sampled += used
            part = PARTS.get(str(role), str(component))
            parts[part] = parts.get(part, 0.0) + used
    busy_share, cores = None, None
    if not machine.empty and len(machine) >= 2:
        rows = machine.sort_values("t")
        times = rows["t"].to_numpy(dtype=float)
        cores = int(rows["cores"].iloc[-1])
        total = _used(times, rows["total_s"].to_numpy(dtype=float), intervals)
        busy = _used(times, rows["busy_s"].to_numpy(dtype=float), intervals)
        run = _used(times, rows["run_cpu_s"].to_numpy(dtype=float), intervals)
        busy_share = round(busy / total, 4) if total > 0 else None
        if run > sampled:
            parts[UNSAMPLED] = run - sampled
    return (
        {part: round(used / length, 3) for part, used in parts.items() if used > 0},
        busy_share,
        cores,
    )


def _event_split(
    events: pd.DataFrame, provider: pd.DataFrame, delivered_ids: set[str]
) -> tuple[float | None, float | None]:
    """Mean seconds per delivered job from its ``sending`` event (just before the
    start-attempt write) to the provider receiving it, and from the provider's answer to
    its ``delivered`` event (the outcome's write begins): the database's part of a job."""
    if events.empty or "state" not in events or not delivered_ids:
        return None, None
    mine = events[events["job_id"].astype(str).isin(delivered_ids)]
    sending = mine[mine["state"] == "sending"].groupby("job_id")["at"].max()
    done = mine[mine["state"] == "delivered"].groupby("job_id")["at"].max()
    calls = provider[provider["outcome"] == "delivered"].groupby("job_id")[["ts", "done_ts"]].max()
    before = (calls["ts"] - sending.reindex(calls.index)).dropna()
    after = (done.reindex(calls.index) - calls["done_ts"]).dropna()
    return _mean_s(before), _mean_s(after)


def _mean_s(seconds: pd.Series[float]) -> float | None:
    """The mean of non-negative waits (clock reads a few µs apart can cross), or None."""
    return round(float(seconds.clip(lower=0).mean()), 4) if len(seconds) else None


def drain_rate(
    *,
    queues: pd.DataFrame,
    provider: pd.DataFrame,
    samples: pd.DataFrame,
    machine: pd.DataFrame,
    events: pd.DataFrame,
    workers: int,
    prefetch: int,
    latency_at: Callable[[float], float | None],
) -> DrainRate | None:
    """The drain rate and its bound (see the module's docstring); None when no backlog stood
    above ``workers × prefetch`` for :data:`MIN_STANDING_S`. Every frame has epoch times;
    ``latency_at(epoch)`` is the provider's configured latency then (s; None unknown)."""
    slots = max(1, workers * prefetch)
    if provider.empty:
        return None
    done = provider["done_ts"].to_numpy(dtype=float)
    delivered_at = np.sort(
        done[(provider["outcome"] == "delivered").to_numpy() & np.isfinite(done)]
    )
    exact = event_intervals(events, slots)
    standing = exact if exact is not None else standing_intervals(queues, slots)
    intervals = from_first_delivery(standing, delivered_at)
    length = sum(end - start for start, end in intervals)
    if length < MIN_STANDING_S:
        return None
    delivered_mask = (provider["outcome"] == "delivered").to_numpy() & _inside(done, intervals)
    delivered = int(delivered_mask.sum())
    if delivered < MIN_DELIVERED:
        return None
    rate = delivered / length
    answered = provider[_inside(done, intervals) & np.isfinite(done)]
    service = (answered["done_ts"] - answered["ts"]).dropna()
    measured_ms = round(float(service.mean()) * 1000, 2) if len(service) else None
    begins = provider["ts"].to_numpy(dtype=float)
    ends = np.where(np.isfinite(done), done, begins)
    in_flight = _overlap(begins, ends, intervals) / length
    latencies = [
        (lat, end - start)
        for start, end in intervals
        if (lat := latency_at((start + end) / 2)) is not None
    ]
    latency_s = (
        sum(lat * w for lat, w in latencies) / sum(w for _, w in latencies) if latencies else None
    )
    ceiling = slots / latency_s if latency_s else None
    parts, busy_share, cores = cpu_split(samples, machine, intervals)
    ids = set(provider.loc[delivered_mask, "job_id"].dropna().astype(str))
    before, after = _event_split(events, provider, ids)
    queued = queues[(queues["role"] == "backlog")] if not queues.empty else queues
    peak = pd.to_numeric(queued["depth"], errors="coerce").max() if not queued.empty else None
    figure = DrainRate(
        jobs_per_s=round(rate, 2),
        delivered=delivered,
        standing_s=round(length, 3),
        slots=slots,
        backlog_from="job_events" if exact is not None else "samples",
        peak_backlog=int(peak) if peak is not None and np.isfinite(peak) else None,
        provider_ms=round(latency_s * 1000, 2) if latency_s else None,
        ceiling_jobs_per_s=round(ceiling, 2) if ceiling else None,
        provider_measured_ms=measured_ms,
        provider_in_flight=round(in_flight, 2),
        cpu_cores=parts,
        machine_busy_share=busy_share,
        cores=cores,
        before_call_ms=round(before * 1000, 2) if before is not None else None,
        after_call_ms=round(after * 1000, 2) if after is not None else None,
        bound="unexplained",
        bound_reason="",
    )
    bound, reason = drain_bound(figure)
    return figure.model_copy(update={"bound": bound, "bound_reason": reason})


def drain_bound(figure: DrainRate) -> tuple[DrainBound, str]:
    """What held the drain rate, with the figure that shows it.

    In order: the rate within :data:`AT_CEILING` of the ceiling → the workers' windows
    (``prefetch``); the windows full at the provider but its answers slower than configured →
    ``provider``; the machine's cores full → the part that used most of them (``workers``,
    ``broker``, ``database``, or ``cpu`` for another); else the job events' database part
    against the rest of a job's time outside the call (``database`` or ``broker``).
    """
    rate, ceiling = figure.jobs_per_s, figure.ceiling_jobs_per_s
    occupancy = figure.provider_in_flight / figure.slots
    measured = f"{numbers.rate(rate)} delivered while the backlog stood"
    if ceiling is not None and rate >= AT_CEILING * ceiling:
        return "prefetch", (
            f"{measured}, {rate / ceiling:.0%} of the ceiling workers × prefetch ÷ provider "
            f"latency = {figure.slots} ÷ {numbers.ms(figure.provider_ms)} = "
            f"{numbers.rate(ceiling)}: the workers' windows were full at the provider's "
            "latency; more workers or a larger prefetch raise it"
        )
    shortfall = f" ({rate / ceiling:.0%} of the ceiling {numbers.rate(ceiling)})" if ceiling else ""
    if occupancy >= WINDOWS_FULL:
        return "provider", (
            f"{measured}{shortfall} with {figure.provider_in_flight:.1f} of {figure.slots} slots "
            f"at the provider at once ({occupancy:.0%}): the windows were full, and the "
            f"provider answered in {numbers.ms(figure.provider_measured_ms)} on average, not "
            f"the configured {numbers.ms(figure.provider_ms)}"
        )
    held = (
        f"{measured}{shortfall}; only {figure.provider_in_flight:.1f} of {figure.slots} slots "
        f"were at the provider at once ({occupancy:.0%}), so jobs spent most of their time in "
        "the worker outside the call"
    )
    busy = figure.machine_busy_share
    if busy is not None and busy >= CPU_FULL:
        top = max(figure.cpu_cores, key=lambda part: figure.cpu_cores[part], default=None)
        bound: DrainBound = {
            "workers": "workers",
            "broker": "broker",
            PARTS["database"]: "database",
        }.get(top or "", "cpu")  # type: ignore[assignment]  # the values are DrainBound literals
        used = f" ({figure.cpu_cores[top]:.2f} cores)" if top else ""
        return bound, (
            f"{held}: the machine's {figure.cores} cores were {numbers.pct(busy)} busy, and "
            f"the {top} used the most of them{used}"
        )
    before, after = figure.before_call_ms, figure.after_call_ms
    if before is None or after is None:
        return "unexplained", f"{held}; the cores were not full and no job events say where"
    hold_ms = figure.slots / rate * 1000 if rate > 0 else None
    database = before + after
    rest = (hold_ms or 0.0) - database - (figure.provider_measured_ms or 0.0)
    if database >= rest:
        return "database", (
            f"{held}; the cores were not full ({numbers.pct(busy)}); a job waited "
            f"{numbers.ms(before)} from its start-attempt write (batched with others) to the "
            f"provider receiving it and {numbers.ms(after)} from the answer to its outcome "
            "write — the database round trips, more than the rest of its time outside the call"
        )
    return "broker", (
        f"{held}; the cores were not full ({numbers.pct(busy)}) and the database's part of a "
        f"job ({numbers.ms(database)}) is less than the {numbers.ms(rest)} it spent outside "
        "every record — waiting for the broker's delivery and acks"
    )
