"""The run directory's files through their models: a file read and written again is the same
file, a figure that does not apply stays absent, and every file offload cannot read is refused
with a message that names it."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from offload.errors import RunInvalid
from offload.expect.expressions import parse_expectation
from offload.expect.paths import UnknownPath, lookup
from offload.gate import evaluate_expectation
from offload.rundir import RunInfo, ScenarioManifest, Summary
from offload.rundir.files import RunFile

V1 = Path(__file__).resolve().parents[1] / "data" / "rundir-v1"
#: every file of a run directory: its model and where the v1 fixture has one
FILES: list[tuple[type[RunFile], Path]] = [
    (RunInfo, V1 / "run.json"),
    (ScenarioManifest, V1 / "rundir-v1" / "manifest.json"),
    (Summary, V1 / "rundir-v1" / "summary.json"),
]
IDS = [model.__name__ for model, _ in FILES]


def _copy(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / source.name
    shutil.copyfile(source, target)
    return target


def _rewrite(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(("model", "source"), FILES, ids=IDS)
def test_a_file_read_and_written_again_is_the_same_file(model, source, tmp_path):
    written = model.load(source).dump(tmp_path / source.name)
    assert written.read_text() == source.read_text()


def test_a_summary_built_in_code_reads_back_equal(tmp_path):
    summary = Summary.load(V1 / "rundir-v1" / "summary.json")
    summary.designs["async"].emails.lost = 3
    summary.valid = False
    summary.invalid_reasons.append("async: three emails went missing")
    summary.dump(tmp_path / "summary.json")

    again = Summary.load(tmp_path / "summary.json")
    assert again == summary
    assert again.designs["async"].emails.lost == 3
    assert again.invalid_reasons == ["async: three emails went missing"]


def test_a_run_info_records_how_the_bench_ended(tmp_path):
    info = RunInfo(command=["offload", "bench"], scenarios=["x"], started_at=1.0, status="running")
    info.dump(tmp_path / "run.json")
    info.status = "interrupted"
    info.ended_at = 2.0
    info.dump(tmp_path / "run.json")

    data = json.loads((tmp_path / "run.json").read_text())
    assert data == {
        "schema_version": 1,
        "command": ["offload", "bench"],
        "scenarios": ["x"],
        "started_at": 1.0,
        "status": "interrupted",
        "ended_at": 2.0,
    }
    assert RunInfo.load(tmp_path / "run.json").status == "interrupted"


def test_a_status_no_bench_writes_is_refused_on_assignment():
    info = RunInfo(command=[], scenarios=[], started_at=1.0, status="running")
    with pytest.raises(ValueError, match="status"):
        info.status = "done"  # type: ignore[assignment]


def test_queue_figures_of_a_design_without_a_queue_stay_absent():
    summary = Summary.load(V1 / "rundir-v1" / "summary.json")
    figures = summary.figures()
    assert "queue" not in figures["designs"]["sync"]
    assert figures["designs"]["async"]["queue"]["drained"] is True
    # an expectation about the sync design's queue names nothing (exit 2), not a missing value
    expression = parse_expectation("sync.queue.max_depth == 0")
    with pytest.raises(UnknownPath):
        expression.evaluate(lambda path: lookup(figures, path))


def test_a_figure_without_a_finite_value_is_written_as_null(tmp_path):
    summary = Summary.load(V1 / "rundir-v1" / "summary.json")
    summary.designs["sync"].e2e_ms.p95 = math.nan
    summary.designs["sync"].generator.cpu_percent = math.inf
    summary.dump(tmp_path / "summary.json")
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["designs"]["sync"]["e2e_ms"]["p95"] is None
    assert data["designs"]["sync"]["generator"]["cpu_percent"] is None


def test_fields_a_newer_offload_adds_are_kept_and_can_be_gated(tmp_path):
    path = _copy(V1 / "rundir-v1" / "summary.json", tmp_path)

    def add(data):
        data["host_load"] = {"busy_percent": 12.5}
        data["designs"]["async"]["emails"]["bounced"] = 2

    _rewrite(path, add)
    summary = Summary.load(path)
    summary.dump(tmp_path / "again.json")
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["host_load"] == {"busy_percent": 12.5}
    assert again["designs"]["async"]["emails"]["bounced"] == 2
    expression = parse_expectation("async.emails.bounced < 5")
    assert expression.evaluate(lambda p: lookup(summary.figures(), p))


@pytest.mark.parametrize(("model", "source"), FILES, ids=IDS)
def test_a_newer_schema_version_is_refused_naming_the_file(model, source, tmp_path):
    path = _copy(source, tmp_path)
    _rewrite(path, lambda data: data.update(schema_version=2))
    with pytest.raises(RunInvalid) as caught:
        model.load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: schema_version 2 is not one this offload reads (1)")
    assert "written by a newer offload; upgrade offload" in message
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("version", [0, "1", True, None])
def test_an_unknown_schema_version_is_refused_naming_the_file(version, tmp_path):
    path = _copy(V1 / "rundir-v1" / "summary.json", tmp_path)
    _rewrite(path, lambda data: data.update(schema_version=version))
    with pytest.raises(RunInvalid, match=r"schema_version .* is not one this offload reads \(1\)"):
        Summary.load(path)


@pytest.mark.parametrize(("model", "source"), FILES, ids=IDS)
def test_a_file_without_a_schema_version_is_refused(model, source, tmp_path):
    path = _copy(source, tmp_path)
    _rewrite(path, lambda data: data.pop("schema_version"))
    with pytest.raises(RunInvalid, match=rf"^{path}: no schema_version"):
        model.load(path)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"schema_version": 1, "designs": ', r"not valid JSON \(line 1: "),
        ("[1, 2]", "expected a JSON object, got list"),
    ],
)
def test_a_file_that_is_not_a_json_object_is_refused(text, problem, tmp_path):
    path = tmp_path / "summary.json"
    path.write_text(text)
    with pytest.raises(RunInvalid, match=rf"^{path}: {problem}"):
        Summary.load(path)


def test_a_malformed_summary_names_the_file_and_every_field(tmp_path):
    path = _copy(V1 / "rundir-v1" / "summary.json", tmp_path)

    def spoil(data):
        data["designs"]["async"]["emails"]["lost"] = "none"
        del data["designs"]["sync"]["signup"]["overall"]["latency_ms"]
        data["repeat"] = 0

    _rewrite(path, spoil)
    with pytest.raises(RunInvalid) as caught:
        Summary.load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: not a valid scenario summary: ")
    assert "field 'repeat': Input should be greater than or equal to 1" in message
    assert "field 'designs.sync.signup.overall.latency_ms': Field required" in message
    assert "field 'designs.async.emails.lost': Input should be a valid integer" in message


def test_a_malformed_manifest_entry_names_the_design(tmp_path):
    path = _copy(V1 / "rundir-v1" / "manifest.json", tmp_path)
    _rewrite(path, lambda data: data["designs"]["async"].pop("kind"))
    with pytest.raises(RunInvalid, match=r"scenario manifest: field 'designs.async.kind'"):
        ScenarioManifest.load(path)


def test_a_missing_file_says_what_it_should_have_been(tmp_path):
    with pytest.raises(RunInvalid, match=r"run.json is missing: is this a run directory"):
        RunInfo.in_folder(tmp_path)


def test_an_expectation_reads_a_summary_model_as_it_reads_the_file():
    summary = Summary.load(V1 / "rundir-v1" / "summary.json")
    assert evaluate_expectation("async.signup.p95 < sync.signup.p95", summary)
    assert evaluate_expectation(
        "async.signup.p95 < sync.signup.p95",
        json.loads((V1 / "rundir-v1" / "summary.json").read_text()),
    )
