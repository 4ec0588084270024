"""Gate a change: measure it against a base revision, or judge a run against a baseline file.

``offload gate --base REF`` measures the base revision and the working tree side by side, in
interleaved pairs on this machine (what ``make gate`` does).

``offload gate RUN_DIR --baseline FILE`` judges a finished run against a stored baseline, for
a dedicated runner; it refuses a baseline recorded on another machine.

Both end with one exit code (0 every check passed, 1 a regression or a failed expectation, 2
unusable input), a table here, gate.md and junit.xml (in the A/B records, or RUN_DIR/gate/).
docs/gate.md explains both modes, the statistics and the expression language.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from offload.commands.consoles import human_console
from offload.errors import GateFailed, OffloadError
from offload.gate import GateOptions, GateReport, run_gate
from offload.gate.ab import DEFAULT_TAG, GATE_REPORTS, ABOptions, run_ab_gate
from offload.gate.environments import default_cache_dir
from offload.gate.json_result import gate_json, refused_json
from offload.gate.paired import DEFAULT_ALPHA, DEFAULT_PAIRS

EPILOG = """exit codes:
  0    every check passed
  1    a regression or a failed expectation
  2    unusable input: with --base, no git, a dirty working tree, a base that does
       not resolve or cannot run the scenario, a pair invalid twice; with RUN_DIR,
       an invalid run (without --allow-invalid), a baseline of a different
       experiment or machine, a bad expression or an unknown path"""

#: CI logs are not terminals and do not wrap: give the table room there
console = human_console()

#: flags that belong to one mode only, for the error that says so
_STORED_ONLY = ("baseline", "allow_invalid", "ignore_identity", "out")
_AB_ONLY = (
    "pairs", "seed", "scenarios", "tag", "full", "reports_dir", "venv_cache", "one_at_a_time"
)  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir", type=Path, nargs="?", default=None, metavar="RUN_DIR",
        help="a finished run to judge against --baseline, e.g. reports/latest",
    )  # fmt: skip
    ab = parser.add_argument_group("A/B mode (--base REF)")
    ab.add_argument(
        "--base",
        default=None,
        metavar="REF",
        help="measure this revision (branch, tag, SHA) and the working tree side by side",
    )
    ab.add_argument(
        "--pairs", type=int, default=None, metavar="N",
        help=f"base/candidate pairs of runs (default: {DEFAULT_PAIRS})",
    )  # fmt: skip
    ab.add_argument(
        "--seed", type=int, default=None,
        help="seed of the pairs' order (default: a new one, printed)",
    )  # fmt: skip
    ab.add_argument(
        "--scenario",
        "-s",
        action="append",
        dest="scenarios",
        metavar="NAME_OR_FILE",
        help=f"scenario to run on both sides (repeatable; default: those tagged {DEFAULT_TAG!r})",
    )
    ab.add_argument(
        "--tag", default=None,
        help=f"run the candidate's scenarios with this tag (default: {DEFAULT_TAG})",
    )  # fmt: skip
    ab.add_argument(
        "--full", action="store_true",
        help="run the scenarios at full length (default: quick, each scenario's quick.time_scale)",
    )  # fmt: skip
    ab.add_argument(
        "--one-at-a-time", action="store_true",
        help="run each pair's two benches one after the other (default: side by side, both "
        "at once with one t=0, when the base's bench can; docs/gate.md says why)",
    )  # fmt: skip
    ab.add_argument(
        "--reports-dir", type=Path, default=None, metavar="DIR",
        help=f"where runs/<UTC time>/ and latest go (default: {GATE_REPORTS})",
    )  # fmt: skip
    ab.add_argument(
        "--venv-cache", type=Path, default=None, metavar="DIR",
        help=f"virtualenvs of bases whose dependencies differ (default: {default_cache_dir()})",
    )  # fmt: skip
    stored = parser.add_argument_group("stored-baseline mode (RUN_DIR --baseline FILE)")
    stored.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="FILE",
        help="baseline file to compare with (made by `offload baseline save`)",
    )
    stored.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="where gate.md and junit.xml go (default: RUN_DIR/gate)",
    )
    stored.add_argument(
        "--allow-invalid",
        action="store_true",
        help="gate a run marked invalid (saturated generator, crashed component) anyway",
    )
    stored.add_argument(
        "--ignore-identity",
        action="append",
        default=[],
        metavar="FIELD",
        help="compare with the baseline although FIELD differs (e.g. versions.uvicorn, "
        "designs.async.workers, versions, machine); repeatable",
    )
    parser.add_argument(
        "--no-expectations",
        dest="expectations",
        action="store_false",
        help="skip the scenarios' expect: checks",
    )
    parser.add_argument(
        "--tolerance-scale",
        type=_positive,
        default=1.0,
        metavar="X",
        help="multiply every tolerance by X (e.g. 1.5 on a noisier machine)",
    )
    parser.add_argument(
        "--alpha", type=_probability, default=None,
        help=f"significance level: of the paired sign-flip test with --base (default "
        f"{DEFAULT_ALPHA:g}), of the Mann-Whitney test with --baseline (default: the "
        "baseline's, 0.05)",
    )  # fmt: skip
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the result as one JSON document on stdout (the table goes to stderr)",
    )


def run(args: argparse.Namespace) -> int:
    if not args.json:
        return _gate(args, console).exit_code
    shown = human_console(stderr=True)
    try:
        report = _gate(args, shown)
    except OffloadError as exc:
        print(refused_json(str(exc), exc.exit_code))
        raise
    except KeyboardInterrupt:  # a consumer still gets its document, as from bench --json
        print(refused_json("interrupted", 130))
        raise
    print(gate_json(report))
    return report.exit_code


def _gate(args: argparse.Namespace, console: Console) -> GateReport:
    if args.base is not None:
        _refuse_mixed(args, "--base", _STORED_ONLY, extra=args.run_dir is not None)
        options = ABOptions(
            base=args.base,
            scenarios=tuple(args.scenarios or ()),
            tag=args.tag or DEFAULT_TAG,
            quick=not args.full,
            pairs=args.pairs if args.pairs is not None else DEFAULT_PAIRS,
            seed=args.seed,
            alpha=args.alpha if args.alpha is not None else DEFAULT_ALPHA,
            tolerance_scale=args.tolerance_scale,
            expectations=args.expectations,
            side_by_side=not args.one_at_a_time,
            reports_dir=args.reports_dir or GATE_REPORTS,
            **({"venv_cache": args.venv_cache} if args.venv_cache else {}),
        )
        return run_ab_gate(options, console)
    if args.run_dir is None:
        raise GateFailed("give a run directory (RUN_DIR --baseline FILE) or a base (--base REF)")
    _refuse_mixed(args, "RUN_DIR", _AB_ONLY)
    options_stored = GateOptions(
        baseline=args.baseline,
        expectations=args.expectations,
        tolerance_scale=args.tolerance_scale,
        allow_invalid=args.allow_invalid,
        ignore_identity=tuple(args.ignore_identity),
        alpha=args.alpha,
    )
    return run_gate(args.run_dir, options_stored, out_dir=args.out, console=console)


def _refuse_mixed(
    args: argparse.Namespace, mode: str, other: tuple[str, ...], *, extra: bool = False
) -> None:
    """A flag of the other mode would be silently ignored: refuse it instead."""
    given = [name for name in other if getattr(args, name) not in (None, False, [])]
    if extra:
        given.insert(0, "RUN_DIR")
    if given:
        shown = ", ".join(n if n == "RUN_DIR" else "--" + n.replace("_", "-") for n in given)
        shown = shown.replace("--scenarios", "--scenario")
        raise GateFailed(f"{shown} cannot be combined with {mode} (see offload gate --help)")


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
