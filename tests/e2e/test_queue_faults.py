"""Faults of the queue itself, through real bench runs: the broker goes down and comes back,
it blocks its publishers, workers die holding jobs. What a user would notice: fast, bounded
503s instead of hangs, recovery without help, and a ledger that accounts for every signup."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from offload.analysis import records
from tests.factories.cli import run_cli
from tests.factories.processes import SCENARIOS, run_bench
from tests.factories.validity import assert_measured


def bench(scenario: str, reports: Path, *extra: str, env: dict | None = None):
    return run_bench(scenario, reports, *extra, env=env)


def summary_of(reports: Path, name: str) -> dict:
    return json.loads((reports / "latest" / name / "summary.json").read_text())


@pytest.fixture(scope="module")
def broker_faults(tmp_path_factory) -> dict:
    reports = tmp_path_factory.mktemp("broker-faults")
    env = {k: v for k, v in os.environ.items() if k != "AMQP_URL"}
    result = bench("e2e-broker-faults.yaml", reports, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((reports / "latest" / "e2e-broker-faults" / "manifest.json").read_text())
    assert manifest["broker"] == {"source": "private", "owned": True}
    summary = summary_of(reports, "e2e-broker-faults")
    assert_measured(summary)
    summary["design_dir"] = reports / "latest" / "e2e-broker-faults" / "async"
    return summary


def test_broker_down_gives_fast_503s_and_recovers_by_itself(broker_faults):
    phases = broker_faults["designs"]["async"]["signup"]["phases"]
    down = phases["broker-down"]
    assert down["timeouts"] == 0
    # refused, not hung, from the moment the broker is really down: `rabbitmqctl stop_app`
    # takes 1-2 s on a slow machine, and signups sent before it finished were rightly accepted
    faults, signups = _faults_and_signups(broker_faults)
    went_down = faults["broker down"]["done_epoch"]
    while_down = _sent_between(signups, went_down, faults["broker up"])
    assert len(while_down) >= 10
    refused = while_down["status"].between(500, 599).sum()
    assert refused >= 0.9 * len(while_down), while_down[["sent", "status", "error_class"]]
    assert down["latency_ms"]["p99"] < 1500  # within the 1 s publish bound
    # reconnected without help, once `rabbitmqctl start_app` had really finished (it takes
    # seconds on a busy machine: the "back" phase's first half can still be the broker starting)
    after = _sent_between(signups, faults["broker up"]["done_epoch"], faults["broker blocked"])
    assert len(after) >= 10
    assert after["status"].between(200, 299).sum() > 0.5 * len(after), after[["sent", "status"]]


def test_a_blocked_broker_bounds_the_latency_and_never_hangs(broker_faults):
    phases = broker_faults["designs"]["async"]["signup"]["phases"]
    blocked = phases["broker-blocked"]
    assert blocked["timeouts"] == 0
    assert blocked["latency_ms"]["max"] < 1500
    assert blocked["http_5xx"] > 0
    # served again once `rabbitmqctl` had really lifted the alarm (seconds on a busy machine)
    faults, signups = _faults_and_signups(broker_faults)
    after = _sent_between(signups, faults["broker unblocked"]["done_epoch"], None)
    assert len(after) >= 10
    assert after["status"].between(200, 299).sum() > 0.8 * len(after), after[["sent", "status"]]


def _faults_and_signups(broker_faults):
    """The run's faults by description, and its signup requests."""
    faults = {f["description"]: f for f in records.faults(broker_faults["design_dir"])}
    requests = records.requests(broker_faults["design_dir"])
    return faults, requests[requests["stream"] == "signup"]


def _sent_between(signups, start: float, next_fault: dict | None):
    """The signups sent after ``start`` and before the next fault was planned (or the end)."""
    chosen = signups[signups["sent"] > start]
    if next_fault is not None:
        chosen = chosen[chosen["sent"] < next_fault["planned_epoch"]]
    return chosen


def test_broker_faults_lose_no_acknowledged_signup(broker_faults):
    figures = broker_faults["designs"]["async"]
    emails = figures["emails"]
    assert emails["owed"] > 0
    assert emails["lost"] == 0 and emails["duplicates"] == 0 and emails["pending"] == 0
    assert emails["delivered"] == emails["owed"]
    assert figures["consistency"]["acknowledged_but_missing"] == 0


def test_broker_fault_scenarios_refuse_a_broker_offload_does_not_own(tmp_path, monkeypatch, capsys):
    # refused before anything starts: the command runs in this process (tests/factories/cli.py)
    monkeypatch.setenv("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
    scenario = SCENARIOS / "e2e-broker-faults.yaml"
    result = run_cli(
        capsys, "bench", "--scenario", str(scenario), "--reports-dir", str(tmp_path), "--no-report"
    )
    assert result.returncode == 2
    assert "AMQP_URL" in result.stderr and "refuses" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_workers_killed_holding_jobs_and_a_resized_pool_lose_and_duplicate_nothing(tmp_path):
    result = bench("e2e-worker-crash.yaml", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = summary_of(tmp_path, "e2e-worker-crash")
    figures = summary["designs"]["async"]
    emails = figures["emails"]
    assert emails["lost"] == 0 and emails["duplicates"] == 0 and emails["pending"] == 0
    # poison signups are dead-lettered on their first (permanent) failure, not retried
    assert emails["dead_lettered"] > 0
    assert emails["delivered"] + emails["dead_lettered"] == emails["owed"]
    faults = [
        json.loads(line)
        for line in (tmp_path / "latest" / "e2e-worker-crash" / "async" / "faults.jsonl")
        .read_text()
        .splitlines()
    ]
    assert [f["kind"] for f in faults] == ["workers", "workers", "workers"]
    assert len(faults[0]["result"]["killed"]) == 2
    assert len(faults[1]["result"]["restarted"]) == 2
    assert faults[2]["result"]["started"] == ["async-worker-3"]  # scaled from 2 to 3
    samples = (tmp_path / "latest" / "e2e-worker-crash" / "async" / "samples.csv").read_text()
    assert "async-worker-3,worker,1," in samples  # the new worker is sampled too
    jobs = (tmp_path / "latest" / "e2e-worker-crash" / "async" / "job_events.csv").read_text()
    dead = [line for line in jobs.splitlines() if ",dead_lettered," in line]
    assert dead and all(",1," in line for line in dead)  # attempt 1: no retries for poison
