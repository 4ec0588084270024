"""Read the gate runs of unchanged code (``make gate-aa``) and show how far each gated metric
moved between two runs of the same code, against the tolerance the gate gives it.

Each GATE_RUN is a gate run directory (``reports/gate-aa/runs/<time>``) or a folder of them
(``reports/gate-aa/runs``). Every gate run is judged again with the gate's own rule, so the
count of failed runs is the false-positive rate a CI job would see on this runner; the table
then gives, per metric, the pairs' spread and the smallest tolerance this runner's evidence
supports. docs/gate.md ("A/B: the A/A evidence") shows how to read it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from offload.commands.consoles import human_console

EPILOG = """exit codes:
  0    the spread was measured (whatever it says)
  2    a GATE_RUN is not a gate run directory, or none holds a finished, valid pair
       (a gate run still running or interrupted before its first pair is skipped,
       saying so)"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "gate_runs",
        type=Path,
        nargs="+",
        metavar="GATE_RUN",
        help="a gate run directory or a folder of them, e.g. reports/gate-aa/runs",
    )
    parser.add_argument(
        "--known-change",
        metavar="TEXT",
        help="the candidates carry this known change (make gate-sensitivity): count the gate "
        "runs that caught it instead of false positives, e.g. 'async API +2 ms per signup'",
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        metavar="FILE",
        help="also write the table as Markdown to FILE (e.g. reports/gate-aa/spread.md)",
    )


def run(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from offload.errors import RunInvalid
    from offload.gate.spread import gate_run_dirs, load_gate_run, measure_spread
    from offload.gate.spread_report import print_spread, render_markdown

    console = human_console()
    directories = gate_run_dirs(args.gate_runs)
    runs = []
    for number, directory in enumerate(directories, start=1):
        try:
            runs.append(load_gate_run(directory))
        except RunInvalid as exc:  # still running, interrupted, or refused: nothing judged
            console.print(f"skipped gate run {number}/{len(directories)}: {escape(str(exc))}")
    if not runs:
        raise RunInvalid(f"none of the {len(directories)} gate run(s) holds a finished, valid pair")
    spread = measure_spread(runs)
    print_spread(spread, console, args.known_change)
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(render_markdown(spread, args.known_change), encoding="utf-8")
        console.print(f"written: {args.markdown}")
    return 0
