"""Reports of more than two designs: a stable colour per design, a ranking per metric whose
ties follow the verdicts' one rule, and the control questions judged from the figures —
either way, or "not measured" when a control design did not run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from matplotlib.colors import to_hex

from offload.analysis.comparison import analyse_scenario
from offload.analysis.controls import (
    MIXED,
    NO,
    NOT_MEASURED,
    PARTLY,
    concurrency_claim,
    queue_claim,
)
from offload.analysis.ranking import BEST, RANK_METRICS, TIED, rank, ranking_line
from offload.analysis.summary import write_summary
from offload.analysis.verdicts import MeasurementFloor, Reading
from offload.report import charts_static
from offload.report.markdown import render_markdown
from offload.report.pages import CONTROLS, scenario_document
from offload.report.style import FALLBACK, FIXED, design_colours
from offload.rundir.summary import Summary
from tests.factories.records import build_run
from tests.unit.test_analysis_verdicts import PHASES, design, manifest

pytestmark = pytest.mark.unit

P95 = next(m for m in RANK_METRICS if m.key == "signup_p95_ms")
P50 = next(m for m in RANK_METRICS if m.key == "signup_p50_ms")

# -- colours ----------------------------------------------------------------------------------


def test_a_known_design_keeps_its_colour_whatever_else_ran():
    alone = design_colours(["async"])
    crowd = design_colours(["zeta", "sync", "async-w4", "async", "sync-threads", "outbox"])
    assert alone["async"] == crowd["async"] == FIXED["async"]
    assert crowd["sync"] == FIXED["sync"] and crowd["outbox"] == FIXED["outbox"]


def test_other_names_take_fallback_colours_in_name_order_never_a_known_designs():
    one = design_colours(["async-w8", "async-w1", "async", "async-w2"])
    other = design_colours(["async-w2", "async", "async-w1", "async-w8"])
    assert one == other  # the order a run lists them in does not matter
    assert [one[n] for n in ("async-w1", "async-w2", "async-w8")] == list(FALLBACK[:3])
    every = design_colours([*FIXED, *(f"variant-{i}" for i in range(len(FALLBACK)))])
    assert len(set(every.values())) == len(every)  # no two designs of a run share a colour
    assert not set(FALLBACK) & set(FIXED.values())


def test_the_ledger_chart_draws_every_design_in_its_colour(tmp_path):
    analysis = analyse_scenario(build_run(tmp_path) / "synthetic")
    colours = {"sync": "#123456", "async": "#654321"}
    fig = charts_static.delivery_ledger(analysis, colours)
    right = fig.axes[1]
    handles, labels = right.get_legend_handles_labels()
    drawn = {
        label: to_hex(h.patches[0].get_facecolor())
        for h, label in zip(handles, labels, strict=True)
    }
    assert drawn == colours


# -- rankings ---------------------------------------------------------------------------------


def _reading(value: float, low: float | None = None, high: float | None = None, **kw: Any):
    return Reading(value, low, high, **kw)


def test_designs_whose_interval_reaches_the_best_share_its_place():
    ranking = rank(
        P95,
        {
            "slowest": _reading(900.0, 850.0, 950.0),
            "best": _reading(10.0, 8.0, 12.0),
            "close": _reading(13.0, 11.0, 16.0),  # 30 % worse, but the intervals overlap
            "middle": _reading(100.0, 90.0, 110.0),
        },
        "s",
    )
    places = {e.design: (e.place, e.relation) for e in ranking.entries}
    assert [e.design for e in ranking.entries] == ["best", "close", "middle", "slowest"]
    assert places["best"] == (1, TIED) and places["close"] == (1, TIED)
    assert places["middle"] == (3, "10× the best")
    assert places["slowest"] == (4, "90× the best")
    assert ranking.best == ["best", "close"]


def test_separate_intervals_make_separate_places_and_opposite_figures_reverse_them():
    first = rank(P95, {"a": _reading(10.0, 9.0, 11.0), "b": _reading(50.0, 45.0, 55.0)}, "s")
    second = rank(P95, {"a": _reading(50.0, 45.0, 55.0), "b": _reading(10.0, 9.0, 11.0)}, "s")
    assert [(e.design, e.place, e.relation) for e in first.entries] == [
        ("a", 1, BEST),
        ("b", 2, "5.0× the best"),
    ]
    assert [(e.design, e.place) for e in second.entries] == [("b", 1), ("a", 2)]


def test_a_design_tied_with_the_one_above_shares_its_place_below_the_best():
    ranking = rank(
        P95,
        {
            "a": _reading(10.0, 9.0, 11.0),
            "b": _reading(100.0, 90.0, 115.0),
            "c": _reading(105.0, 95.0, 120.0),
        },
        "s",
    )
    assert [(e.design, e.place) for e in ranking.entries] == [("a", 1), ("b", 2), ("c", 2)]
    assert "no clear difference from b" in ranking.entries[2].relation
    assert ranking_line(ranking) == "1. **a** 10 ms · 2. b 100 ms · =2. c 105 ms"


def test_a_percentile_at_the_timeout_ranks_below_every_measured_one_then_by_failed_share():
    failed = {"x": Reading(0.4, 0.35, 0.45), "y": Reading(0.1, 0.08, 0.12)}
    ranking = rank(
        P95,
        {
            "x": _reading(5000.0, at_timeout=True, failed=failed["x"]),
            "y": _reading(5000.0, at_timeout=True, failed=failed["y"]),
            "z": _reading(2100.0, 2000.0, 2200.0),
            "n": Reading(7.0, unavailable="p95 needs ≥ 200 requests, 90 measured"),
        },
        "s",
        timeout_s=5.0,
    )
    rows = [(e.design, e.place) for e in ranking.entries]
    assert rows == [("z", 1), ("y", 2), ("x", 3), ("n", None)]
    assert ranking.entries[1].figure == "≥ 5 s (timeout)"
    assert ranking.entries[2].relation.startswith("at the client timeout; 40.0%")
    assert ranking.entries[3].relation == "not ranked: too few requests"


def test_differences_within_the_measurement_floor_share_the_place():
    readings = {"a": _reading(3.0, 2.9, 3.1), "b": _reading(6.0, 5.8, 6.2)}
    assert [e.place for e in rank(P95, readings, "s").entries] == [1, 2]
    floor = MeasurementFloor(median_ms=0.7, tail_ms=4.0)
    assert [e.place for e in rank(P95, readings, "s", floor_ms=floor).entries] == [1, 1]


def test_a_median_is_held_to_the_floors_median_not_its_tail():
    """3.3 ms against 6.0 ms at p50 on a floor of p50 0.7 ms / p99 3.4 ms (the matrix run's
    slow-downstream): a real difference, which the floor's p99 used to hide."""
    readings = {"outbox": _reading(3.3, 3.3, 3.5), "async": _reading(6.0, 5.9, 6.1)}
    floor = MeasurementFloor(median_ms=0.7, tail_ms=3.4)
    assert [e.place for e in rank(P50, readings, "s", floor_ms=floor).entries] == [1, 2]
    assert [e.place for e in rank(P95, readings, "s", floor_ms=floor).entries] == [1, 1]


