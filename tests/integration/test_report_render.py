"""Rendering reports: every chart, Markdown whose links resolve, one HTML file that needs no
network, banners for invalid runs, and words that follow the numbers.

The synthetic runs are rendered without their PDFs (``pdf=False``: a Chromium per page, and
nothing here reads them); the shared real run is rendered with them, and
tests/e2e/test_report_in_browser.py checks those, as does the report command's test here."""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

import pytest

from offload.analysis import numbers
from offload.commands import report as report_command
from offload.errors import RunInvalid
from offload.report import RenderedRun, render_run
from offload.report.charts import CHARTS
from tests.factories.records import build_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def rendered(e2e_rendered: RenderedRun) -> RenderedRun:
    """The shared real run, rendered once for the session (tests/conftest.py)."""
    return e2e_rendered


def _links(markdown: str) -> list[str]:
    return [m for m in re.findall(r"\]\(([^)\s]+)\)", markdown) if not m.startswith("#")]


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_every_chart_is_drawn_as_png_and_svg(rendered):
    assert not rendered.failures
    (scenario,) = rendered.scenarios
    assert scenario.problems == []
    charts = scenario.analysis.data.directory / "charts"
    for chart in CHARTS:
        if chart.name == "scaling":  # only for runs comparing worker counts
            assert not (charts / "scaling.png").exists()
            continue
        png, svg = charts / f"{chart.name}.png", charts / f"{chart.name}.svg"
        width, height = _png_size(png)
        assert width > 800 and height > 300, (chart.name, width, height)
        assert svg.stat().st_size > 2000, chart.name
        assert "http://matplotlib" not in svg.read_text()
    assert _png_size(rendered.run_dir / "charts" / "overview.png")[0] > 800


def test_markdown_reports_link_only_files_that_exist(rendered):
    scenario_dir = rendered.scenarios[0].analysis.data.directory
    for report in (rendered.run_dir / "report.md", scenario_dir / "report.md"):
        links = _links(report.read_text())
        assert any(link.endswith("charts/latency.png") for link in links), report
        for link in links:
            assert (report.parent / link).exists(), f"{report}: {link}"


def test_html_report_is_self_contained(rendered):
    for page in (rendered.run_dir / "report.html", rendered.scenarios[0].html):
        text = page.read_text()
        assert "http://" not in text and "https://" not in text, page
        sources = re.findall(r'src="([^"]*)"', text)
        assert len(sources) >= len(CHARTS) - 1  # every chart but the scaling one
        assert all(s.startswith("data:image/png;base64,") for s in sources)
        assert "<script" not in text and "@import" not in text and "url(" not in text
        assert "Manifest: versions, configuration, machine" in text
        assert ">winner</th>" in text and "signup response p95" in text
        assert "rabbitmq" in text  # versions are in the manifest section


def test_every_report_of_a_real_run_states_its_measured_floor(rendered):
    """The floor the bench measured before the designs (manifest.json) is the one every
    report page states next to its latency figures."""
    scenario_dir = rendered.scenarios[0].analysis.data.directory
    floor = json.loads((scenario_dir / "manifest.json").read_text())["floor"]
    p50 = numbers.ms(floor["latency_from_scheduled"]["p50_ms"])
    stated = f"Measurement floor on this machine: p50 {p50}, p99 "
    for page in (rendered.run_dir, scenario_dir):
        for name in ("report.md", "report.html"):
            text = (page / name).read_text()
            assert stated in text, page / name
            assert f"at {floor['rate']:g}/s" in text, page / name
            assert "Measurement floor not measured" not in text, page / name


def test_scenario_tables_and_reports_index(rendered):
    scenario_dir = rendered.scenarios[0].analysis.data.directory
    for name in ("metrics", "timeseries", "spectrum", "ledger", "capacity", "verdicts", "claims"):
        assert (scenario_dir / "tables" / f"{name}.csv").stat().st_size > 0
    index = rendered.index
    assert index == rendered.run_dir.parent.parent / "index.html"
    text = index.read_text()
    assert f'href="runs/{rendered.run_dir.name}/report.html"' in text
    assert "signup p95</th>" in text and "e2e-slow" in text
    assert "http://" not in text and "https://" not in text


