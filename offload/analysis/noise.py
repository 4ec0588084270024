"""Why the load generator fell behind its schedule: its own loop, a busy machine, or the
design under test filling the machine.

A generator that sends late invalidates a run either way — the offered load was not what the
scenario asked for — but the remedy differs: a saturated generator needs a lower rate or
more generator processes (``--load-workers``); a machine that other processes kept busy
needs a quiet machine; a design whose own processes filled the machine has found its limit
on it — at a sweep's high rates the common case, and a finding in itself ("the design
saturated the machine at this rate"), though still not a figure to judge. The reason given
must be the true one, so it is decided here, from the generator's own CPU, the other
processes' share of the machine (``machine.csv``) and the design's own (``samples.csv``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from offload.analysis import numbers
from offload.rundir.summary import GeneratorStats, LagCause, MachineLoad

#: scheduler lag (p99 of requests that did not wait for a slot) above which the generator fell
#: behind its schedule: a request sent 20 ms late is 20 ms of latency the target never caused
SATURATION_LAG_P99_MS = 20.0
#: the generator's own CPU as a share of one core (a Locust process is one gevent loop) above
#: which its own loop is the bottleneck, whatever else ran on the machine
SATURATION_CPU_SHARE = 0.9
#: other processes' CPU in the busiest second of the measured part, as a share of all cores,
#: from which they explain a lagging generator. The lag p99 is decided by the worst ~1 % of
#: the run, so the worst second is the comparable figure; a quarter of all cores is half a
#: core on a 2-core machine — far above a quiet machine's few per cent plus the clock-tick
#: jitter of per-process CPU (10 ms per process per second), and reached by any other
#: process that runs flat out on one core
BUSY_OTHER_PROCESSES_SHARE = 0.25
#: steal (the hypervisor running someone else's VM) in the busiest second, as a share of all
#: cores, from which it explains a lagging generator: a tenth of the machine's CPU taken away
#: for a second stalls a generator whose every send is due within milliseconds
BUSY_STEAL_SHARE = 0.1
#: the machine's busy share of all cores in a second from which it was full: a runnable
#: generator then waits for a core (the rest is the clock-tick jitter of the counters)
MACHINE_FULL_SHARE = 0.9
#: the design's own share of all cores, in that same second, from which it used most of the
#: machine: more than every other process of the run (generator, provider, harness, database
#: server) and everybody else together
DESIGN_MOST_SHARE = 0.5

__all__ = ["LagCause"]


def design_filled_machine(
    busy_share: np.ndarray[Any, Any], design_share: np.ndarray[Any, Any]
) -> bool:
    """Was there a second (per-second shares of all cores) in which the machine was full and
    the design under test's own processes used most of it?"""
    return bool(np.any((busy_share >= MACHINE_FULL_SHARE) & (design_share >= DESIGN_MOST_SHARE)))


def machine_busy(other_processes_max: float | None, steal_max: float | None) -> bool:
    """Did other processes or steal take enough CPU, in some second, to starve a generator?"""
    return (other_processes_max or 0.0) >= BUSY_OTHER_PROCESSES_SHARE or (
        steal_max or 0.0
    ) >= BUSY_STEAL_SHARE


def lag_cause(
    lag_p99_ms: float | None, cpu_share: float | None, machine: MachineLoad | None
) -> LagCause | None:
    """None when the generator kept its schedule; else who made it fall behind.

    Its own CPU above :data:`SATURATION_CPU_SHARE` is the generator's own doing whatever the
    machine did. A lag with the generator's CPU below that is the machine's doing when other
    processes or steal crossed their thresholds; else the design's when its own processes
    filled the machine in some second (:func:`design_filled_machine`); otherwise (no machine
    record, or nobody filled it) it stays the generator's, as before machine sampling.
    """
    own_cpu_full = cpu_share is not None and cpu_share > SATURATION_CPU_SHARE
    lagged = lag_p99_ms is not None and lag_p99_ms > SATURATION_LAG_P99_MS
    if own_cpu_full:
        return "generator"
    if not lagged:
        return None
    if machine is not None and machine.busy:
        return "machine"
    if machine is not None and machine.design_filled:
        return "design"
    return "generator"


#: a few words per cause, for tables and progress lines (the reason says the rest)
CAUSE_LABELS: dict[LagCause, str] = {
    # its own doing, but not always a full core: a run's mean CPU can hide seconds at 100 %
    "generator": "the generator fell behind on its own (not the machine, not the design)",
    "machine": "machine busy with other processes",
    "design": "the design saturated the machine",
}


def invalid_reason(name: str, generator: GeneratorStats, machine: MachineLoad | None) -> str:
    """The validity reason of a design whose generator fell behind, naming the true cause:
    its own full core (saturated), a busy machine, the design filling the machine, or —
    none shown — only what was seen."""
    lag = f"scheduler lag p99 {numbers.ms(generator.lateness_ms.p99)}"
    own = f"{generator.cpu_percent} % of a core"
    not_asked = "the offered load was not what the scenario asked for"
    if generator.lag_cause == "design" and machine is not None:
        return (
            f"{name}: the design saturated the machine at this rate: "
            f"{_design_figures(machine)}; the load generator, its own CPU at only {own}, "
            f"was starved of CPU by the system under test and fell behind its schedule "
            f"({lag}): {not_asked}, so no latency is judged — the finding is that this design "
            "needs more CPU than this machine has at this rate"
        )
    if not generator.saturated and machine is not None:
        return (
            f"{name}: the machine was busy: {_machine_figures(machine)}; the load generator "
            f"fell behind its schedule ({lag}) with its own CPU at only {own}: {not_asked}; "
            "run it again on a quiet machine"
        )
    share = generator.cpu_percent / 100 if generator.cpu_percent is not None else None
    if share is not None and share > SATURATION_CPU_SHARE:
        text = f"{name}: the load generator was saturated (its own CPU {own}, {lag})"
    else:  # late, but neither its own CPU nor other processes account for it
        text = f"{name}: the load generator fell behind its schedule ({lag}, its own CPU {own})"
    if machine is not None:
        state = "was busy too" if machine.busy else "was not busy"
        text += f"; the machine {state}: {_machine_figures(machine)}"
    return f"{text}: {not_asked}; lower the rate or use --load-workers"


def busy_warning(name: str, machine: MachineLoad) -> str:
    """A warning for a valid run on a busy machine: the generator kept its schedule, but the
    design's own processes shared the CPU with others."""
    return (
        f"{name}: the machine was busy: {_machine_figures(machine)}; the load generator kept "
        "its schedule, but the design's figures may be slower than on a quiet machine"
    )


def _machine_figures(machine: MachineLoad) -> str:
    other, steal = machine.other_processes_share, machine.steal_share
    return (
        f"other processes used {_percent(other.mean)} of the CPU (steal "
        f"{_percent(steal.mean)}; in the busiest second {_percent(other.max)} and "
        f"{_percent(steal.max)}, of {machine.cores} cores)"
    )


def _design_figures(machine: MachineLoad) -> str:
    design, busy, other = machine.design_share, machine.busy_share, machine.other_processes_share
    return (
        f"its own processes used {_percent(design.mean if design else None)} of the CPU of "
        f"{machine.cores} cores ({_percent(design.max if design else None)} in their busiest "
        f"second), the machine was up to {_percent(busy.max)} busy, and other processes used "
        f"only {_percent(other.mean)}"
    )


def _percent(share: float | None) -> str:
    return "?" if share is None else f"{share * 100:.1f} %"
