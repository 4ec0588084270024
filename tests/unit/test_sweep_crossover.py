"""The crossover map's judging: a design wins a cell only when its interval lies wholly below
the other's; overlapping intervals are "no clear difference"; an invalid cell is never judged.
Also the knee: the first grid rate that misses the SLO."""

from __future__ import annotations

from offload.rundir.summary import Interval
from offload.sweep.analysis import NO_CLEAR, crossover, knee, winner
from offload.sweep.rundir import CellFigures, Percentile, Verdict


def cell(
    design: str,
    *,
    rate: float = 160,
    latency: float = 0.1,
    p99: tuple[float, float, float] = (10, 9, 11),
    cpu: tuple[float, float, float] = (5, 4, 6),
    signups: int = 1600,
    valid: bool = True,
    verdict: Verdict = "meets",
    e2e: float | None = None,
) -> CellFigures:
    value, low, high = p99
    point = Percentile(key="p99", value=value, ci=Interval(low=low, high=high))
    return CellFigures(
        folder=f"{design}-{rate:g}rps",
        design=design,
        rate=rate,
        latency_s=latency,
        purpose="grid",
        valid=valid,
        verdict=verdict if valid else "invalid",
        verdict_reason="test",
        signups=signups,
        achieved_rate=rate,
        latency={"p99": point, "p50": Percentile(key="p50", value=value / 2)},
        slo_figure=point,
        error_rate=0.0,
        cpu_per_1000=cpu[0],
        cpu_per_1000_ci=Interval(low=cpu[1], high=cpu[2]),
        e2e_p95_ms=e2e,
        generator_processes=1,
        generator_saturated=False,
    )


DESIGNS = ["sync", "async"]


def test_a_design_wins_when_its_interval_lies_below_the_others():
    cells = [
        cell("sync", p99=(120, 110, 130), cpu=(4, 3.5, 4.5)),
        cell("async", p99=(6, 5, 7), cpu=(9, 8, 10), e2e=140),
    ]
    judged = crossover(cells, DESIGNS, 160, 0.1)
    assert judged.p99_winner == "async" and judged.p99_key == "p99"
    assert judged.cpu_winner == "sync"
    assert judged.e2e_p95_ms == {"async": 140}


def test_overlapping_intervals_are_no_clear_difference_whatever_the_points_say():
    cells = [
        cell("sync", p99=(10, 8, 12), cpu=(5, 4, 6)),
        cell("async", p99=(9, 7, 10.5), cpu=(5.5, 5.9, 7)),  # CPU: 5.9 < 6 overlaps
    ]
    judged = crossover(cells, DESIGNS, 160, 0.1)
    assert judged.p99_winner == NO_CLEAR
    assert judged.cpu_winner == NO_CLEAR


def test_touching_is_not_a_win():
    assert winner({"a": (1, 2), "b": (2, 3)}, {"a": 1.5, "b": 2.5}) == NO_CLEAR
    assert winner({"a": (1, 1.99), "b": (2, 3)}, {"a": 1.5, "b": 2.5}) == "a"
    assert winner({"a": None, "b": (2, 3)}, {"b": 2.5}) == NO_CLEAR


def test_an_invalid_cell_is_never_judged():
    cells = [
        cell("sync", p99=(500, 480, 520)),
        cell("async", p99=(5, 4, 6), valid=False),
    ]
    judged = crossover(cells, DESIGNS, 160, 0.1)
    assert judged.p99_winner == "invalid" and judged.cpu_winner == "invalid"
    assert "async" in judged.p99_detail


def test_too_few_signups_for_a_p99_judge_on_the_highest_percentile_both_support():
    cells = [cell("sync", signups=300), cell("async", signups=5000)]
    cells[0].latency["p95"] = Percentile(key="p95", value=50, ci=Interval(low=45, high=55))
    cells[1].latency["p95"] = Percentile(key="p95", value=5, ci=Interval(low=4, high=6))
    judged = crossover(cells, DESIGNS, 160, 0.1)
    assert judged.p99_key == "p95"
    assert judged.p99_winner == "async"


def test_the_knee_is_the_first_grid_rate_that_misses_the_slo():
    curve = [
        cell("sync", rate=10, verdict="meets"),
        cell("sync", rate=40, verdict="meets"),
        cell("sync", rate=160, verdict="misses"),
        cell("sync", rate=640, verdict="misses"),
    ]
    found = knee(curve, "sync", 0.1)
    assert found is not None and found.rate == 160 and found.before_rate == 40
    assert knee(curve[:2], "sync", 0.1) is None


def test_a_design_that_answered_no_signup_has_no_cpu_figure_to_compare():
    failing = cell("sync", p99=(5000, 4990, 5010))
    failing.cpu_per_1000 = None
    failing.cpu_per_1000_ci = None
    judged = crossover([failing, cell("async")], DESIGNS, 160, 0.1)
    assert judged.cpu_winner == "no figure"
    assert judged.cpu_unanswered == ["sync"]
    assert judged.p99_winner == "async"


def test_the_designs_that_answered_are_compared_on_cpu_without_the_one_that_did_not():
    failing = cell("sync", p99=(5000, 4990, 5010))
    failing.cpu_per_1000 = None
    failing.cpu_per_1000_ci = None
    cells = [failing, cell("inline-async", cpu=(2, 1.8, 2.2)), cell("async", cpu=(5, 4, 6))]
    judged = crossover(cells, ["sync", "inline-async", "async"], 160, 0.1)
    assert judged.cpu_winner == "inline-async"
    assert judged.cpu_unanswered == ["sync"]
    assert "sync: no signup answered, left out" in judged.cpu_detail
    overlapping = [failing, cell("inline-async", cpu=(5, 4.5, 5.5)), cell("async")]
    assert crossover(overlapping, ["sync", "inline-async", "async"], 160, 0.1).cpu_winner == (
        NO_CLEAR
    )


def test_a_design_whose_backlog_had_not_drained_may_lose_on_cpu_but_never_wins():
    designs = ["inline-async", "async"]
    cheap_but_behind = cell("async", cpu=(2, 1.8, 2.2))
    cheap_but_behind.drained = False
    judged = crossover([cell("inline-async", cpu=(5, 4, 6)), cheap_but_behind], designs, 160, 0.1)
    assert judged.cpu_winner == NO_CLEAR
    assert judged.cpu_lower_bound == ["async"]
    assert "async ≥ 2 CPU s/1,000" in judged.cpu_detail
    dear_and_behind = cell("async", cpu=(9, 8, 10))
    dear_and_behind.drained = False
    judged = crossover([cell("inline-async", cpu=(5, 4, 6)), dear_and_behind], designs, 160, 0.1)
    assert judged.cpu_winner == "inline-async"