def test_invalid_run_shows_a_red_banner(tmp_path: Path):
    run_dir = build_run(tmp_path, invalid=["sync: component sync-api exited with code 1"])
    result = render_run(run_dir, pdf=False)
    for page in (run_dir / "report.html", run_dir / "synthetic" / "report.html"):
        text = page.read_text()
        assert 'class="banner invalid"' in text
        assert "INVALID" in text and "component sync-api exited with code 1" in text
    assert "> [!CAUTION]" in (run_dir / "synthetic" / "report.md").read_text()
    assert "INVALID" in result.index.read_text()


def test_verdicts_change_when_the_numbers_change(tmp_path: Path):
    slow_emails = build_run(tmp_path / "a")
    fast_emails = build_run(tmp_path / "b", async_emails_faster=True)
    render_run(slow_emails, pdf=False)
    render_run(fast_emails, pdf=False)
    first = (slow_emails / "synthetic" / "report.md").read_text()
    second = (fast_emails / "synthetic" / "report.md").read_text()
    # 18 emails cannot support an end-to-end p95 (it needs 200): the verdict says so
    row = re.compile(r"^\| email end-to-end p95 \| \*\*(.+?)\*\* \| (.+?) \|", re.M)
    assert (
        row.search(first).groups() == row.search(second).groups() == ("–", "n/a: too few requests")
    )
    # claim 2 reads the raw figures, and the sync p95 is the client timeout: no factor
    assert "async end-to-end p50/p95 60 ms / 2,101 ms against sync" in first
    assert "async end-to-end p50/p95 60 ms / 500 ms against sync" in second
    assert "≥ 5 s (timeout) (faster at p95; no factor from a p95 at the client timeout)" in first
    assert "× faster" not in first
    assert 'class="banner invalid"' not in (slow_emails / "report.html").read_text()


def test_a_scenario_with_one_design_still_gets_every_chart(tmp_path: Path):
    run_dir = build_run(tmp_path)
    folder = run_dir / "synthetic"
    shutil.rmtree(folder / "async")
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["designs"]["async"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "summary.json").unlink()
    result = render_run(run_dir, pdf=False)
    assert not result.failures and result.scenarios[0].problems == []
    for chart in CHARTS:
        if chart.name != "scaling":
            assert (folder / "charts" / f"{chart.name}.png").stat().st_size > 0


def _args(run_dir: Path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    report_command.add_arguments(parser)
    return parser.parse_args([str(run_dir), *extra])


def test_report_command_recomputes_the_summary_and_renders(tmp_path: Path):
    run_dir = build_run(tmp_path)
    (run_dir / "synthetic" / "summary.json").unlink()
    assert report_command.run(_args(run_dir)) == 0
    assert json.loads((run_dir / "synthetic" / "summary.json").read_text())["valid"] is True
    assert (run_dir / "report.html").exists()
    assert report_command.run(_args(run_dir, "--scenario", "synthetic")) == 0


def test_report_command_refuses_what_is_not_a_run_directory(tmp_path: Path):
    with pytest.raises(RunInvalid, match="not a run directory") as error:
        report_command.run(_args(tmp_path))
    assert error.value.exit_code == 2
    with pytest.raises(RunInvalid, match="no scenario folder nope"):
        report_command.run(_args(build_run(tmp_path / "x"), "--scenario", "nope"))


def test_the_scenario_report_shows_the_machine_beside_each_design(rendered):
    scenario_dir = rendered.scenarios[0].analysis.data.directory
    markdown = (scenario_dir / "report.md").read_text()
    section = markdown.split("### Machine", 1)[1].split("\n#", 1)[0]
    for design in ("sync", "async"):
        assert f"| {design} |" in section
    assert "other processes" in section
    metrics = (scenario_dir / "tables" / "metrics.csv").read_text()
    assert "machine,other_processes_share_mean" in metrics
