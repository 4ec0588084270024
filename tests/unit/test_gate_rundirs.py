"""How the gate reads run directories: repeats grouped by scenario, unusable input refused,
expectations taken from the recorded scenario (builders in ``tests.factories.rundirs``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from offload.errors import RunInvalid
from offload.gate import evaluate_run
from offload.gate.rundir import load_run_dir
from tests.factories.rundirs import EXPECT, write_run

# -- how the gate reads run directories ----------------------------------------------------


def test_repeats_are_grouped_by_the_summarys_scenario_field_in_repeat_order(tmp_path: Path):
    run_dir = write_run(tmp_path, repeats=3)
    (run_dir / "slow-downstream.r2").rename(run_dir / "renamed-folder")
    run = load_run_dir(run_dir)
    assert list(run.scenarios) == ["slow-downstream"]
    assert [r.number for r in run.scenarios["slow-downstream"].repeats] == [1, 2, 3]


def test_a_single_scenario_folder_can_be_given_directly(tmp_path: Path):
    run_dir = write_run(tmp_path)
    run = load_run_dir(run_dir / "slow-downstream")
    assert list(run.scenarios) == ["slow-downstream"]


def test_a_directory_without_summaries_is_unusable_input(tmp_path: Path):
    with pytest.raises(RunInvalid, match=r"no scenario results here") as caught:
        load_run_dir(tmp_path)
    assert caught.value.exit_code == 2


def test_a_corrupt_summary_names_the_file(tmp_path: Path):
    run_dir = write_run(tmp_path)
    (run_dir / "slow-downstream" / "summary.json").write_text("{not json")
    with pytest.raises(RunInvalid, match=r"summary.json: not valid JSON"):
        load_run_dir(run_dir)


def test_a_summary_without_its_manifest_is_unusable_input(tmp_path: Path):
    run_dir = write_run(tmp_path)
    (run_dir / "slow-downstream" / "manifest.json").unlink()
    with pytest.raises(RunInvalid, match=r"manifest.json is missing"):
        load_run_dir(run_dir)


def test_an_unknown_summary_schema_version_is_refused(tmp_path: Path):
    run_dir = write_run(tmp_path, variant=lambda s, k: s.update(schema_version=2))
    with pytest.raises(RunInvalid, match=r"schema_version 2 is not one this offload reads"):
        load_run_dir(run_dir)


def test_the_same_repeat_twice_is_refused(tmp_path: Path):
    run_dir = write_run(tmp_path, repeats=2, variant=lambda s, k: s.update(repeat=1))
    with pytest.raises(RunInvalid, match=r"repeat 1 appears twice"):
        load_run_dir(run_dir)


def test_expectations_come_from_the_manifests_resolved_scenario(tmp_path: Path):
    run = load_run_dir(write_run(tmp_path))
    assert run.scenarios["slow-downstream"].expectations == EXPECT


def test_a_run_that_did_not_complete_is_gated_with_a_warning(tmp_path: Path):
    report = evaluate_run(write_run(tmp_path, status="failed"))
    assert report.exit_code == 0
    assert report.warnings == [
        "the run did not complete (run.json status: failed): only finished scenarios are gated"
    ]
    assert evaluate_run(write_run(tmp_path / "complete")).warnings == []
