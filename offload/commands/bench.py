"""Run scenarios against both designs and record everything into a new run directory.

Without --scenario, runs the scenarios tagged `default` (with --quick: those tagged `quick`,
shortened; see scenarios/README.md); --set NAME runs a scenario set (scenarios/sets/NAME.yaml:
its scenarios against its designs). The run
directory is reports/runs/<UTC time>/ and reports/latest points at it; the report is rendered
at the end unless --no-report. Before each scenario's designs, the bench measures its own
floor (the generator alone against an instant server, ~10 s) and every report states it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from offload.commands.consoles import human_console
from offload.errors import OffloadError
from offload.run.bench_result import BenchResult
from offload.run.closing_summary import print_run_summary
from offload.run.load_workers import parse_load_workers
from offload.run.orchestrator import BenchPlan, run_bench
from offload.run.remote import add_allow_remote_argument
from offload.run.remote_workers import JOIN_TIMEOUT_S, RemoteMaster, parse_master_address
from offload.run.rendezvous import Rendezvous
from offload.rundir.paths import REPORTS_DIR, scenario_dirs
from offload.rundir.run_info import RunInfo
from offload.rundir.summary import Summary
from offload.scenario import (
    load_set,
    scenario_path,
    set_path,
    set_scenario_files,
    shipped_scenarios,
)

EPILOG = """exit codes:
  0    every scenario ran and is valid (with --gate: every gate check passed)
  1    a scenario is invalid or recorded nothing, could not be summarised, or its
       report could not be rendered (with --gate: also a regression or a failed
       expectation)
  2    unusable input: bad arguments, a missing or malformed scenario or target
       (with --gate: an unusable baseline)
  130  interrupted (Ctrl-C); the run directory keeps what was recorded"""

#: CI logs are not terminals and do not wrap: give the summary table room there
console = human_console()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenario",
        "-s",
        action="append",
        dest="scenarios",
        metavar="NAME_OR_FILE",
        help="scenario to run (repeatable); default: every scenario tagged 'default'",
    )
    parser.add_argument(
        "--tag", default=None, help="run every shipped scenario with this tag (e.g. gate)"
    )
    parser.add_argument(
        "--set",
        default=None,
        dest="scenario_set",
        metavar="NAME_OR_FILE",
        help="run a scenario set (scenarios/sets/NAME.yaml): its scenarios against its "
        "designs, shortened by its time_scale (with --quick: each scenario's own)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="shortened durations (each scenario's quick.time_scale), for CI",
    )
    parser.add_argument(
        "--design",
        action="append",
        dest="designs",
        metavar="NAME",
        help="only these designs of each scenario (repeatable), e.g. --design async",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, metavar="N", help="run every scenario N times"
    )
    parser.add_argument(
        "--load-workers",
        type=parse_load_workers,
        default=1,
        metavar="N",
        help="generate the load with a Locust master and N worker processes (same total rate); "
        "auto: as many as each scenario's peak rate needs (1,000 requests/s per process)",
    )
    parser.add_argument(
        "--master-bind",
        type=parse_master_address,
        default=None,
        metavar="ADDR:PORT",
        help="the --load-workers N workers run on other hosts (`offload load-worker --master "
        "ADDR:PORT` there): the Locust master listens here and waits for them "
        "(non-loopback: needs --allow-remote; docs/scale-out.md)",
    )
    parser.add_argument(
        "--join-timeout",
        type=float,
        default=JOIN_TIMEOUT_S,
        metavar="S",
        help=f"with --master-bind: give up if the workers have not all joined after S seconds "
        f"(default {JOIN_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--reports-dir",
        type=Path,
        default=REPORTS_DIR,
        metavar="DIR",
        help="where runs/<UTC time>/, latest and index.html go",
    )
    parser.add_argument("--no-report", action="store_true", help="do not render the report")
    add_allow_remote_argument(
        parser,
        lets="let an external target name non-loopback addresses (its API, its ledger "
        "database, offload's provider) and --master-bind a non-loopback address",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="progress lines only, without the running design's live figures",
    )
    parser.add_argument(
        "--no-floor",
        action="store_true",
        help="do not measure the harness's own floor before each scenario (~10 s; the "
        "report then says the floor was not measured)",
    )
    parser.add_argument(
        "--rendezvous",
        type=Path,
        default=None,
        metavar="DIR",
        help="start each design's load together with other benches given the same DIR (the "
        "A/B gate runs base and candidate side by side this way); each waits for the others",
    )
    parser.add_argument(
        "--rendezvous-parties",
        type=int,
        default=2,
        metavar="N",
        help="with --rendezvous: how many benches meet there (default 2)",
    )
    parser.add_argument(
        "--gate",
        type=Path,
        default=None,
        metavar="BASELINE",
        help="after the run, gate it against this baseline file and exit with the gate's code "
        "(what `make gate` does)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the result (run directory, each scenario's and design's headline figures, "
        "exit code) as one JSON document on stdout; progress and tables go to stderr",
    )


def run(args: argparse.Namespace) -> int:
    if not args.json:
        return _bench(args, console).exit_code
    # stdout carries the document alone: what a person reads goes to stderr, where a CI log
    # that is not a terminal gets the same plain lines it would have got on stdout
    shown = human_console(stderr=True)
    try:
        result = _bench(args, shown)
    except OffloadError as exc:
        print(BenchResult.refused(str(exc), exc.exit_code).to_json())
        raise
    except KeyboardInterrupt:
        print(BenchResult.refused("interrupted", 130).to_json())
        raise
    print(result.to_json())
    return result.exit_code


def _bench(args: argparse.Namespace, console: Console) -> BenchResult:
    """Run the bench, show its progress and closing table on ``console``, and say how it
    ended."""
    if args.repeat < 1:
        return _refuse(console, "--repeat must be at least 1")
    if args.scenario_set is not None and (args.scenarios or args.tag):
        return _refuse(
            console, "--set runs the set's own scenarios: give --set, --scenario or --tag"
        )
    if args.rendezvous is not None and args.rendezvous_parties < 2:
        return _refuse(console, "--rendezvous-parties must be at least 2")
    if args.rendezvous is not None and args.master_bind is not None:
        return _refuse(console, "--rendezvous and --master-bind cannot be combined: the "
                       "master fixes t=0 when its remote workers join")  # fmt: skip
    scenario_set, set_file = None, None
    if args.scenario_set is not None:
        set_file = set_path(args.scenario_set)
        scenario_set = load_set(set_file)
        files = set_scenario_files(set_file, scenario_set)
    elif args.scenarios:
        files = [scenario_path(name) for name in args.scenarios]
    else:
        # --quick alone runs the quick set (CI-sized), not every default scenario shortened
        files = shipped_scenarios(args.tag or ("quick" if args.quick else "default"))
    plan = BenchPlan(
        scenario_files=files,
        quick=args.quick,
        designs=args.designs,
        repeat=args.repeat,
        load_workers=args.load_workers,
        floor=not args.no_floor,
        live_figures=not args.quiet,
        reports_dir=args.reports_dir,
        scenario_set=scenario_set,
        set_file=set_file,
        allow_remote=args.allow_remote,
        master=None
        if args.master_bind is None
        else RemoteMaster(args.master_bind, join_timeout_s=args.join_timeout),
        rendezvous=None
        if args.rendezvous is None
        else Rendezvous(args.rendezvous, parties=args.rendezvous_parties),
    )
    run_dir = run_bench(plan, console)
    folders = [
        (d, Summary.in_folder(d))
        for d in scenario_dirs(run_dir)
        if (d / Summary.FILE_NAME).exists()
    ]
    summaries = [summary for _, summary in folders]
    failures = unsummarised(run_dir)
    if not args.no_report:
        failures += _render(run_dir, console)
    print_run_summary(console, run_dir, summaries)
    for failure in failures:
        console.print(f"[red]{failure}[/]")
    if failures:
        console.print(f"the raw records are kept in {run_dir}; `offload report` tries again")
    if args.gate is not None:
        from offload.gate import GateOptions, run_gate

        code = run_gate(run_dir, GateOptions(baseline=args.gate), console=console).exit_code
        code = max(code, 1) if failures else code
    else:
        code = 0 if all(s.valid for s in summaries) and summaries and not failures else 1
    return BenchResult.of_run(run_dir, folders, failures, code)


def _refuse(console: Console, reason: str) -> BenchResult:
    console.print(reason)
    return BenchResult.refused(reason, 2)


def unsummarised(run_dir: Path) -> list[str]:
    """One line per scenario whose summary.json is missing, and why (from run.json)."""
    info = RunInfo.in_folder(run_dir)
    lines = []
    for folder in scenario_dirs(run_dir):
        if (folder / Summary.FILE_NAME).exists():
            continue
        reason = info.summary_failures.get(folder.name, "no summary.json was written")
        lines.append(f"{folder.name}: could not be summarised: {reason}")
    return lines


def _render(run_dir: Path, console: Console) -> list[str]:
    """Render the report; one line per scenario that could not be reported."""
    from offload.commands.report import print_pdf_lines
    from offload.report import render_run

    result = render_run(run_dir)
    print_pdf_lines(result.pdfs, console)
    return [
        f"{name}: the report could not be rendered: {error}"
        for name, error in result.failures.items()
    ]
