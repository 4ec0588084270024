"""Cross designs × signup rates × provider latencies, one short open-loop run per cell.

Reads a sweep file (default: scenarios/sweeps/default.yaml; see docs/sweep.md), measures the
broker's bare publish-with-confirm latency once, runs every cell with the bench's own
machinery into one run directory (reports/runs/<UTC time>-sweep/), then searches each design's
maximum rate under the file's SLO (doubling, then bisection, bounded in runs and time). The
page (sweep.md, sweep.html) draws each design's latency-throughput curve with its knee, the
maximum sustainable rates with the cells that bound them, and the crossover map: which design
wins each cell on signup p99 and on CPU per signup.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from offload.run.load_workers import parse_load_workers
from offload.rundir.paths import REPORTS_DIR
from offload.sweep.files import sweep_path

EPILOG = """exit codes:
  0    every cell ran and was measured: valid, or invalid only because the design
       itself saturated the machine (the rate is beyond this machine; shown invalid)
  1    a cell could not be measured (its generator fell behind on its own, or other
       processes took the machine) or summarised, or the page could not be rendered
  2    unusable input: a missing or malformed sweep file or target
  130  interrupted (Ctrl-C); the run directory keeps what was recorded"""

console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file",
        nargs="?",
        default=None,
        metavar="FILE",
        help="a sweep file or the name of a shipped one (default: scenarios/sweeps/default.yaml)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="the sweep file's quick form (fewer, shorter cells)"
    )
    parser.add_argument(
        "--load-workers",
        type=parse_load_workers,
        default="auto",
        metavar="N",
        help="Locust processes per cell: a count, or auto (from each cell's rate, 1,000 "
        "requests/s per process)",
    )
    parser.add_argument(
        "--reports-dir",
        type=Path,
        default=REPORTS_DIR,
        metavar="DIR",
        help="where runs/<UTC time>-sweep/ goes",
    )
    parser.add_argument(
        "--analyse",
        type=Path,
        default=None,
        metavar="SWEEP_DIR",
        help="run nothing: compute sweep-summary.json and the page again from a sweep directory",
    )


def run(args: argparse.Namespace) -> int:
    from offload.sweep.page import finish_sweep
    from offload.sweep.runner import SweepPlan, run_sweep

    if args.analyse is not None:
        return finish_sweep(args.analyse, console)
    plan = SweepPlan(
        file=sweep_path(args.file),
        quick=args.quick,
        load_workers=args.load_workers,
        reports_dir=args.reports_dir,
    )
    run_dir = run_sweep(plan, console)
    return finish_sweep(run_dir, console)
