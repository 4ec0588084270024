"""The search for the maximum rate under the SLO, on a fake cell runner (a threshold): doubling
from the grid's highest passing rate, then bisection, bounded in runs and time; an invalid
cell stops it rather than counting as a miss."""

from __future__ import annotations

from offload.sweep.search import Judged, bracket, midpoint, search_max_rate


class FakeCells:
    """A system that meets the SLO up to ``capacity`` signups/s; records every rate run."""

    def __init__(self, capacity: float, invalid_from: float | None = None) -> None:
        self.capacity = capacity
        self.invalid_from = invalid_from
        self.ran: list[float] = []

    def __call__(self, rate: float) -> Judged:
        self.ran.append(rate)
        if self.invalid_from is not None and rate >= self.invalid_from:
            return Judged(rate, "invalid", f"cell-{rate:g}")
        return Judged(rate, "meets" if rate <= self.capacity else "misses", f"cell-{rate:g}")


def grid(system: FakeCells, rates: list[float]) -> list[Judged]:
    judged = [system(rate) for rate in rates]
    system.ran.clear()  # the grid's runs are not the search's
    return [Judged(j.rate, j.verdict, j.folder, ran=False) for j in judged]


BOUNDS = {"max_rate": 10_000.0, "max_runs": 10, "max_time_s": 1e9, "resolution": 1.25}


def test_doubling_then_bisection_from_the_grid_brackets_the_capacity():
    system = FakeCells(capacity=100)
    known = grid(system, [10, 40, 160, 640])
    result = search_max_rate(system, known, **BOUNDS)
    # doubling from 40 (the highest passing grid rate): 80 meets; 160 is known to miss
    assert system.ran[0] == 80
    # then bisection between 80 and 160: 120 misses, 100 meets, 110 misses → 100/110 < 1.25
    assert system.ran == [80, 120, 100]
    assert result.best is not None and result.best.rate == 100
    assert result.bound is not None and result.bound.rate == 120
    assert result.bound.rate / result.best.rate <= 1.25
    assert result.stopped_by == "resolution" and result.runs == 3


def test_doubling_goes_beyond_the_grid_until_a_rate_misses():
    system = FakeCells(capacity=3000)
    known = grid(system, [10, 40, 160, 640])
    result = search_max_rate(system, known, **BOUNDS)
    assert system.ran[:3] == [1280, 2560, 5120]  # doubling until 5120 misses
    assert result.best is not None and 2560 <= result.best.rate <= 3000
    assert result.bound is not None and result.bound.rate > 3000


def test_the_search_stops_at_its_run_budget_and_says_so():
    system = FakeCells(capacity=100)
    known = grid(system, [10, 40, 160, 640])
    result = search_max_rate(system, known, **{**BOUNDS, "max_runs": 1})
    assert system.ran == [80]
    assert result.stopped_by == "runs"
    assert result.best is not None and result.best.rate == 80
    assert result.bound is not None and result.bound.rate == 160  # the grid cell bounds it


def test_the_search_stops_at_its_time_budget():
    system = FakeCells(capacity=100)
    known = grid(system, [10, 40, 160, 640])
    ticks = iter([0.0, 0.0, 50.0, 200.0, 400.0])
    result = search_max_rate(
        system, known, **{**BOUNDS, "max_time_s": 100.0}, clock=lambda: next(ticks)
    )
    assert system.ran == [80, 120]
    assert result.stopped_by == "time"


def test_the_search_never_passes_its_max_rate():
    system = FakeCells(capacity=1e9)
    known = grid(system, [10, 40])
    result = search_max_rate(system, known, **{**BOUNDS, "max_rate": 200.0})
    assert system.ran == [80, 160]
    assert result.stopped_by == "max_rate" and result.bound is None
    assert result.best is not None and result.best.rate == 160


def test_when_the_lowest_rate_misses_nothing_is_searched():
    system = FakeCells(capacity=5)
    known = grid(system, [10, 40])
    result = search_max_rate(system, known, **BOUNDS)
    assert system.ran == [] and result.best is None
    assert result.bound is not None and result.bound.rate == 10
    assert result.stopped_by == "lowest_rate"


def test_an_invalid_cell_stops_the_search_and_is_never_read_as_a_miss():
    system = FakeCells(capacity=1e9, invalid_from=1000)
    known = grid(system, [10, 40, 160, 640])
    result = search_max_rate(system, known, **BOUNDS)
    assert system.ran == [1280]
    assert result.stopped_by == "invalid"
    assert result.bound is not None and result.bound.verdict == "invalid"
    assert result.best is not None and result.best.rate == 640


def test_the_bracket_ignores_passing_rates_above_the_first_miss():
    known = [
        Judged(10, "meets", "a"),
        Judged(40, "misses", "b"),
        Judged(160, "meets", "c"),  # noise above a miss does not raise the bracket
    ]
    best, bound = bracket(known)
    assert best is not None and best.rate == 10
    assert bound is not None and bound.rate == 40


def test_midpoints_are_rates_people_read():
    assert midpoint(80, 160) == 120
    assert midpoint(100, 133) == 116
