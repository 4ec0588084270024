"""The machine's CPU during the measured part of a design's run, from ``machine.csv``.

The sampler writes cumulative counters once a second (``offload.run.sampler``): the
machine's total, busy, steal and iowait CPU seconds over all cores, and the CPU of the run's
own processes at the same tick. Differences between consecutive rows give per-second shares
of all cores; what the machine was busy with beyond the run's own processes is what other
processes used. The design under test's own share comes from ``samples.csv`` (its components'
cumulative CPU, the rig — provider and generator — left out), read at the same ticks: when
it filled the machine, a generator that fell behind was starved by the system it measures.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from offload.analysis.cost import is_rig
from offload.analysis.noise import design_filled_machine, machine_busy
from offload.rundir.summary import MachineLoad, Share

#: intervals shorter than this (seconds of wall time; the last sample is taken when the
#: sampler stops, often a fraction of a second after the one before) are left out of the
#: per-second figures: CPU counters tick every 10 ms, so a 0.1 s interval is ±10 % noise
MIN_INTERVAL_S = 0.5


def machine_load(
    frame: pd.DataFrame, start: float, end: float, samples: pd.DataFrame | None = None
) -> MachineLoad | None:
    """Shares of all cores between epochs ``start`` and ``end`` (the measured part); None
    when the run has no machine record or no whole interval inside the window. ``samples``
    (the design's ``samples.csv``) adds the design's own share; without it there is none."""
    if frame.empty or len(frame) < 2:
        return None
    rows = frame.sort_values("t")
    deltas = rows[["total_s", "busy_s", "steal_s", "iowait_s", "run_cpu_s"]].diff().iloc[1:]
    begun = rows["t"].to_numpy(dtype=float)[:-1]
    ended = rows["t"].to_numpy(dtype=float)[1:]
    cores = int(rows["cores"].iloc[-1])
    middle = (begun + ended) / 2
    inside = (
        (middle >= start)
        & (middle <= end)
        & (ended - begun >= MIN_INTERVAL_S)
        & (deltas["total_s"].to_numpy(dtype=float) > 0)
    )
    window = deltas[inside]
    if window.empty:
        return None
    total = window["total_s"].to_numpy(dtype=float)
    busy = window["busy_s"].to_numpy(dtype=float)
    # the run's processes and the machine are read a few ms apart: clip to what is possible
    other = np.clip(_settled_other(rows)[np.asarray(inside)], 0.0, busy)
    steal = window["steal_s"].to_numpy(dtype=float)
    iowait = window["iowait_s"].to_numpy(dtype=float)
    other_share = _share(other, total)
    steal_share = _share(steal, total)
    design = _design_cpu(samples, rows["t"].to_numpy(dtype=float))
    design_share = None
    filled = False
    if design is not None:
        # the design's processes are part of the run's: never more than the machine was busy
        used = np.clip(np.diff(design)[np.asarray(inside)], 0.0, busy)
        design_share = _share(used, total)
        filled = design_filled_machine(busy / total, used / total)
    return MachineLoad(
        cores=cores,
        seconds=len(window),
        busy_share=_share(busy, total),
        other_processes_share=other_share,
        steal_share=steal_share,
        iowait_share=_share(iowait, total),
        busy=machine_busy(other_share.max, steal_share.max),
        design_share=design_share,
        design_filled=filled,
    )


def _settled_other(rows: pd.DataFrame) -> np.ndarray[Any, Any]:
    """Per interval, the machine's busy CPU that no process of the run accounts for, with CPU
    the run's counters credited late given back to the second it was used.

    A process the sampler starts watching a tick after it started (a worker started mid-run)
    is counted from its start, so its first second lands one tick late: the raw difference
    "busy minus the run's" reads half a core of "other processes" in one second and as much
    *negative* in the next — on a quiet machine, enough to flag it busy (seen in every
    drain-rate run). CPU that other processes used is never credited back to the run, so
    the cumulative difference only ever falls by such late credit: its running minimum taken
    from the end (what it never again goes below) is the other processes' cumulative CPU.
    """
    cumulative = (rows["busy_s"] - rows["run_cpu_s"]).to_numpy(dtype=float)
    settled = np.minimum.accumulate(cumulative[::-1])[::-1]
    return np.asarray(np.diff(settled), dtype=float)


def _design_cpu(
    samples: pd.DataFrame | None, ticks: np.ndarray[Any, Any]
) -> np.ndarray[Any, Any] | None:
    """Cumulative CPU seconds of the design's own components (not the rig) at each machine
    tick, interpolated between their samples (the sampler writes both at the same tick)."""
    if samples is None or samples.empty or "cpu_s" not in samples:
        return None
    own = samples[~samples["component"].astype(str).map(is_rig)]
    if own.empty:
        return None
    by_tick = own.pivot_table(index="t", columns="component", values="cpu_s", aggfunc="sum")
    # a component with no process at a tick keeps what it had used (the sampler's counter)
    cumulative = by_tick.sort_index().ffill().fillna(0.0).sum(axis=1)
    if len(cumulative) < 2:
        return None
    times = cumulative.index.to_numpy(dtype=float)
    return np.asarray(np.interp(ticks, times, cumulative.to_numpy(dtype=float)), dtype=float)


def _share(used: np.ndarray[Any, Any], total: np.ndarray[Any, Any]) -> Share:
    per_second = used / total
    return Share(
        mean=round(float(used.sum() / total.sum()), 4),
        p50=round(float(np.median(per_second)), 4),
        max=round(float(per_second.max()), 4),
    )
