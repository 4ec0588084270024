"""Analysis of a small run directory built by hand (``tests.factories.records``), whose every
figure is known in advance; percentiles not exactly stored are checked against the HDR library."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from offload.analysis.capacity import (
    Estimate,
    capacity_model,
    disagreements,
    fresh_carried,
    fresh_share,
)
from offload.analysis.comparison import analyse_scenario
from offload.analysis.scenario_data import load_scenario_dir
from offload.analysis.tables import design_series
from offload.report.document import Paragraph
from offload.report.sections import capacity_blocks
from tests.factories.records import (
    DURATION,
    FAULT_AT,
    HEALTHY_US,
    SLOW_OK_US,
    build_run,
    hdr_ms,
)


@pytest.fixture(scope="module")
def scenario_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_run(tmp_path_factory.mktemp("synthetic")) / "synthetic"


@pytest.fixture(scope="module")
def analysis(scenario_dir: Path):
    return analyse_scenario(scenario_dir)


def _metric(metrics: pd.DataFrame, design: str, phase: str, endpoint: str, metric: str) -> Any:
    row = metrics[
        (metrics["design"] == design)
        & (metrics["phase"] == phase)
        & (metrics["endpoint"] == endpoint)
        & (metrics["metric"] == metric)
    ]
    assert len(row) == 1, (design, phase, endpoint, metric)
    return row["value"].iloc[0]


def test_phases_come_from_the_fault_timeline(analysis):
    phases = analysis.tables["phases"]
    assert phases[["phase", "start_s", "end_s"]].values.tolist() == [
        ["healthy", 0.0, FAULT_AT],
        ["slow", FAULT_AT, DURATION],
    ]
    assert phases["disturbed"].tolist() == [False, True]
    assert analysis.disturbed == {"slow"}


def test_counts_per_phase_exclude_warmup_and_separate_failure_classes(analysis):
    metrics = analysis.tables["metrics"]
    assert _metric(metrics, "sync", "overall", "signup", "count") == 21
    assert _metric(metrics, "sync", "healthy", "signup", "count") == 10
    assert _metric(metrics, "sync", "healthy", "signup", "ok") == 10
    assert _metric(metrics, "sync", "slow", "signup", "count") == 11
    assert _metric(metrics, "sync", "slow", "signup", "ok") == 8
    assert _metric(metrics, "sync", "slow", "signup", "timeouts") == 2
    assert _metric(metrics, "sync", "slow", "signup", "dropped") == 1
    assert _metric(metrics, "sync", "slow", "signup", "errors") == 0
    assert _metric(metrics, "async", "overall", "bystander", "count") == 2


def test_healthy_percentiles_are_exact_hdr_values(analysis):
    metrics = analysis.tables["metrics"]
    assert _metric(metrics, "sync", "healthy", "signup", "latency_ms_p50") == 1.005
    assert _metric(metrics, "sync", "healthy", "signup", "latency_ms_p90") == 1.009
    assert _metric(metrics, "sync", "healthy", "signup", "latency_ms_max") == 1.010
    spectrum = analysis.tables["spectrum"]
    healthy = spectrum[
        (spectrum["design"] == "sync")
        & (spectrum["phase"] == "healthy")
        & (spectrum["endpoint"] == "signup")
    ].set_index("percentile")
    assert healthy.loc[50.0, "latency_ms"] == 1.005
    assert healthy.loc[99.99, "latency_ms"] == 1.010
    assert (healthy["count"] == 10).all()


def test_slow_phase_percentiles_match_the_hdr_library(analysis):
    """Timeouts count with the time the client waited; the dropped request is not counted."""
    slow = [us / 1e6 for us in SLOW_OK_US] + [5.0, 5.0]
    metrics = analysis.tables["metrics"]
    for key, percentile in (("p50", 50), ("p95", 95), ("p99", 99)):
        expected = round(hdr_ms(slow, percentile), 3)
        assert _metric(metrics, "sync", "slow", "signup", f"latency_ms_{key}") == expected


def test_end_to_end_is_scheduled_signup_to_first_acceptance(analysis):
    e2e = [0.06] * len(HEALTHY_US) + [2.1] * len(SLOW_OK_US)
    metrics = analysis.tables["metrics"]
    assert _metric(metrics, "async", "overall", "e2e", "latency_ms_p50") == round(
        hdr_ms(e2e, 50), 3
    )
    completion = analysis.tables["completion"]
    mine = completion[(completion["design"] == "async") & (completion["measure"] == "end_to_end")]
    assert len(mine) == 18
    assert mine["ms"].round(3).value_counts().to_dict() == {60.0: 10, 2100.0: 8}


def test_per_second_series_use_each_designs_own_t0(scenario_dir: Path):
    data = load_scenario_dir(scenario_dir)
    series = design_series(data.designs["async"], DURATION)
    assert series.loc[0, "signup_offered_per_s"] == 1
    assert series.loc[19, "signup_offered_per_s"] == 2  # the 19.5 s timeout, the 19.9 s drop
    assert series.loc[12, "retries_per_s"] == 2
    assert series["retries_per_s"].sum() == 2
    assert series["queue_backlog"].max() == 7
    assert series.loc[12, "queue_backlog"] == 7
    assert series.loc[18, "signup_timeout_per_s"] == 0
    assert series.loc[23, "signup_timeout_per_s"] == 1  # 18.5 + 5 s: counted when it ended
    assert series.index.min() == 0  # warm-up excluded


def test_ledger_cost_and_queue_tables(analysis):
    ledger = analysis.tables["ledger"].set_index(["design", "category"])["count"]
    # 19 owed = 18 from measured signups + 1 from the warm-up
    assert ledger[("async", "owed")] == 19
    assert ledger[("async", "owed_warmup")] == 1
    assert ledger[("async", "delivered")] == 19
    assert ledger[("async", "lost")] == 0
    cost = analysis.tables["cost"].set_index("design")
    # own components: sync-api 2 s; async-api + worker + broker 6 s (rig excluded)
    assert cost.loc["sync", "cpu_own_s"] == 2.0
    assert cost.loc["async", "cpu_own_s"] == 6.0
    assert cost.loc["sync", "cpu_per_1000_signups"] == round(2.0 / 18 * 1000, 3)
    assert bool(cost.loc["async", "broker_included"]) is True


def test_capacity_model_predicts_with_littles_law(scenario_dir: Path):
    data = load_scenario_dir(scenario_dir)
    estimates = {(e.design, e.phase, e.quantity): e for e in capacity_model(data)}
    processed = "signups processed/s (provider calls)"
    # 4 server processes ÷ 2 s = 2/s ceiling above the 1 signup/s offered: 1/s processed
    assert estimates[("sync", "slow", processed)].predicted == 1.0
    assert (
        "4 server processes ÷ 2,000 ms = 2.0/s max" in estimates[("sync", "slow", processed)].basis
    )
    assert estimates[("sync", "slow", processed)].measured == 0.8  # 8 emails in 10 s
    # async: 2 workers × prefetch 5 / 2 s = 5 jobs/s > 1 signup/s: no growth, 1 × 2 s in flight
    backlog = estimates[("async", "slow", "max backlog")]
    assert backlog.predicted == 2.0
    assert backlog.measured == 7.0
    notes = disagreements(list(estimates.values()), {"sync": "sync", "async": "async"})
    assert not any("max backlog" in n for n in notes)  # 5 jobs apart: below the floor


def test_an_event_loop_server_gets_no_worker_model_and_the_report_says_why(tmp_path: Path):
    """inline-async and background are sync-kind but run on uvicorn: the process-per-request
    ceiling would be nonsense for them, so the report names the gap instead of a figure."""
    scenario_dir = build_run(tmp_path) / "synthetic"
    manifest_path = scenario_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["designs"]["sync"]["target"]["concurrency"] = "event-loop"
    manifest_path.write_text(json.dumps(manifest))

    analysis = analyse_scenario(scenario_dir)

    quantities = {e.quantity for e in analysis.estimates if e.design == "sync"}
    assert quantities == {"provider time per answered call"}
    assert not any(n.startswith("sync,") and "/s" in n for n in analysis.capacity_notes)
    assert not any("backlog" in n for n in analysis.capacity_notes if n.startswith("sync,"))
    assert analysis.capacity_gaps == [
        "sync: no capacity model for an event-loop server: it holds as many requests at once "
        "as the provider client's connection pool allows, not one per server process, and "
        "that pool size is not a declared knob — so no signups/s or goodput is predicted "
        "(the provider's time per call still is)."
    ]
    texts = [b.text for b in capacity_blocks(analysis) if isinstance(b, Paragraph)]
    assert analysis.capacity_gaps[0] in texts
    # the queue design keeps its model
    assert any(e.quantity == "max backlog" for e in analysis.estimates if e.design == "async")


def test_a_run_recorded_before_the_declaration_keeps_the_worker_model(scenario_dir: Path):
    data = load_scenario_dir(scenario_dir)
    assert data.designs["sync"].entry.target.concurrency is None
    assert data.designs["sync"].concurrency == "processes"
    assert any(e.quantity == "goodput (2xx answers/s)" for e in capacity_model(data))
    assert analyse_scenario(scenario_dir).capacity_gaps == []


def test_worker_model_reasons_never_explain_an_event_loop_design():
    estimate = Estimate(
        "inline", "slow", "provider time per answered call", "ms", 100.0, 400.0, "configured"
    )
    goodput = Estimate("inline", "slow", "goodput (2xx answers/s)", "/s", 10.0, 1.0, "x")
    notes = disagreements([estimate, goodput], {"inline": "any"})
    assert len(notes) == 2
    assert not any("listen backlog" in n for n in notes)


def test_a_threaded_server_multiplies_the_sync_ceiling_by_its_threads(tmp_path: Path):
    """sync-threads records ``server_threads``: each thread holds one provider call."""
    scenario_dir = build_run(tmp_path) / "synthetic"
    manifest_path = scenario_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["designs"]["sync"]["config"]["server_threads"] = 4
    manifest_path.write_text(json.dumps(manifest))

    estimates = {
        (e.design, e.phase, e.quantity): e for e in capacity_model(load_scenario_dir(scenario_dir))
    }

    slow = estimates[("sync", "slow", "signups processed/s (provider calls)")]
    assert "4 server processes × 4 threads ÷ 2,000 ms = 8.0/s max" in slow.basis


def test_sync_queue_model_serves_stale_requests_for_nobody():
    """225 requests queued at 20/s behind a 2/s server, then served at 80/s with a 5 s client
    timeout: the oldest (11.25 s old) are stale; request k from the head is fresh when
    (225 − k)/20 + k/80 ≤ 5, i.e. k ≥ 166.7 — about 58 fresh."""
    assert fresh_carried(225, 20, 80, 5) == pytest.approx(225 - 6.25 / 0.0375)
    assert fresh_carried(10, 20, 2, 5) == 10  # half a second old, served within 5 s
    assert fresh_carried(300, 20, 2, 5) == 0  # 15 s old already
    # overloaded from an empty queue: new arrivals are fresh until 2/s × 5 s = 10 are queued
    assert fresh_share(0, 18, 2, 5, 12.5) == pytest.approx((10 / 18) / 12.5)
    assert fresh_share(225, -60, 80, 5, 10) == 1.0


def test_tables_are_written_beside_summary(tmp_path: Path):
    from offload.analysis.tables import write_tables

    scenario_dir = build_run(tmp_path) / "synthetic"
    analysis = analyse_scenario(scenario_dir)
    paths = write_tables(analysis.tables, scenario_dir / "tables")
    assert {p.name for p in paths} >= {
        "metrics.csv",
        "timeseries.csv",
        "spectrum.csv",
        "capacity.csv",
        "verdicts.csv",
        "claims.csv",
    }
    reread = pd.read_csv(scenario_dir / "tables" / "metrics.csv")
    assert set(reread.columns) == {
        "scenario",
        "design",
        "kind",
        "phase",
        "endpoint",
        "metric",
        "value",
    }
