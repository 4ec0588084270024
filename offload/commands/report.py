"""Re-render the reports of a run directory from its raw records.

Recomputes every scenario's summary.json from the raw records (so a run recorded by an older
offload gets today's definitions), then writes each scenario's tables/, charts/, report.md and
report.html, the whole run's report.md and report.html, and reports/index.html; then prints the
run's and every scenario's report.html to report.pdf beside it with headless Chromium, when it
is installed. docs/report.md explains how to read them.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from offload.analysis.summary import write_summary
from offload.errors import RunInvalid
from offload.rundir.paths import resolve_run_dir, scenario_dirs

if TYPE_CHECKING:
    from offload.report.browser import PdfResult

EPILOG = """exit codes:
  0    every scenario was reported
  1    a scenario could not be analysed or drawn (the others are reported, and
       the run report names it in a red banner)
  2    RUN_DIR is not a run directory, or names an unknown scenario

report.pdf is printed by headless Chromium when it is installed; without it the
PDF is skipped with a note, and the exit code is unchanged."""

console = Console(highlight=False, soft_wrap=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="e.g. reports/latest")
    parser.add_argument(
        "--scenario",
        "-s",
        action="append",
        dest="scenarios",
        metavar="NAME",
        help="only this scenario folder (repeatable); the whole-run report is left as it is",
    )
    parser.add_argument(
        "--keep-summary",
        action="store_true",
        help="render from the existing summary.json instead of recomputing it",
    )


def run(args: argparse.Namespace) -> int:
    from offload.report import render_run, render_scenario  # matplotlib loads only here
    from offload.report.browser import print_pdfs

    run_dir = resolve_run_dir(args.run_dir)
    folders = {d.name: d for d in scenario_dirs(run_dir)}
    if not folders:
        raise RunInvalid(f"{args.run_dir}: no scenario folder with a manifest.json")
    chosen = list(folders) if not args.scenarios else args.scenarios
    unknown = [name for name in chosen if name not in folders]
    if unknown:
        raise RunInvalid(
            f"{args.run_dir}: no scenario folder {', '.join(unknown)} "
            f"(this run has: {', '.join(sorted(folders))})"
        )
    if not args.keep_summary:
        for name in chosen:
            write_summary(folders[name])
    if args.scenarios:
        pages = []
        for name in chosen:
            rendered = render_scenario(folders[name])
            _report_problems(name, rendered.problems)
            console.print(f"{name}: {rendered.html}")
            pages.append(rendered.html)
        print_pdf_lines(print_pdfs(pages))
        return 0
    result = render_run(run_dir)
    for rendered in result.scenarios:
        _report_problems(rendered.analysis.data.folder, rendered.problems)
    for name, error in result.failures.items():
        console.print(f"[red]{name}: could not be reported: {error}[/]")
    console.print(f"report: {result.html} ({result.seconds:.1f} s)")
    print_pdf_lines(result.pdfs)
    if result.index is not None:
        console.print(f"index:  {result.index}")
    return 1 if result.failures else 0


def print_pdf_lines(results: list[PdfResult], shown: Console = console) -> None:
    """One line for the PDFs: where they are, or why they were skipped (never an error);
    on ``shown``, which is stderr under ``offload bench --json``."""
    printed = [r.pdf for r in results if r.pdf is not None]
    skipped = [r for r in results if r.pdf is None]
    if printed:
        shown.print(
            f"pdf:    {printed[0]}"
            + (f" (+{len(printed) - 1} scenario pages)" if len(printed) > 1 else "")
        )
    if skipped:
        shown.print(
            f"[yellow]report.pdf skipped for {len(skipped)} page(s): {skipped[0].reason}[/]"
        )


def _report_problems(name: str, problems: list[str]) -> None:
    for problem in problems:
        console.print(f"[yellow]{name}: {problem}[/]")
