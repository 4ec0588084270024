"""CPU per signup of one cell, with an interval: the design's own CPU over the measured part,
cut into equal blocks (batch means).

The summary's cost figure is the CPU of the whole run — start-up and drain included — which
in a cell of a few seconds is mostly the processes' start. The sweep compares designs cell by
cell, so it takes only the measured part: each component's cumulative CPU from
``samples.csv`` (one sample a second) read at the part's ends by linear interpolation, the
rig (provider, load generator) left out as in every cost figure, divided by the signups
answered 2xx that were scheduled in it. The interval is Student's t over
:data:`BLOCKS` equal blocks of the part, each its own CPU per signup (CPU cannot be negative:
the low end is at least 0), and there is none when a block has fewer than
:data:`MIN_BLOCK_SIGNUPS` signups answered: two designs whose intervals overlap, or a design
without one, are "no clear difference" on the crossover map.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from offload.analysis import records
from offload.analysis.cost import is_rig
from offload.analysis.uncertainty import mean_interval

#: blocks the measured part is cut into for the interval (Student's t with 4 degrees of freedom)
BLOCKS = 5
#: signups answered 2xx each block needs for the interval: below it, a block's CPU per signup
#: swings with a few requests (a design failing most signups), and the cell has no interval
MIN_BLOCK_SIGNUPS = 10


@dataclass(frozen=True)
class CpuPerSignup:
    #: CPU seconds of the design's own components per 1,000 signups answered 2xx
    per_1000: float | None
    interval: tuple[float, float] | None


def _monotonic(values: np.ndarray) -> np.ndarray:
    """A cumulative CPU counter with every restart (the counter drops) counted from zero."""
    if values.size == 0:
        return values
    steps = np.diff(values)
    steps = np.where(steps >= 0, steps, values[1:])
    return np.concatenate([[0.0], np.cumsum(steps)])


def own_cpu_between(samples: pd.DataFrame, start: float, end: float) -> float:
    """CPU seconds the design's own components used between two epoch times."""
    total = 0.0
    for component, rows in samples.groupby("component", sort=True):
        if is_rig(str(component)):
            continue
        rows = rows.dropna(subset=["cpu_s"]).sort_values("t")
        if len(rows) < 2:
            continue
        t = rows["t"].to_numpy(dtype=float)
        used = _monotonic(rows["cpu_s"].to_numpy(dtype=float))
        total += float(np.interp(end, t, used) - np.interp(start, t, used))
    return total


def cpu_per_signup(design_dir: Path, t0: float, duration_s: float) -> CpuPerSignup:
    """The design's CPU per 1,000 signups answered over the measured part, with a 95 %
    interval over :data:`BLOCKS` blocks; None when no signup was answered."""
    samples = records.samples(design_dir)
    requests = records.requests(design_dir)
    ok = requests[
        (requests["phase"] == "measured")
        & (requests["stream"] == "signup")
        & (requests["error_class"] == "")
    ]
    if samples.empty or ok.empty:
        return CpuPerSignup(None, None)
    offsets = ok["offset"].to_numpy(dtype=float)
    total_cpu = own_cpu_between(samples, t0, t0 + duration_s)
    per_1000 = total_cpu / len(offsets) * 1000
    edges = np.linspace(0.0, duration_s, BLOCKS + 1)
    blocks = []
    for low, high in itertools.pairwise(edges):
        answered = int(((offsets >= low) & (offsets < high)).sum())
        if answered < MIN_BLOCK_SIGNUPS:  # a ratio over a handful of signups is noise
            return CpuPerSignup(round(per_1000, 3), None)
        cpu = own_cpu_between(samples, t0 + low, t0 + high)
        blocks.append(cpu / answered * 1000)
    interval = mean_interval(blocks)
    if interval is None:
        return CpuPerSignup(round(per_1000, 3), None)
    low, high = interval
    return CpuPerSignup(round(per_1000, 3), _rounded((max(0.0, low), high)))


def _rounded(interval: tuple[float, float]) -> tuple[float, float]:
    return round(interval[0], 3), round(interval[1], 3)
