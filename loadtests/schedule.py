"""Arrival schedules: when each request is due, computed before the run starts.

Precomputing the schedule is what makes the generator open-loop: a request is due at
its time whether or not earlier ones have been answered. Both arrival kinds are built
the same way, through the cumulative rate Λ(t) = ∫ rate: constant arrivals sit at
Λ = 0, 1, 2, … (evenly spaced at the instantaneous rate, also across ramps), Poisson
arrivals are a unit-rate Poisson process in Λ mapped back to time (time rescaling).
Everything here is pure and seeded, so every distributed worker computes the same
schedule and takes its own share of it.
"""

from __future__ import annotations

import zlib
from typing import NamedTuple

import numpy as np

from loadtests.plan import Arrivals, LoadPlan, Segment, Stream

__all__ = ["Arrival", "arrival_times", "merge_streams", "stream_seed", "worker_share"]


class Arrival(NamedTuple):
    """One scheduled request: seconds from t=0 (negative in the warm-up) and its stream."""

    offset: float
    stream: str


def stream_seed(stream: Stream) -> int:
    """The stream's Poisson seed: explicit, or derived from its name (stable across runs)."""
    return stream.seed if stream.seed is not None else zlib.crc32(stream.name.encode())


def _timeline(stream: Stream, warmup_s: float) -> list[Segment]:
    """The stream's segments preceded by the warm-up, shifted so that time starts at 0."""
    first_rate = stream.segments[0].rate_from
    pieces = []
    if warmup_s > 0:
        pieces.append(Segment(start_s=0, end_s=warmup_s, rate_from=first_rate, rate_to=first_rate))
    pieces += [
        Segment(
            start_s=s.start_s + warmup_s,
            end_s=s.end_s + warmup_s,
            rate_from=s.rate_from,
            rate_to=s.rate_to,
        )
        for s in stream.segments
    ]
    return pieces


def _invert_cumulative_rate(segments: list[Segment], targets: np.ndarray) -> np.ndarray:
    """Times t with Λ(t) = target, for sorted targets in [0, Λ_total).

    Within a segment starting at rate a with slope k, Λ grows by a·u + k·u²/2 after u
    seconds; u = 2λ / (a + sqrt(a² + 2kλ)) solves it without cancellation, also for k = 0
    and a = 0. Gaps between segments have rate 0 and so contain no arrivals.
    """
    starts = np.array([s.start_s for s in segments])
    rate_a = np.array([s.rate_from for s in segments])
    slope = np.array([(s.rate_to - s.rate_from) / (s.end_s - s.start_s) for s in segments])
    areas = np.array([s.expected_count() for s in segments])
    cum_start = np.concatenate(([0.0], np.cumsum(areas)[:-1]))
    # the last segment whose Λ range starts at or before the target; zero-area segments
    # share their start with the next one, and side="right" skips past them
    idx = np.searchsorted(cum_start, targets, side="right") - 1
    lam = targets - cum_start[idx]
    a = rate_a[idx]
    disc = np.maximum(a * a + 2 * slope[idx] * lam, 0.0)
    denom = a + np.sqrt(disc)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(denom > 0, 2 * lam / denom, 0.0)
    return starts[idx] + u


def arrival_times(stream: Stream, warmup_s: float, duration_s: float) -> np.ndarray:
    """Offsets (seconds from t=0, sorted) at which the stream's requests are due.

    The warm-up covers [-warmup_s, 0) at the first segment's starting rate; the
    measured part covers [0, duration_s). Constant arrivals give round(∫rate) requests
    (±1); Poisson arrivals give a Poisson-distributed count with that mean.
    """
    segments = _timeline(stream, warmup_s)
    total = sum(s.expected_count() for s in segments)
    if total <= 0:
        return np.empty(0)
    if stream.arrivals is Arrivals.CONSTANT:
        # a hair of slack so that floating-point error does not drop the last arrival
        targets = np.arange(0.0, total - 1e-9)
    else:
        rng = np.random.default_rng(stream_seed(stream))
        # a Poisson count, then uniform positions: the same law as summed exponentials
        targets = np.sort(rng.uniform(0.0, total, rng.poisson(total)))
    times = _invert_cumulative_rate(segments, targets) - warmup_s
    return times[times < duration_s]


def merge_streams(plan: LoadPlan) -> list[Arrival]:
    """All streams' arrivals in one time-ordered list (ties keep the plan's stream order)."""
    offsets = []
    labels = []
    for i, stream in enumerate(plan.streams):
        times = arrival_times(stream, plan.warmup_s, plan.duration_s)
        offsets.append(times)
        labels.append(np.full(times.size, i))
    all_offsets = np.concatenate(offsets)
    all_labels = np.concatenate(labels)
    order = np.argsort(all_offsets, kind="stable")
    names = [s.name for s in plan.streams]
    return [
        Arrival(float(o), names[i])
        for o, i in zip(all_offsets[order].tolist(), all_labels[order].tolist(), strict=True)
    ]


def worker_share(arrivals: list[Arrival], worker_index: int, worker_count: int) -> list[Arrival]:
    """This worker's every ``worker_count``-th arrival: workers together send the whole plan."""
    if not 0 <= worker_index < worker_count:
        raise ValueError(f"worker_index {worker_index} not in [0, {worker_count})")
    return arrivals[worker_index::worker_count]
