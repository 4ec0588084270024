"""Scaling out: the load split across Locust worker processes, and queue workers added."""

from __future__ import annotations

import json
from pathlib import Path

from offload.analysis import records
from offload.analysis.percentiles import percentiles_ms
from tests.factories.processes import run_bench


def bench(scenario: str, reports: Path, *extra: str) -> dict:
    result = run_bench(scenario, reports, *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    name = scenario.removesuffix(".yaml")
    return json.loads((reports / "latest" / name / "summary.json").read_text())


def test_two_locust_workers_deliver_the_total_rate_and_merge_their_records(tmp_path):
    summary = bench("e2e-distributed.yaml", tmp_path, "--load-workers", "2")

    design_dir = tmp_path / "latest" / "e2e-distributed" / "async"
    files = sorted(p.name for p in design_dir.glob("requests*.csv"))
    assert files == ["requests.w0.csv", "requests.w1.csv"]
    signup = summary["designs"]["async"]["signup"]["overall"]
    assert abs(signup["count"] - 800) <= 0.02 * 800  # 100/s for 8 s, whatever the split
    frame = records.requests(design_dir)
    measured = frame[frame["phase"] == "measured"]
    assert len(measured) == signup["count"]
    assert measured["correlation_id"].is_unique  # the workers split the schedule, no overlap
    # the percentiles are those of all raw records together, not an average of the workers'
    merged = percentiles_ms((measured["ended"] - measured["scheduled"]).to_numpy())
    assert {key: signup["latency_ms"][key] for key in merged} == merged
    per_worker = []
    for name in files:
        part = records._read_csv(design_dir / name, records.REQUEST_COLUMNS)
        part = part[part["phase"] == "measured"]
        per_worker.append(len(part))
    assert all(abs(n - 400) <= 0.02 * 400 for n in per_worker)
    assert summary["designs"]["async"]["generator"]["processes"] == 2
    assert summary["valid"]


def test_drain_time_falls_as_queue_workers_are_added(tmp_path):
    summary = bench("e2e-scaling.yaml", tmp_path)

    one = summary["designs"]["async-w1"]
    four = summary["designs"]["async-w4"]
    assert one["queue"]["drained"] and four["queue"]["drained"]
    # 125 jobs at 10 emails/s vs 40 emails/s: about 7 s of backlog left against almost none
    assert four["queue"]["drain_seconds"] < 0.5 * one["queue"]["drain_seconds"]
    assert one["queue"]["drain_seconds"] > 5
    assert four["e2e_ms"]["p95"] < one["e2e_ms"]["p95"]
    assert one["emails"]["lost"] == four["emails"]["lost"] == 0
    assert one["queue"]["max_backlog"] > four["queue"]["max_backlog"]
    # the report plots drain time and e2e p95 against worker count, beside the capacity model
    from offload.report import render_run

    render_run((tmp_path / "latest").resolve())
    chart = tmp_path / "latest" / "e2e-scaling" / "charts" / "scaling.png"
    assert chart.stat().st_size > 10_000
    assert "Worker scaling" in (tmp_path / "latest" / "e2e-scaling" / "report.md").read_text()
