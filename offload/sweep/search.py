"""The bounded search for a design's maximum rate under the SLO: doubling, then bisection.

The grid has already judged some rates; the search starts from them. Doubling begins at the
highest rate that met the SLO below the first one that missed it, and doubles while the
double is below the first rate known to miss (or until a rate misses, or ``max_rate`` is
passed); bisection then halves the bracket between the last rate
that met the SLO and the first that missed it until their ratio is within ``resolution``.
Every new rate costs one run, so the search is bounded by ``max_runs`` and ``max_time`` too,
and says which bound stopped it. An invalid cell (the generator or the machine fell behind)
judges nothing, so the search stops there and names it, rather than reading it as a miss.

The runner is a function of the rate, so the search is tested on a fake one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from offload.sweep.rundir import Verdict

StoppedBy = Literal["resolution", "runs", "time", "max_rate", "lowest_rate", "invalid"]


@dataclass(frozen=True)
class Judged:
    """A rate and its cell's verdict; ``folder`` names the cell that says so."""

    rate: float
    verdict: Verdict
    folder: str
    ran: bool = True


@dataclass
class SearchResult:
    #: the highest rate that met the SLO (None: none did)
    best: Judged | None
    #: the lowest rate above ``best`` that missed it or was invalid (None: none found)
    bound: Judged | None
    stopped_by: StoppedBy
    steps: list[Judged] = field(default_factory=list)

    @property
    def runs(self) -> int:
        return sum(1 for step in self.steps if step.ran)


def bracket(known: list[Judged]) -> tuple[Judged | None, Judged | None]:
    """The highest rate that met the SLO below the lowest that did not, and that one."""
    ordered = sorted(known, key=lambda j: j.rate)
    first_bad = next((j for j in ordered if j.verdict != "meets"), None)
    below = [j for j in ordered if j.verdict == "meets"]
    if first_bad is not None:
        below = [j for j in below if j.rate < first_bad.rate]
    return (below[-1] if below else None), first_bad


def midpoint(low: float, high: float) -> float:
    """The bisection's next rate, rounded to three significant figures (a rate people read)."""
    middle = (low + high) / 2
    return float(f"{middle:.3g}")


def search_max_rate(
    run: Callable[[float], Judged],
    known: list[Judged],
    *,
    max_rate: float,
    max_runs: int,
    max_time_s: float,
    resolution: float,
    clock: Callable[[], float] = time.monotonic,
) -> SearchResult:
    """Find the highest rate that meets the SLO, from the ``known`` verdicts, calling
    ``run(rate)`` for each new rate (at most ``max_runs`` times, none started after
    ``max_time_s``)."""
    started = clock()
    best, bound = bracket(known)
    steps: list[Judged] = []

    def budget_left() -> StoppedBy | None:
        if sum(1 for s in steps if s.ran) >= max_runs:
            return "runs"
        if clock() - started >= max_time_s:
            return "time"
        return None

    def result(stopped_by: StoppedBy) -> SearchResult:
        return SearchResult(best, bound, stopped_by, steps)

    if bound is not None and bound.verdict == "invalid":
        return result("invalid")
    if best is None:
        # the lowest rate already missed the SLO: nothing below the grid is searched
        return result("lowest_rate")
    while bound is None or best.rate * 2 < bound.rate:  # doubling
        rate = best.rate * 2
        if rate > max_rate:
            return result("max_rate")
        if (why := budget_left()) is not None:
            return result(why)
        step = run(rate)
        steps.append(step)
        if step.verdict == "meets":
            best = step
        else:
            bound = step
    while bound.rate / best.rate > resolution:  # bisection
        if bound.verdict == "invalid":
            return result("invalid")
        if (why := budget_left()) is not None:
            return result(why)
        rate = midpoint(best.rate, bound.rate)
        if rate in (best.rate, bound.rate):
            break
        step = run(rate)
        steps.append(step)
        if step.verdict == "meets":
            best = step
        else:
            bound = step
    return result("invalid" if bound.verdict == "invalid" else "resolution")
