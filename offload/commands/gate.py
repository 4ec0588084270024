"""Gate a run directory: the scenarios' expectations and, with --baseline, regressions.

Every check is evaluated and reported (a table here, gate.md and junit.xml in RUN_DIR/gate/)
before one exit code: 0 every check passed, 1 a regression or a failed expectation, 2 the
input was unusable (an invalid run, a baseline of a different experiment, an unknown path).
docs/gate.md explains the expression language, the statistics and the baseline policy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from offload.gate import GateOptions, run_gate

HELP = "check a run's expectations and compare it with a baseline (exit 0, 1 or 2)"
EPILOG = """exit codes:
  0    every check passed
  1    a regression or a failed expectation
  2    unusable input: an invalid run (without --allow-invalid), a baseline of a
       different experiment, a bad expression or an unknown path"""

#: CI logs are not terminals and do not wrap: give the table room there
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="e.g. reports/latest")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="FILE",
        help="baseline file to compare with (made by `offload baseline save`)",
    )
    parser.add_argument(
        "--no-expectations",
        dest="expectations",
        action="store_false",
        help="skip the scenarios' expect: checks",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="where gate.md and junit.xml go (default: RUN_DIR/gate)",
    )
    parser.add_argument(
        "--tolerance-scale",
        type=_positive,
        default=1.0,
        metavar="X",
        help="multiply every baseline tolerance by X (e.g. 1.5 on a noisier machine)",
    )
    parser.add_argument(
        "--allow-invalid",
        action="store_true",
        help="gate a run marked invalid (saturated generator, crashed component) anyway",
    )
    parser.add_argument(
        "--ignore-identity",
        action="append",
        default=[],
        metavar="FIELD",
        help="compare with the baseline although FIELD differs (e.g. versions.uvicorn, "
        "designs.async.workers, versions); repeatable",
    )
    parser.add_argument(
        "--alpha", type=_probability, default=None,
        help="significance level of the Mann-Whitney test (default: the baseline's, 0.05)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    options = GateOptions(
        baseline=args.baseline,
        expectations=args.expectations,
        tolerance_scale=args.tolerance_scale,
        allow_invalid=args.allow_invalid,
        ignore_identity=tuple(args.ignore_identity),
        alpha=args.alpha,
    )
    report = run_gate(args.run_dir, options, out_dir=args.out, console=console)
    return report.exit_code


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _probability(text: str) -> float:
    value = _positive(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value
