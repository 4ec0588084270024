"""Analysis of a small run directory built by hand, whose every figure is known in advance.

Healthy-phase signup latencies are whole microseconds below 2,048 µs, which an HDR histogram
with 3 significant digits stores exactly, so their percentiles are known without the library;
the other percentiles are checked against the HDR library itself.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hdrh.histogram import HdrHistogram

from offload.analysis.capacity import capacity_model, disagreements, fresh_carried, fresh_share
from offload.analysis.comparison import analyse_scenario
from offload.analysis.scenario_data import load_scenario_dir
from offload.analysis.summary import write_summary
from offload.analysis.tables import design_series

REQUEST_FIELDS = [
    "stream",
    "name",
    "phase",
    "offset",
    "scheduled",
    "sent",
    "ended",
    "status",
    "error_class",
    "waited_for_slot",
    "correlation_id",
    "user_id",
    "job_id",
]
T0 = {"sync": 1000.0, "async": 5000.0}
DURATION, FAULT_AT = 20.0, 10.0
HEALTHY_US = list(range(1001, 1011))  # ten signups, 1.001 … 1.010 ms
SLOW_OK_US = [1500, 1510, 1520, 1530, 1540, 1550, 1560, 1570]


def scenario(**changes: Any) -> dict[str, Any]:
    data = {
        "name": "synthetic",
        "description": "hand-made records with known figures",
        "targets": ["sync", "async"],
        "load": {"rate": 1.0, "duration": DURATION, "warmup": 1.0, "bystander_rate": 0.5},
        "client": {"timeout": 5.0},
        "provider": {"latency": 0.05},
        "designs": {"server_processes": 4, "workers": 2, "prefetch": 5, "provider_timeout": 3.0},
        "faults": [{"at": FAULT_AT, "phase": "slow", "downstream": {"latency": 2.0}}],
        "drain": {"timeout": 10.0},
    }
    data.update(changes)
    return data


def _write_csv(path: Path, fields: list[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def _request(
    t0: float,
    offset: float,
    latency_s: float | None,
    *,
    stream: str = "signup",
    status: int | None = 201,
    error: str = "",
    uid: str | None = None,
    phase: str = "measured",
) -> dict[str, Any]:
    scheduled = t0 + offset
    return {
        "stream": stream,
        "name": "POST /users" if stream == "signup" else "GET /healthz",
        "phase": phase,
        "offset": offset,
        "scheduled": scheduled,
        "sent": "" if error == "dropped" else scheduled,
        "ended": "" if latency_s is None else scheduled + latency_s,
        "status": "" if status is None else status,
        "error_class": error,
        "waited_for_slot": "false",
        "correlation_id": f"c-{stream}-{offset}",
        "user_id": uid or "",
        "job_id": f"j-{uid}" if uid else "",
    }


def build_design(directory: Path, name: str, *, faster_emails: bool = False) -> dict[str, Any]:
    """One design's raw records; returns its manifest entry."""
    t0 = T0[name]
    ok_status = 201 if name == "sync" else 202
    directory.mkdir(parents=True)
    rows, users, provider, jobs, events = [], [], [], [], []
    rows.append(_request(t0, -0.5, 0.3, phase="warmup", uid=f"{name}-w"))  # excluded

    def signup(offset: float, latency_us: int, email_after_s: float) -> None:
        uid = f"{name}-u{len(users)}"
        rows.append(_request(t0, offset, latency_us / 1e6, status=ok_status, uid=uid))
        users.append(
            {
                "id": uid,
                "email": f"{uid}@example.com",
                "display_name": uid,
                "correlation_id": f"c-signup-{offset}",
                "created_at": t0 + offset,
            }
        )
        provider.append(
            {
                "ts": t0 + offset + email_after_s - 0.05,
                "done_ts": t0 + offset + email_after_s,
                "key": f"j-{uid}",
                "job_id": f"j-{uid}",
                "user_id": uid,
                "outcome": "delivered",
                "status": 202,
                "attempt": 1,
            }
        )
        jobs.append({"id": f"j-{uid}", "user_id": uid, "state": "delivered", "attempts": 1})

    for i, latency in enumerate(HEALTHY_US):
        signup(0.5 + i, latency, 0.06)
    for i, latency in enumerate(SLOW_OK_US):
        signup(10.5 + i, latency, 0.5 if faster_emails else 2.1)
    for offset in (18.5, 19.5):  # two client timeouts in the slow phase
        rows.append(_request(t0, offset, 5.0, status=None, error="timeout"))
    rows.append(_request(t0, 19.9, None, status=None, error="dropped"))
    for offset in (2.0, 12.0):
        rows.append(_request(t0, offset, 0.002, stream="bystander", status=200))
    _write_csv(directory / "requests.csv", REQUEST_FIELDS, rows)
    _write_csv(
        directory / "users.csv",
        ["id", "email", "display_name", "correlation_id", "created_at"],
        users,
    )
    (directory / "provider-log.jsonl").write_text(
        "".join(json.dumps(record) + "\n" for record in provider)
    )
    samples = []
    components = [("provider", "provider"), ("generator", "generator"), (f"{name}-api", "server")]
    if name == "async":
        components += [("async-worker-1", "worker"), ("broker", "broker")]
    for step in range(3):
        for component, role in components:
            samples.append(
                {
                    "t": t0 + step * 10,
                    "component": component,
                    "role": role,
                    "processes": 1,
                    "cpu_s": step * 1.0,
                    "rss_bytes": 2**20 * (10 + step),
                }
            )
    _write_csv(
        directory / "samples.csv",
        ["t", "component", "role", "processes", "cpu_s", "rss_bytes"],
        samples,
    )
    queues = []
    if name == "async":
        for second in range(22):
            depth = 7 if 12 <= second < 14 else (1 if second < 10 else 0)
            queues.append(
                {"t": t0 + second, "queue": "(unfinished jobs)", "role": "backlog", "depth": depth}
            )
            queues.append({"t": t0 + second, "queue": "q.work", "role": "work", "depth": 0})
        events = [
            {"seq": 1, "job_id": "j-x", "state": "retrying", "attempt": 1, "at": t0 + 12.2},
            {"seq": 2, "job_id": "j-x", "state": "retrying", "attempt": 2, "at": t0 + 12.7},
            {"seq": 3, "job_id": "j-x", "state": "delivered", "attempt": 3, "at": t0 + 14.0},
        ]
    _write_csv(directory / "queues.csv", ["t", "queue", "role", "depth"], queues)
    _write_csv(
        directory / "jobs.csv",
        ["id", "user_id", "state", "attempts"],
        jobs if name == "async" else [],
    )
    _write_csv(directory / "job_events.csv", ["seq", "job_id", "state", "attempt", "at"], events)
    return {
        "kind": name,
        "target": {"name": name, "kind": name, "description": f"the {name} design"},
        "config": {
            "server_processes": 4,
            "workers": 2,
            "prefetch": 5,
            "provider_timeout_s": 3.0,
            "publish_timeout_s": 1.0,
            "max_attempts": 3,
            "retry_delays_s": [0.5, 1.0],
        },
        "t0_epoch": t0,
        "load_end_epoch": t0 + DURATION,
        "drain_end_epoch": t0 + DURATION + 1.5,
    }


