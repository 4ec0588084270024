"""Write a finished run's figures in a format other tools ingest.

``offload export RUN_DIR --format openmetrics`` prints (or writes with ``--output``) every
scenario's summary as OpenMetrics text, labelled by scenario, repeat, design, endpoint, phase
and component, e.g. for ``promtool tsdb create-blocks-from openmetrics FILE DIR`` and a
Grafana dashboard over many runs. It only reads the run directory's ``summary.json`` files
(``offload report`` recomputes them from the raw records when they are missing).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from offload.errors import RunInvalid
from offload.report.openmetrics import openmetrics_text
from offload.rundir.paths import scenario_dirs
from offload.rundir.summary import Summary

FORMATS = ("openmetrics",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run directory")
    parser.add_argument(
        "--format", choices=FORMATS, default="openmetrics", help="the output format"
    )
    parser.add_argument(
        "--output", "-o", type=Path, default=None, metavar="FILE",
        help="write to FILE instead of standard output",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir
    if not run_dir.is_dir():
        raise RunInvalid(f"{run_dir}: not a directory (give a run directory, e.g. reports/latest)")
    folders = scenario_dirs(run_dir)
    if not folders:
        raise RunInvalid(f"{run_dir}: no scenario folder with a manifest.json: not a run directory")
    missing = [f.name for f in folders if not (f / Summary.FILE_NAME).exists()]
    if missing:
        raise RunInvalid(
            f"{run_dir}: no {Summary.FILE_NAME} in {', '.join(missing)}; "
            f"`offload report {run_dir}` computes it from the raw records"
        )
    text = openmetrics_text(Summary.in_folder(folder) for folder in folders)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
        print(f"wrote {args.output} ({text.count(chr(10))} lines)", file=sys.stderr)
    return 0
