"""The whole machine's CPU counters, so a run can tell its own load from everybody else's.

A load generator that falls behind its schedule says nothing about *why*: its own loop may
be full, or other processes (another benchmark, a build, a neighbour VM taking the host's
CPU) may have left it none. The sampler reads these counters beside each component's CPU;
the machine's busy time minus the run's own processes' CPU is what everybody else used.
"""

from __future__ import annotations

from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class MachineTimes:
    """CPU seconds summed over all cores since boot, split the way the analysis needs them.

    ``busy_s`` is time spent running something on this machine (user, nice, system, irq,
    softirq; guest time is inside user on Linux). ``steal_s`` is time the hypervisor gave the
    machine's virtual CPUs to someone else, ``iowait_s`` idle time with I/O outstanding.
    ``total_s`` is all of it plus idle, so shares are of the capacity actually elapsed.
    """

    cores: int
    total_s: float
    busy_s: float
    steal_s: float
    iowait_s: float


def machine_times() -> MachineTimes:
    """Read the counters now (``/proc/stat`` on Linux; fields a platform lacks count 0)."""
    times = psutil.cpu_times()

    def field(name: str) -> float:
        return float(getattr(times, name, 0.0))

    busy = sum(field(name) for name in ("user", "nice", "system", "irq", "softirq"))
    steal = field("steal")
    iowait = field("iowait")
    return MachineTimes(
        cores=psutil.cpu_count() or 1,
        total_s=busy + steal + iowait + field("idle"),
        busy_s=busy,
        steal_s=steal,
        iowait_s=iowait,
    )
