"""Render a run directory: every scenario's tables, charts and report, the whole-run report,
and the reports index. Reads only the run directory (see reports/README.md).

Each report.html is then printed to report.pdf beside it by headless Chromium when it is
installed (``browser``); without it the PDFs are skipped and ``pdfs`` says why.

A scenario whose records cannot be analysed is reported in a red banner of the run report
rather than failing the others: ``make bench`` must always leave a report behind.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from offload.analysis.comparison import ScenarioAnalysis, analyse_scenario
from offload.analysis.scenario_data import in_run_order
from offload.analysis.tables import write_tables
from offload.report.browser import PdfResult, print_pdfs
from offload.report.charts import draw_charts, draw_overview
from offload.report.document import Banner, Block
from offload.report.html import render_html
from offload.report.index import write_index
from offload.report.markdown import render_markdown
from offload.report.pages import run_document, scenario_document
from offload.report.style import design_colours
from offload.rundir.paths import scenario_dirs
from offload.rundir.run_info import RunInfo

log = logging.getLogger("offload.report")


@dataclass
class RenderedScenario:
    analysis: ScenarioAnalysis
    charts: dict[str, list[Path]]
    problems: list[str]
    markdown: Path
    html: Path


@dataclass
class RenderedRun:
    run_dir: Path
    scenarios: list[RenderedScenario] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    markdown: Path | None = None
    html: Path | None = None
    index: Path | None = None
    #: one per report.html (the run's, then each scenario's); empty when pdf=False
    pdfs: list[PdfResult] = field(default_factory=list)
    seconds: float = 0.0


def _write(blocks: list[Block], directory: Path, title: str) -> tuple[Path, Path]:
    md, page = directory / "report.md", directory / "report.html"
    md.write_text(render_markdown(blocks, md))
    page.write_text(render_html(blocks, title, page))
    return md, page


#: written beside Locust's own CSV files: they count the warm-up, the report does not
LOCUST_README = """\
Locust's own files, as Locust wrote them: locust_stats.csv, locust_stats_history.csv,
locust_failures.csv, locust_exceptions.csv and locust.log.

They INCLUDE THE WARM-UP. Locust counts every request from its own start, the warm-up
before t=0 included, and its percentiles are its own approximations; so its request counts
are higher than the report's, and its latencies differ from it.

The report, summary.json and tables/ count only the measured part (t >= 0), from
../requests.csv: one row per scheduled request, its phase column says warmup or measured,
latency measured from the scheduled time. Use that file to reproduce a figure of the report;
these are kept unchanged as Locust's own record of the run, to check the harness against.
"""


def label_locust_files(scenario_dir: Path) -> list[Path]:
    """A README.txt in every ``<design>/locust/`` folder saying that these files include the
    warm-up (they are labelled rather than cut: they are Locust's own record, and
    requests.csv already holds the measured window request by request)."""
    written = []
    for folder in sorted(scenario_dir.glob("*/locust")):
        if folder.is_dir():
            target = folder / "README.txt"
            target.write_text(LOCUST_README)
            written.append(target)
    return written


def render_scenario(
    scenario_dir: Path,
    *,
    analysis: ScenarioAnalysis | None = None,
    colours: dict[str, str] | None = None,
    run_name: str | None = None,
) -> RenderedScenario:
    """Tables, charts, report.md and report.html of one scenario folder."""
    scenario_dir = Path(scenario_dir)
    analysis = analysis or analyse_scenario(scenario_dir)
    colours = colours or design_colours(analysis.data.designs)
    write_tables(analysis.tables, scenario_dir / "tables")
    label_locust_files(scenario_dir)
    charts, problems = draw_charts(analysis, colours, scenario_dir / "charts")
    yaml_path = scenario_dir / "scenario.yaml"
    blocks = scenario_document(
        analysis,
        charts,
        problems,
        run_name or scenario_dir.parent.name,
        yaml_path.read_text() if yaml_path.exists() else None,
    )
    md, page = _write(blocks, scenario_dir, f"offload: {analysis.data.folder}")
    return RenderedScenario(analysis, charts, problems, md, page)


def render_run(run_dir: Path, *, pdf: bool = True) -> RenderedRun:
    """Render every scenario of ``run_dir``, the whole-run report, and ``reports/index.html``
    when the run lives in ``reports/runs/`` (the index lists every run there); with ``pdf``,
    print every report.html to report.pdf as well."""
    started = time.monotonic()
    run_dir = Path(run_dir).resolve()
    result = RenderedRun(run_dir)
    run_info = RunInfo.in_folder(run_dir) if (run_dir / RunInfo.FILE_NAME).exists() else None
    analyses: list[ScenarioAnalysis] = []
    for directory in in_run_order(scenario_dirs(run_dir)):
        try:
            analyses.append(analyse_scenario(directory))
        except Exception as exc:  # one broken scenario must not hide the others
            log.exception("cannot analyse %s", directory)
            result.failures[directory.name] = f"{type(exc).__name__}: {exc}"
    names: list[str] = []
    for analysis in analyses:
        names += [d for d in analysis.data.designs if d not in names]
    colours = design_colours(names)
    for analysis in analyses:
        try:
            result.scenarios.append(
                render_scenario(
                    analysis.data.directory,
                    analysis=analysis,
                    colours=colours,
                    run_name=run_dir.name,
                )
            )
        except Exception as exc:
            log.exception("cannot render %s", analysis.data.folder)
            result.failures[analysis.data.folder] = f"{type(exc).__name__}: {exc}"
    rendered = {r.analysis.data.folder: r for r in result.scenarios}
    shown = [a for a in analyses if a.data.folder in rendered]
    overview, overview_problems = (
        draw_overview(shown, colours, run_dir / "charts") if shown else ([], [])
    )
    blocks = run_document(
        run_dir,
        run_info,
        shown,
        {name: r.charts for name, r in rendered.items()},
        {name: r.problems for name, r in rendered.items()},
        overview,
    )
    notes = [f"{name}: {error}" for name, error in result.failures.items()] + overview_problems
    if notes:
        blocks.insert(1, Banner("invalid", "scenarios that could not be reported", notes))
    result.markdown, result.html = _write(blocks, run_dir, f"offload run {run_dir.name}")
    if run_dir.parent.name == "runs":
        result.index = write_index(run_dir.parent.parent)
    if pdf:
        result.pdfs = print_pdfs([result.html, *(r.html for r in result.scenarios)])
    result.seconds = time.monotonic() - started
    return result
