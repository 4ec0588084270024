"""Re-render the reports of a run directory from its raw records.

Recomputes every scenario's summary.json from the raw records (so a run recorded by an older
offload gets today's definitions), then writes each scenario's tables/, charts/, report.md and
report.html, the whole run's report.md and report.html, and reports/index.html. docs/report.md
explains how to read them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from offload.analysis.summary import write_summary
from offload.errors import RunInvalid
from offload.rundir.paths import resolve_run_dir, scenario_dirs

HELP = "re-render a run directory's reports (charts, report.md, report.html, index)"

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
        for name in chosen:
            rendered = render_scenario(folders[name])
            _report_problems(name, rendered.problems)
            console.print(f"{name}: {rendered.html}")
        return 0
    result = render_run(run_dir)
    for rendered in result.scenarios:
        _report_problems(rendered.analysis.data.folder, rendered.problems)
    for name, error in result.failures.items():
        console.print(f"[red]{name}: could not be reported: {error}[/]")
    console.print(f"report: {result.html} ({result.seconds:.1f} s)")
    if result.index is not None:
        console.print(f"index:  {result.index}")
    return 1 if result.failures else 0


def _report_problems(name: str, problems: list[str]) -> None:
    for problem in problems:
        console.print(f"[yellow]{name}: {problem}[/]")