# -- the control questions --------------------------------------------------------------------


def _summary(designs: dict[str, dict[str, Any]]) -> Summary:
    return Summary.model_validate(
        {
            "scenario": "slow-downstream",
            "valid": True,
            "phases": PHASES,
            "designs": designs,
            "client_timeout_s": 5.0,
        }
    )


def _d(kind: str, p95: float, *, ok: int = 100, bystander: float = 4.0, lost: int = 0):
    return design(kind, signup_p95=p95, e2e_p95=2100, bystander=(4, bystander), ok=ok, lost=lost)


def _at_timeout(figures: dict[str, Any]) -> dict[str, Any]:
    figures["signup"]["overall"]["latency_ms"]["at_timeout"] = ["p95", "p99", "p99_9"]
    return figures


def test_the_queue_question_is_not_measured_without_both_of_its_designs():
    only_async = _summary({"sync": _d("sync", 4000), "async": _d("async", 7)})
    claim = queue_claim(only_async)
    assert claim.status == NOT_MEASURED
    assert claim.answer == "not measured: design inline-async was not in this run"
    assert claim.evidence == []
    neither = queue_claim(_summary({"sync": _d("sync", 40)}))
    assert neither.answer == "not measured: designs async and inline-async were not in this run"


def test_the_queue_gets_the_credit_only_where_async_beats_inline_async():
    run = _summary(
        {
            "inline-async": _d("sync", 2100),  # the email in the request: slow answers
            "async": _d("async", 7),
        }
    )
    claim = queue_claim(run)
    assert claim.status == PARTLY  # the signups faster, the bystanders and emails tied
    p95 = next(line for line in claim.evidence if line.startswith("signup response p95"))
    assert "the queue helps: async is better" in p95
    bystander = next(line for line in claim.evidence if line.startswith("bystander"))
    assert "not the queue" in bystander

    reversed_ = queue_claim(
        _summary({"inline-async": _d("sync", 7), "async": _d("async", 2100, lost=3)})
    )
    assert reversed_.status == NO
    assert "Without it, inline-async did better on signup response p95" in reversed_.answer


