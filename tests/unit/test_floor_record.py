"""The measurement floor in a run directory: the manifest records it, the summary carries it,
the reports state it next to the latency figures (or say that there is none, and why), and
the verdicts read it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from loadtests.plan import Arrivals
from offload.analysis.comparison import analyse_scenario
from offload.analysis.summary import write_summary
from offload.analysis.verdicts import MeasurementFloor, measurement_floor_ms
from offload.errors import OffloadError, RunInvalid
from offload.report.html import render_html
from offload.report.markdown import render_markdown
from offload.report.pages import scenario_document
from offload.run import bench_floor
from offload.run.bench_floor import FLOOR_DIR, record_floor
from offload.run.floor import QUICK_BENCH_FLOOR_S
from offload.run.progress import BenchProgress
from offload.rundir import GeneratorFloor, Quantiles, ScenarioManifest, Summary
from offload.scenario import Scenario, load_scenario
from tests.factories.processes import E2E_SCENARIO
from tests.factories.records import build_run
from tests.factories.rundirs import make_manifest

FLOOR = GeneratorFloor(
    rate=30.0,
    arrivals=Arrivals.POISSON,
    duration_s=5.0,
    requests=150,
    failed=0,
    latency_from_scheduled=Quantiles(p50_ms=0.31, p99_ms=0.92),
    latency_from_sent=Quantiles(p50_ms=0.24, p99_ms=0.6),
    lateness=Quantiles(p50_ms=0.07, p99_ms=0.35),
    cpu_ms_per_request=0.84,
    cpu_share_of_one_core=0.03,
    measured_at=1_767_225_590.0,
)


def test_a_manifest_with_a_floor_reads_back_equal(tmp_path: Path):
    manifest = ScenarioManifest.model_validate(make_manifest())
    manifest.floor = FLOOR
    path = manifest.dump(tmp_path / "manifest.json")

    written = json.loads(path.read_text())
    assert written["floor"]["latency_from_scheduled"] == {"p50_ms": 0.31, "p99_ms": 0.92}
    assert written["floor"]["arrivals"] == "poisson"
    again = ScenarioManifest.load(path)
    assert again.floor == FLOOR
    assert again.to_json() == manifest.to_json()


def test_a_manifest_from_before_the_floor_loads_and_stays_without_one(tmp_path: Path):
    source = tmp_path / "manifest.json"
    source.write_text(json.dumps(make_manifest()))

    manifest = ScenarioManifest.load(source)
    assert manifest.floor is None and manifest.floor_not_measured is None
    written = json.loads(manifest.dump(tmp_path / "again.json").read_text())
    assert "floor" not in written and "floor_not_measured" not in written


def test_a_floor_that_is_not_a_floor_is_refused_naming_the_field(tmp_path: Path):
    data = make_manifest()
    data["floor"] = {**FLOOR.to_json(), "latency_from_scheduled": {"p50_ms": "fast"}}
    source = tmp_path / "manifest.json"
    source.write_text(json.dumps(data))

    with pytest.raises(RunInvalid, match=r"floor\.latency_from_scheduled\.p50_ms"):
        ScenarioManifest.load(source)


def _run_with(tmp_path: Path, **fields: object) -> Path:
    """A synthetic run whose manifest carries ``fields`` (the floor), summarised again."""
    folder = build_run(tmp_path) / "synthetic"
    manifest = ScenarioManifest.in_folder(folder)
    for key, value in fields.items():
        setattr(manifest, key, value)
    manifest.dump(folder / ScenarioManifest.FILE_NAME)
    write_summary(folder)
    return folder


def _report_text(folder: Path) -> tuple[str, str]:
    """The scenario report as Markdown and as HTML."""
    blocks = scenario_document(analyse_scenario(folder), {}, [], "run", None)
    return render_markdown(blocks, folder / "report.md"), render_html(blocks, "t")


def test_the_summary_carries_the_floor_and_the_verdicts_use_its_p99(tmp_path: Path):
    folder = _run_with(tmp_path, floor=FLOOR)

    summary = Summary.in_folder(folder)
    assert summary.floor == FLOOR
    assert measurement_floor_ms(summary) == MeasurementFloor(median_ms=0.31, tail_ms=0.92)
    assert json.loads((folder / "summary.json").read_text())["floor"]["cpu_ms_per_request"] == 0.84


def test_a_floor_too_short_for_a_p99_has_the_verdicts_use_its_slowest_request(tmp_path: Path):
    """150 requests cannot support a p99 (it would be their second slowest): the threshold
    that decides "no clear difference" is then the slowest the harness alone was seen to be."""
    scheduled = Quantiles(p50_ms=0.31, p99_ms=0.92, max_ms=3.4)
    short = FLOOR.model_copy(update={"latency_from_scheduled": scheduled})
    folder = _run_with(tmp_path, floor=short)

    assert measurement_floor_ms(Summary.in_folder(folder)) == MeasurementFloor(0.31, 3.4)
    markdown, _ = _report_text(folder)
    assert "at or below the floor's slowest request (3.4 ms: its 150 requests are too few" in (
        markdown
    )
    enough = short.model_copy(update={"requests": 1_000})
    assert enough.resolution_ms == 0.92


def test_every_report_states_the_floor_next_to_the_latency_figures(tmp_path: Path):
    markdown, html = _report_text(_run_with(tmp_path, floor=FLOOR))

    stated = "Measurement floor on this machine: p50 0.31 ms, p99 0.92 ms from the scheduled time"
    for text in (markdown, html):
        assert stated in text
        assert "client CPU 0.84 ms/request" in text
        assert "at 30/s for 5 s (150 requests)" in text
    # beside the verdict table and beside the phase tables
    assert markdown.count(stated) == 2
    assert markdown.index(stated) > markdown.index("## Verdict")
    assert markdown.rindex(stated) > markdown.index("### Signups (POST /users)")


def test_a_run_without_a_floor_says_so_and_why(tmp_path: Path):
    folder = _run_with(
        tmp_path, floor=None, floor_not_measured="skipped with offload bench --no-floor"
    )

    assert measurement_floor_ms(Summary.in_folder(folder)) is None
    markdown, html = _report_text(folder)
    for text in (markdown, html):
        assert "Measurement floor not measured" in text
        assert "skipped with offload bench --no-floor" in text
        assert "Measurement floor on this machine" not in text


def test_a_run_recorded_before_the_floor_existed_says_it_has_none(tmp_path: Path):
    markdown, _ = _report_text(_run_with(tmp_path))

    assert "Measurement floor not measured** (this run was recorded before" in markdown


# -- offload bench: measured, skipped, or failed — never silently absent ----------------------


def _record(tmp_path: Path, scenario: Scenario, **options: bool) -> tuple[ScenarioManifest, str]:
    """``record_floor`` on a fresh manifest; returns it and what the terminal showed."""
    manifest = ScenarioManifest.model_validate(make_manifest())
    out = io.StringIO()
    progress = BenchProgress(Console(file=out, width=200), total_runs=1)
    record_floor(manifest, scenario, tmp_path / scenario.name, progress, **options)
    return manifest, out.getvalue()


@pytest.fixture
def scenario() -> Scenario:
    return load_scenario(E2E_SCENARIO)


def test_the_bench_measures_at_the_scenarios_rate_and_records_the_floor(
    tmp_path: Path, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
):
    asked: dict[str, object] = {}

    def measure(rate: float, **kwargs: object) -> GeneratorFloor:
        asked.update(rate=rate, **kwargs)
        return FLOOR

    monkeypatch.setattr(bench_floor, "measure_floor", measure)
    manifest, terminal = _record(tmp_path, scenario, quick=True)

    assert manifest.floor == FLOOR and manifest.floor_not_measured is None
    assert asked["rate"] == 12  # 8 signups/s + 4 bystanders/s
    assert asked["arrivals"] == Arrivals.POISSON
    assert asked["duration_s"] == QUICK_BENCH_FLOOR_S
    assert asked["work_dir"] == tmp_path / "e2e-slow" / FLOOR_DIR
    assert "measuring the harness's own floor at 12/s for 3 s" in terminal
    assert "measurement floor p50 0.31 ms, p99 0.92 ms from the scheduled time" in terminal


def test_no_floor_records_why_there_is_none_without_measuring(
    tmp_path: Path, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(bench_floor, "measure_floor", _must_not_measure)
    manifest, _ = _record(tmp_path, scenario, skip=True)

    assert manifest.floor is None
    assert manifest.floor_not_measured == "skipped with offload bench --no-floor"
    assert manifest.warnings == []  # asked for: no warning, but the report says it
    assert manifest.to_json()["floor"] is None  # written as null, beside the reason


def test_a_closed_loop_scenario_has_no_floor_and_says_why(
    tmp_path: Path, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(bench_floor, "measure_floor", _must_not_measure)
    closed = scenario.model_copy(
        update={"load": scenario.load.model_copy(update={"mode": "closed", "users": 2})}
    )
    manifest, _ = _record(tmp_path, closed)

    assert manifest.floor is None and "closed loop" in (manifest.floor_not_measured or "")


def test_a_floor_that_fails_is_a_warning_on_the_terminal_and_in_the_run(
    tmp_path: Path, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
):
    def broken(rate: float, **kwargs: object) -> GeneratorFloor:
        raise OffloadError("the generator exited with code 1: [boom]")

    monkeypatch.setattr(bench_floor, "measure_floor", broken)
    manifest, terminal = _record(tmp_path, scenario)

    assert manifest.floor is None
    assert manifest.floor_not_measured == (
        "measuring it failed: the generator exited with code 1: [boom]"
    )
    assert manifest.warnings == [
        "the measurement floor was not measured: measuring it failed: the generator exited "
        "with code 1: [boom]"
    ]
    assert "the measurement floor was not measured" in terminal and "[boom]" in terminal


def test_a_floor_without_a_single_answer_is_no_floor(
    tmp_path: Path, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
):
    unanswered = FLOOR.model_copy(update={"requests": 0, "failed": 60})
    monkeypatch.setattr(bench_floor, "measure_floor", lambda rate, **kwargs: unanswered)
    manifest, _ = _record(tmp_path, scenario)

    assert manifest.floor is None
    assert "answered none of its 60 requests" in (manifest.floor_not_measured or "")
    assert len(manifest.warnings) == 1


def _must_not_measure(rate: float, **kwargs: object) -> GeneratorFloor:
    raise AssertionError("the floor was measured")