def build_run(
    root: Path,
    *,
    async_emails_faster: bool = False,
    invalid: list[str] | None = None,
    scenario_name: str = "synthetic",
) -> Path:
    """``root/runs/<stamp>/<scenario>/`` with both designs; returns the run directory."""
    run_dir = root / "runs" / "20260101T000000Z"
    folder = run_dir / scenario_name
    folder.mkdir(parents=True)
    (run_dir / "run.json").write_text(
        json.dumps(
            {
                "schema_version": 1,
                "command": ["offload", "bench"],
                "scenarios": [scenario_name],
                "quick": False,
                "started_at": 1_767_225_600.0,
                "status": "complete",
            }
        )
    )
    designs = {
        "sync": build_design(folder / "sync", "sync"),
        "async": build_design(folder / "async", "async", faster_emails=async_emails_faster),
    }
    manifest = {
        "schema_version": 1,
        "scenario": scenario(name=scenario_name),
        "quick": False,
        "phases": [
            {"name": "healthy", "start_s": 0.0, "end_s": FAULT_AT, "provider": "latency 50ms"},
            {"name": "slow", "start_s": FAULT_AT, "end_s": DURATION, "provider": "latency 2s"},
        ],
        "git": {"sha": "0123abc", "dirty": False},
        "versions": {"python": "3.11", "offload": "0.1.0"},
        "machine": {"hostname": "test", "cpus": 2},
        "broker": {"source": "local", "owned": False},
        "started_at": 1_767_225_600.0,
        "designs": designs,
        "invalid_reasons": list(invalid or []),
        "warnings": [],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "scenario.yaml").write_text("name: synthetic\n")
    write_summary(folder)
    return run_dir


def hdr_ms(seconds: list[float], percentile: float) -> float:
    hist = HdrHistogram(1, 3_600_000_000, 3)
    for value in seconds:
        hist.record_value(round(value * 1e6))
    return hist.get_value_at_percentile(percentile) / 1000


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
    assert ledger[("async", "owed")] == 18
    assert ledger[("async", "delivered")] == 18
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
