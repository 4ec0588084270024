"""Save a run directory as a baseline file, or show one.

``offload baseline save RUN_DIR --to baselines/ci.json`` records, per scenario, what the run
was (its identity), the figures of every repeat, and a default policy — which metrics are
gated, which way is better, and how much change is noise — for people to edit in the file.
An existing file is replaced only with ``--force``, and then its policy is kept.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from offload.errors import GateFailed
from offload.expect.expressions import format_number, parse_metric
from offload.expect.paths import shortened
from offload.gate.baseline import build_baseline, load_baseline, save_baseline
from offload.gate.rundir import load_run_dir, refuse_invalid

console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    save = sub.add_parser("save", help="save RUN_DIR as a baseline file")
    save.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="e.g. reports/latest")
    save.add_argument("--to", type=Path, required=True, metavar="FILE", help="baseline file")
    save.add_argument(
        "--force",
        action="store_true",
        help="replace an existing file (its policy and settings are kept)",
    )
    save.add_argument(
        "--reset-policy",
        action="store_true",
        help="with --force: start from the default policy instead of the existing file's",
    )
    save.add_argument(
        "--allow-invalid", action="store_true", help="save a run marked invalid anyway"
    )
    show = sub.add_parser("show", help="print a baseline file's scenarios and policy")
    show.add_argument("file", type=Path, metavar="FILE", help="a baseline file")


def run(args: argparse.Namespace) -> int:
    if args.action == "save":
        return _save(args)
    return _show(args.file)


def _save(args: argparse.Namespace) -> int:
    target: Path = args.to
    if target.exists() and not args.force:
        raise GateFailed(
            f"{target} exists; pass --force to replace it (its policy is kept unless "
            "--reset-policy)"
        )
    run_dir = load_run_dir(args.run_dir)
    if not args.allow_invalid:
        refuse_invalid(run_dir)
    keep = None
    if target.exists() and not args.reset_policy:
        keep = load_baseline(target)
    baseline = build_baseline(run_dir, keep=keep)
    save_baseline(baseline, target, force=args.force)
    metrics = sum(len(s.policy) for s in baseline.scenarios.values())
    runs = sum(len(s.runs) for s in baseline.scenarios.values())
    kept = " (policy kept from the previous file)" if keep is not None else ""
    console.print(
        f"saved {target}: {len(baseline.scenarios)} scenario(s), {runs} run(s), "
        f"{metrics} gated metric(s){kept}"
    )
    return 0


def _show(file: Path) -> int:
    baseline = load_baseline(file)
    console.print(
        f"[bold]{escape(str(file))}[/]: saved {baseline.created_at} from {baseline.source} "
        f"(git {(baseline.git.sha or '?')[:12]}"
        f"{', dirty' if baseline.git.dirty else ''}); alpha {baseline.alpha:g}"
    )
    machine = baseline.machine
    if machine.to_json():
        console.print(
            f"machine: {_known(machine.cpus)} CPUs, {_known(machine.memory_gb)} GB, "
            f"{_known(machine.platform)}"
        )
    for name, scenario in baseline.scenarios.items():
        table = Table(title=f"{name} — {len(scenario.runs)} run(s)", header_style="bold")
        for column in ("metric", "better", "tolerance", "statistic", "baseline", "spread"):
            table.add_column(column, overflow="fold")
        for entry in scenario.policy:
            values = sorted(scenario.values(entry.metric))
            middle = values[len(values) // 2] if values else None
            spread = (
                f"{(values[-1] - values[0]) / abs(middle):.0%}"
                if len(values) > 1 and middle
                else ""
            )
            table.add_row(
                escape(shortened(parse_metric(entry.metric))),
                entry.direction,
                f"{entry.kind} {entry.describe_tolerance()}",
                entry.statistic,
                format_number(middle) if middle is not None else "no value",
                spread,
            )
        console.print(table)
    return 0


def _known(value: object) -> str:
    return "?" if value is None else str(value)
