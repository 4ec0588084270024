"""A rate the configured generator processes cannot offer is refused before anything starts,
naming the file, the field, the rate, the measured capacity and --load-workers."""

from __future__ import annotations

import pytest

from offload.cli import main
from offload.errors import ScenarioError
from offload.run.generator_capacity import REQUESTS_PER_GENERATOR_PROCESS
from offload.run.orchestrator import BenchPlan, prepare


def _scenario(tmp_path, load: str):
    path = tmp_path / "fast.yaml"
    path.write_text(f"name: fast\nload: {load}\n")
    return path


def test_an_absurd_rate_is_refused_before_anything_starts(tmp_path, capsys):
    path = _scenario(tmp_path, "{rate: 100000000/s, duration: 30s, bystander_rate: 5/s}")
    reports = tmp_path / "reports"

    code = main(["bench", "--scenario", str(path), "--reports-dir", str(reports)])

    err = " ".join(capsys.readouterr().err.split())  # the terminal wraps long lines
    assert code == 2
    assert f"{path}: field 'load.rate': 100,000,000 signups/s + 5/s of bystanders" in err
    assert f"{REQUESTS_PER_GENERATOR_PROCESS:,} requests/s per process" in err
    assert "× 1 process" in err
    assert "--load-workers" in err
    assert not reports.exists()  # no run directory, no schedule, no process


def test_the_peak_of_a_step_is_what_counts_and_its_field_is_named(tmp_path):
    path = _scenario(
        tmp_path,
        "{rate: 100/s, duration: 30s, steps: [{at: 10s, rate: 1500/s}, {at: 20s, rate: 100/s}]}",
    )
    with pytest.raises(ScenarioError, match=r"field 'load\.steps\[0\]\.rate': 1,500 signups/s"):
        prepare(BenchPlan(scenario_files=[path]))


def test_a_rate_under_the_cap_of_enough_workers_is_accepted(tmp_path):
    path = _scenario(tmp_path, "{rate: 1500/s, duration: 30s, bystander_rate: 100/s}")
    with pytest.raises(ScenarioError, match=r"--load-workers 2 would be needed"):
        prepare(BenchPlan(scenario_files=[path], load_workers=1))

    [prepared] = prepare(BenchPlan(scenario_files=[path], load_workers=2))

    assert prepared.scenario.load.rate == 1500
