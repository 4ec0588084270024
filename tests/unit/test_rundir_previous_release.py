"""A run directory written by the previous release still reads: the bench's JSON files in
``tests/data/rundir-v1`` were written by ``offload bench`` at commit 36035a1 (a four-second run
of both designs; the raw records are left out), and ``baselines/ci.json`` was saved before
the run directory had models."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest

from offload.analysis.scenario_data import load_scenario_dir
from offload.commands import report as report_command
from offload.gate import evaluate_run, load_baseline
from offload.gate.baseline import build_baseline
from offload.gate.identity import differences, identity_of
from offload.gate.rundir import load_run_dir
from offload.report.index import write_index
from offload.rundir import RunInfo, ScenarioManifest, Summary

REPO = Path(__file__).resolve().parents[2]
V1 = REPO / "tests" / "data" / "rundir-v1"
#: the identity the previous release computed for this manifest (offload.gate.identity)
V1_SCENARIO_SHA256 = "a7ce2ac21ec8254149ab20b0433f00ddcf265ae0a9f62c761b8aae7b93510ed0"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A copy under ``reports/runs/``, where readers may write (gate.md, reports, index)."""
    target = tmp_path / "reports" / "runs" / "20261201T202524Z"
    shutil.copytree(V1, target)
    return target


def test_its_files_load_through_the_models():
    info = RunInfo.in_folder(V1)
    manifest = ScenarioManifest.in_folder(V1 / "rundir-v1")
    summary = Summary.in_folder(V1 / "rundir-v1")

    assert info.status == "complete" and info.scenarios == ["rundir-v1"]
    assert manifest.scenario.name == "rundir-v1"
    assert manifest.scenario.expect == ["async.emails.lost == 0", "async.signup.p95 < 1000"]
    assert [p.name for p in manifest.phases] == ["healthy", "slow"]
    assert manifest.designs["async"].kind == "async"
    assert manifest.designs["async"].config.workers == 1
    assert manifest.designs["async"].drained is True
    assert manifest.designs["sync"].drained is None  # a design without a queue never drains
    assert summary.valid and summary.mode == "open"
    assert summary.designs["async"].queue is not None
    assert summary.designs["sync"].queue is None
    assert summary.designs["async"].signup.overall.count == 16


def test_the_gate_judges_its_expectations(run_dir: Path):
    report = evaluate_run(run_dir)
    assert report.exit_code == 0
    assert [check.name for check in report.checks] == [
        "async.emails.lost == 0",
        "async.signup.p95 < 1000",
    ]
    assert report.warnings == []


def test_its_identity_is_the_one_the_previous_release_computed(run_dir: Path):
    manifest = load_run_dir(run_dir).scenarios["rundir-v1"].manifest
    identity = identity_of(manifest)
    assert identity["scenario_sha256"] == V1_SCENARIO_SHA256
    baseline = build_baseline(load_run_dir(run_dir))
    assert differences(baseline.scenarios["rundir-v1"].identity, identity) == []
    assert baseline.git.sha == "36035a1622ec7f3b3d44b973308a7359c057045c"


def test_the_report_renders_it_from_its_summary(run_dir: Path):
    parser = argparse.ArgumentParser()
    report_command.add_arguments(parser)
    assert report_command.run(parser.parse_args([str(run_dir), "--keep-summary"])) == 0
    text = (run_dir / "report.md").read_text()
    assert "rundir-v1" in text and "async's signup p95 was 9.2 ms" in text
    assert load_scenario_dir(run_dir / "rundir-v1").summary == Summary.in_folder(
        run_dir / "rundir-v1"
    )


def test_the_index_lists_it(run_dir: Path):
    index = write_index(run_dir.parent.parent).read_text()
    assert "20261201T202524Z" in index and "rundir-v1" in index
    assert "unreadable" not in index and ">valid<" in index


def test_the_committed_ci_baseline_still_loads():
    baseline = load_baseline(REPO / "baselines" / "ci.json")
    scenario = baseline.scenarios["ci-gate"]
    assert scenario.policy and len(scenario.runs) >= 3  # enough for the Mann-Whitney test
    assert baseline.machine.cpus == 2
    assert baseline.git.sha and baseline.git.dirty is True