def test_the_queue_question_is_mixed_when_the_metrics_disagree():
    run = _summary({"inline-async": _d("sync", 2100), "async": _d("async", 7, lost=4)})
    claim = queue_claim(run)
    assert claim.status == MIXED
    assert "emails lost" in claim.answer and "signup response p95" in claim.answer


def test_a_control_that_matches_async_where_sync_timed_out_contradicts_the_usual_story():
    run = _summary(
        {
            "sync": _at_timeout(_d("sync", 5000, ok=60, bystander=5000)),
            "sync-threads": _d("sync", 7.5),
            "async": _d("async", 7),
        }
    )
    claim = concurrency_claim(run)
    assert claim.status == PARTLY  # better on the signups and bystanders, tied on the emails
    assert "Against the usual story, sync-threads on signup response p95" in claim.answer
    assert "matched async without a queue" in claim.answer
    assert "inline-async was not in this run" in claim.answer  # the missing control is named


def test_no_difference_from_sync_says_it_is_not_the_concurrency_model():
    run = _summary(
        {
            "sync": _d("sync", 2100),
            "sync-threads": _d("sync", 2150),
            "inline-async": _d("sync", 2080),
            "async": _d("async", 7),
        }
    )
    claim = concurrency_claim(run)
    assert claim.status == NO
    assert "Against the usual story" not in claim.answer
    p95 = [line for line in claim.evidence if line.startswith("signup response p95")]
    assert len(p95) == 2 and all("no clear difference from sync" in line for line in p95)
    assert all("async is still better" in line for line in p95)


def test_the_concurrency_question_needs_sync_and_a_control():
    assert concurrency_claim(_summary({"async": _d("async", 7)})).answer == (
        "not measured: design sync was not in this run"
    )
    claim = concurrency_claim(_summary({"sync": _d("sync", 40), "async": _d("async", 7)}))
    assert claim.status == NOT_MEASURED
    assert (
        claim.answer == "not measured: designs sync-threads and inline-async were not in this run"
    )


# -- the pages --------------------------------------------------------------------------------


def _third_design(run_dir: Path, name: str, target: str, concurrency: str) -> Path:
    """The synthetic scenario with a copy of its async design's records as a third design."""
    folder = run_dir / "synthetic"
    shutil.copytree(folder / "async", folder / name)
    manifest = json.loads((folder / "manifest.json").read_text())
    entry = json.loads(json.dumps(manifest["designs"]["async"]))
    entry["target"].update(name=target, concurrency=concurrency)
    entry["config"].update(server_processes=2, server_threads=8)
    manifest["designs"][name] = entry
    (folder / "manifest.json").write_text(json.dumps(manifest))
    write_summary(folder)
    return folder


def _page(folder: Path) -> str:
    analysis = analyse_scenario(folder)
    return render_markdown(scenario_document(analysis, {}, [], "run", None), folder / "r.md")


def test_two_designs_keep_the_verdict_table_and_say_what_was_not_measured(tmp_path):
    page = _page(build_run(tmp_path) / "synthetic")
    assert "| metric | winner | factor | sync | async |" in page
    assert "| metric | place | design |" not in page
    assert "not measured: design inline-async was not in this run" in page
    assert "not measured: designs sync-threads and inline-async were not in this run" in page
    assert page.index(CONTROLS) < page.index("## Verdict")  # near the top


def test_more_designs_are_ranked_a_row_per_design_and_the_controls_judged(tmp_path):
    folder = _third_design(build_run(tmp_path), "sync-threads", "sync-threads", "threads")
    page = _page(folder)
    assert "| metric | place | design | figure [95% CI] | against the best |" in page
    assert "| metric | winner | factor |" not in page
    cpu = page[page.index("| **CPU per 1,000 signups**") :].splitlines()[:3]
    cells = [[c.strip(" *") for c in line.split("|")[2:4]] for line in cpu]
    assert cells == [["1", "sync"], ["2", "async"], ["2", "sync-threads"]]  # a copy of async
    assert "no clear difference from async" in cpu[2]
    assert "**Is it the concurrency model? no.** Against sync: sync-threads made no" in page
    assert "**Is it the queue?** not measured: design inline-async was not in this run" in page
    assert "| sync-threads | async | 2 processes × 8 threads = 16 |" in page
    assert "| sync | sync | 4 processes |" in page


def test_variants_of_a_missing_design_are_named_not_compared():
    run = _summary({"async-w1": _d("async", 7), "async-w2": _d("async", 6)})
    claim = queue_claim(run, manifest({"async-w1": 1, "async-w2": 2}))
    assert claim.status == NOT_MEASURED
    assert claim.answer == (
        "not measured: designs async and inline-async were not in this run (async-w1, "
        "async-w2 are variants of async: the question compares one design of each)"
    )
