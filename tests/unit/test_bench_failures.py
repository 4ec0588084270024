"""A bench whose scenario could not be summarised, or whose report could not be rendered, must
not look like a success: it exits non-zero, says which scenario and what failed, and keeps
the records."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from rich.console import Console

from offload.commands import bench
from offload.report import RenderedRun
from offload.run.orchestrator import _summarise
from offload.run.progress import BenchProgress
from offload.rundir.run_info import RunInfo
from tests.factories.rundirs import write_run


def _args(tmp_path: Path, *, no_report: bool = True) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    argv = ["--scenario", "slow-downstream", "--reports-dir", str(tmp_path)]
    return parser.parse_args(argv + (["--no-report"] if no_report else []))


def _unsummarisable_run(tmp_path: Path) -> Path:
    """A finished run whose scenario's manifest is not JSON: summarising it fails."""
    run_dir = write_run(tmp_path / "runs")
    scenario_dir = run_dir / "slow-downstream"
    (scenario_dir / "summary.json").unlink()
    (scenario_dir / "manifest.json").write_text('{"schema_version": 1, "scenario": ')
    return run_dir


def test_a_failed_summary_is_recorded_in_run_json_and_named_on_the_terminal(tmp_path):
    run_dir = _unsummarisable_run(tmp_path)
    info = RunInfo.in_folder(run_dir)
    console = Console(record=True, width=200)
    with BenchProgress(console, total_runs=1) as progress:
        _summarise(run_dir / "slow-downstream", progress, info)
    info.dump(run_dir / "run.json")

    reason = RunInfo.in_folder(run_dir).summary_failures["slow-downstream"]
    assert "manifest.json" in reason
    assert "could not summarise slow-downstream" in console.export_text()
    assert (run_dir / "slow-downstream" / "manifest.json").exists()  # the records stay


def test_bench_exits_non_zero_and_says_why_when_a_scenario_was_not_summarised(
    tmp_path, monkeypatch, capsys
):
    run_dir = _unsummarisable_run(tmp_path)
    info = RunInfo.in_folder(run_dir)
    info.summary_failures = {"slow-downstream": "RunInvalid: manifest.json is not JSON"}
    info.dump(run_dir / "run.json")
    monkeypatch.setattr(bench, "run_bench", lambda plan, console: run_dir)
    monkeypatch.setattr(bench, "console", Console(width=200))

    code = bench.run(_args(tmp_path))

    out = capsys.readouterr().out
    assert code == 1
    assert "slow-downstream: could not be summarised: RunInvalid: manifest.json is not JSON" in out


def test_bench_exits_non_zero_and_names_the_scenario_whose_report_failed(
    tmp_path, monkeypatch, capsys
):
    run_dir = write_run(tmp_path / "runs")  # a valid run: without the failure, exit 0
    monkeypatch.setattr(bench, "run_bench", lambda plan, console: run_dir)
    monkeypatch.setattr(bench, "console", Console(width=200))
    failed = RenderedRun(run_dir, failures={"slow-downstream": "ValueError: no axis"})
    monkeypatch.setattr("offload.report.render_run", lambda run_dir: failed)
    assert bench.run(_args(tmp_path)) == 0

    code = bench.run(_args(tmp_path, no_report=False))

    out = capsys.readouterr().out
    assert code == 1
    assert "slow-downstream: the report could not be rendered: ValueError: no axis" in out


@pytest.mark.parametrize("gate_code", [0, 1, 2])
def test_with_gate_a_failed_report_is_never_exit_0(tmp_path, monkeypatch, gate_code):
    run_dir = write_run(tmp_path / "runs")
    monkeypatch.setattr(bench, "run_bench", lambda plan, console: run_dir)
    monkeypatch.setattr(bench, "console", Console(width=200))
    failed = RenderedRun(run_dir, failures={"slow-downstream": "ValueError: no axis"})
    monkeypatch.setattr("offload.report.render_run", lambda run_dir: failed)

    class Report:
        exit_code = gate_code

    monkeypatch.setattr("offload.gate.run_gate", lambda *a, **k: Report())
    args = _args(tmp_path, no_report=False)
    args.gate = tmp_path / "baseline.json"

    assert bench.run(args) == max(gate_code, 1)
