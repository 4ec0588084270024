"""``offload gate --base REF``: measure the base revision and the candidate side by side.

A stored baseline is evidence about the machine that recorded it, and machines of one kind
differ by tens of percent; so this gate measures both revisions on the machine at hand, in one
job: the base checked out into a temporary worktree with its own environment, the candidate
being the working tree, both running the candidate's scenario files (the base's copies without
their ``gate`` section, which only the candidate's gate reads) against one broker, in pairs.
The two benches of a pair run at once and start each design's load from one agreed t=0
(``offload bench --rendezvous``), so the machine's drift lands on both sides alike;
``--one-at-a-time`` (or a base too old for it) runs them one after the other, in an order (AB
BA ...) that a printed seed shuffles. Each bench keeps its run directory under
``reports/gate/runs/<time>/{base,candidate}/pair-K/``; gate.md and junit.xml sit beside them
and ``reports/gate/latest`` points at the newest.

A pair with an invalid run (the run's own ``valid: false`` and its reasons) is run again once;
still invalid, the gate refuses (exit 2) with the reasons.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml
from rich.console import Console
from rich.markup import escape

from offload.errors import GateFailed, OffloadError
from offload.gate.checks import GateReport
from offload.gate.environments import base_python, default_cache_dir
from offload.gate.evaluate import write_reports
from offload.gate.paired import DEFAULT_ALPHA, DEFAULT_PAIRS, PAIRED_LEGEND
from offload.gate.pairs import RunPair, check_pairs
from offload.gate.revisions import (
    Revision,
    checked_out,
    head,
    repository_root,
    require_clean,
    require_git,
    resolve,
)
from offload.gate.rundir import RunDirectory, load_run_dir
from offload.gate.schedule import BASE_FIRST, new_seed, pair_orders
from offload.gate.sides import BASE, CANDIDATE, Side, run_directory, wait_for_benches
from offload.gate.terminal import print_report
from offload.run.supervisor import terminate_as_interrupt
from offload.rundir.gate_run import GateRevision, GateRunRecord, JudgedPair
from offload.rundir.paths import REPORTS_DIR, new_run_dir, point_latest
from offload.rundir.run_info import RunStatus
from offload.scenario import load_scenario

GATE_REPORTS = REPORTS_DIR / "gate"
DEFAULT_TAG = "gate"
#: an invalid pair is run again this many times before the gate gives up
RERUNS = 1


@dataclass(frozen=True, kw_only=True)
class ABOptions:
    """What ``offload gate --base`` was asked to do (its command-line flags)."""

    base: str
    #: scenario names or files; empty: the candidate's scenarios tagged ``tag``
    scenarios: tuple[str, ...] = ()
    tag: str = DEFAULT_TAG
    quick: bool = True
    pairs: int = DEFAULT_PAIRS
    seed: int | None = None
    alpha: float = DEFAULT_ALPHA
    tolerance_scale: float = 1.0
    expectations: bool = True
    #: both benches of a pair at once, meeting before each design's load (when the base can)
    side_by_side: bool = True
    reports_dir: Path = GATE_REPORTS
    venv_cache: Path = field(default_factory=default_cache_dir)


def paired_report(run_dir: Path, *, context: str) -> GateReport:
    """An empty report of the A/B gate: its sides are the candidate and the base, and its
    change is the median of the pairs' changes, which the table's legend says."""
    return GateReport(
        run_dir=run_dir,
        context=context,
        value_heading="candidate",
        baseline_heading="base",
        change_heading="paired change",
        legend=PAIRED_LEGEND,
    )


def run_ab_gate(options: ABOptions, console: Console) -> GateReport:
    """Check, measure, judge and report; raises GateFailed (exit 2) for unusable input."""
    if options.pairs < 1:
        raise GateFailed(f"--pairs must be at least 1, got {options.pairs}")
    started = time.monotonic()
    require_git()
    root = repository_root(Path.cwd().resolve())  # the candidate: this working tree
    require_clean(root)
    base_revision = resolve(root, options.base)
    candidate_revision = head(root)
    scenario_files = _scenario_files(root, options)
    gate_dir = new_run_dir(options.reports_dir.resolve())
    point_latest(gate_dir, gate_dir.parent.parent)
    copies = _copy_scenarios(scenario_files, gate_dir / "scenarios")
    seed = options.seed if options.seed is not None else new_seed()
    orders = pair_orders(options.pairs, seed)
    record = GateRunRecord(
        base=GateRevision(ref=base_revision.ref, sha=base_revision.sha),
        candidate=GateRevision(ref=candidate_revision.ref, sha=candidate_revision.sha),
        scenarios=[str(file) for file in scenario_files],
        quick=options.quick,
        pairs=options.pairs,
        seed=seed,
        orders=orders,
        side_by_side=options.side_by_side,
        alpha=options.alpha,
        started_at=time.time(),
        status="running",
    )
    record.dump(gate_dir / record.FILE_NAME)
    console.print(
        f"A/B gate: base {escape(_label(base_revision))} vs candidate "
        f"{escape(_label(candidate_revision, 'working tree'))}; {options.pairs} pair(s) "
        f"in order {' '.join(orders)} (seed {seed}); records: {gate_dir}"
    )
    report = paired_report(
        gate_dir,
        context=(
            f"Base: `{_label(base_revision)}` · candidate: "
            f"`{_label(candidate_revision, 'working tree')}` · {options.pairs} pairs, "
            f"order {' '.join(orders)} (seed {seed}) · records: `{gate_dir}`"
        ),
    )
    try:
        with terminate_as_interrupt(), ExitStack() as stack:
            base_tree = stack.enter_context(checked_out(root, base_revision))
            console.print(f"base worktree: {base_tree}")
            python = base_python(base_tree, root, options.venv_cache, gate_dir / "base-venv.log")
            base = Side(BASE, base_tree, python, _label(base_revision))
            candidate = Side(
                CANDIDATE, root, Path(sys.executable), _label(candidate_revision, "working tree")
            )
            for side in (base, candidate):
                side.preflight(copies[side.name])
            if options.side_by_side and not base.can_run_side_by_side():
                note = (
                    f"the base {base.label} predates side-by-side benches (its offload bench has "
                    "no --rendezvous): each pair's benches run one after the other, which "
                    "leaves the machine's drift between them in the pair (docs/gate.md)"
                )
                console.print(f"[yellow]{escape(note)}[/]")
                report.warnings.append(note)
                options = replace(options, side_by_side=False)
                record.side_by_side = False
                record.dump(gate_dir / record.FILE_NAME)
            report.context += " · " + _mode(options)
            amqp_url = stack.enter_context(_shared_broker(copies[CANDIDATE], gate_dir, console))
            pairs = _measure(base, candidate, copies, record, gate_dir, options, amqp_url, report,
                             console)  # fmt: skip
        judged = check_pairs(
            pairs,
            alpha=options.alpha,
            tolerance_scale=options.tolerance_scale,
            expectations=options.expectations,
        )
    except OffloadError as exc:
        _ended(record, gate_dir, "failed")
        write_reports(report, gate_dir, refusal=str(exc))
        raise
    except KeyboardInterrupt:
        _ended(record, gate_dir, "interrupted")
        raise
    report.checks += judged.checks
    report.warnings += judged.warnings
    if not report.checks:
        refusal = "nothing to gate: the scenarios gave no metric and no expectation"
        _ended(record, gate_dir, "failed")
        write_reports(report, gate_dir, refusal=refusal)
        raise GateFailed(refusal)
    _ended(record, gate_dir, "complete")
    print_report(report, console)
    paths = write_reports(report, gate_dir)
    console.print(f"reports: {', '.join(str(p) for p in paths)}")
    console.print(f"A/B gate wall time: {time.monotonic() - started:.0f} s")
    return report


def _ended(record: GateRunRecord, gate_dir: Path, status: RunStatus) -> None:
    """``complete``: the gate judged (pass or fail); ``failed``: it refused."""
    record.status = status
    record.ended_at = time.time()
    record.dump(gate_dir / record.FILE_NAME)


def _measure(
    base: Side,
    candidate: Side,
    scenario_files: dict[str, list[Path]],
    record: GateRunRecord,
    gate_dir: Path,
    options: ABOptions,
    amqp_url: str | None,
    report: GateReport,
    console: Console,
) -> list[RunPair]:
    """Every pair, each run again (bounded) when one of its runs is invalid; each judged pair
    is added to the gate's record as it ends."""
    pairs = []
    orders = record.orders
    for number, order in enumerate(orders, start=1):
        for attempt in range(RERUNS + 1):
            folder = f"pair-{number}" if attempt == 0 else f"pair-{number}-rerun-{attempt}"
            sides = (base, candidate) if order == BASE_FIRST else (candidate, base)
            how = "side by side" if options.side_by_side else "one at a time"
            console.print(f"pair {number}/{len(orders)} ({order}, {how}) ...")
            runs = _run_pair(sides, scenario_files, gate_dir, folder, options, amqp_url)
            problems = [
                f"{name}: {repeat.directory.name}: "
                + ("; ".join(repeat.invalid_reasons) or "no reason given")
                for name, run in runs.items()
                for scenario in run.scenarios.values()
                for repeat in scenario.invalid
            ]
            if not problems:
                pairs.append(RunPair(number, order, runs[BASE], runs[CANDIDATE]))
                record.judged.append(JudgedPair(number=number, order=order, folder=folder))
                record.dump(gate_dir / record.FILE_NAME)
                break
            if attempt < RERUNS:
                note = f"pair {number} was run again: a run was invalid ({'; '.join(problems)})"
                console.print(f"[yellow]{escape(note)}[/]")
                report.warnings.append(note)
                continue
            raise GateFailed(
                f"pair {number} was invalid twice, so the gate cannot judge it: "
                + "; ".join(problems)
                + f" (records: {gate_dir})"
            )
    return pairs


def _run_pair(
    sides: tuple[Side, Side],
    scenario_files: dict[str, list[Path]],
    gate_dir: Path,
    folder: str,
    options: ABOptions,
    amqp_url: str | None,
) -> dict[str, RunDirectory]:
    """One pair's two benches: side by side (both started now, in ``sides``' order, meeting
    before each design's load) or one after the other."""
    meet = gate_dir / "rendezvous" / folder if options.side_by_side else None
    started: list[tuple[Side, Path, Path, subprocess.Popen[bytes]]] = []
    runs: dict[str, RunDirectory] = {}
    for side in sides:
        reports_dir = gate_dir / side.name / folder
        log = reports_dir / "bench.log"
        process = side.start_bench(
            scenario_files[side.name], reports_dir, quick=options.quick, amqp_url=amqp_url,
            log=log, rendezvous=meet,
        )  # fmt: skip
        started.append((side, reports_dir, log, process))
        if meet is None:  # one at a time: a side that failed outright stops the pair here
            (code,) = wait_for_benches([process])
            if code == 130:
                raise KeyboardInterrupt
            runs[side.name] = _recorded(side, code, reports_dir, log)
    if meet is None:
        return runs
    exits = wait_for_benches([process for *_, process in started], meet)
    if 130 in exits:
        raise KeyboardInterrupt
    return {
        side.name: _recorded(side, code, reports_dir, log)
        for (side, reports_dir, log, _), code in zip(started, exits, strict=True)
    }


def _recorded(side: Side, code: int, reports_dir: Path, log: Path) -> RunDirectory:
    """The run a side's bench recorded, or GateFailed when it recorded nothing usable."""
    run_dir = run_directory(reports_dir)
    if run_dir is None or not any(run_dir.glob("*/summary.json")):
        raise GateFailed(
            f"the {side.name} revision's bench recorded nothing (exit {code}): {_tail(log)} "
            f"(log: {log})"
        )
    if code not in (0, 1):  # 1: a run is invalid, which the pair loop handles
        raise GateFailed(f"the {side.name} revision's bench failed (exit {code}); log: {log}")
    return load_run_dir(run_dir)


@contextmanager
def _shared_broker(files: list[Path], gate_dir: Path, console: Console) -> Iterator[str | None]:
    """One broker for every bench of the gate: AMQP_URL when set, else one provisioned now
    (None when a scenario needs a broker of its own, which each bench then starts)."""
    if os.environ.get("AMQP_URL"):
        yield os.environ["AMQP_URL"]
        return
    if any(load_scenario(f).breaks_the_broker for f in files):
        yield None
        return
    from offload.provisioning.broker import provision_broker, redact_url

    with provision_broker(work_dir=gate_dir / ".broker") as broker:
        console.print(f"broker for both sides: {broker.source} ({redact_url(broker.url)})")
        yield broker.url


def _scenario_files(root: Path, options: ABOptions) -> list[Path]:
    """The candidate's scenario files: named ones, or those of its tree tagged ``tag``."""
    shipped = root / "scenarios"
    if options.scenarios:
        files = []
        for name in options.scenarios:
            path = Path(name)
            if not (path.suffix in (".yaml", ".yml") or path.exists()):
                path = shipped / f"{name}.yaml"
            if not path.is_file():
                raise GateFailed(f"no scenario file {path} (a name in {shipped}, or a path)")
            files.append(path)
        return files
    tagged = [p for p in sorted(shipped.glob("*.yaml")) if options.tag in load_scenario(p).tags]
    if not tagged:
        raise GateFailed(f"no scenario in {shipped} is tagged {options.tag!r}")
    return tagged


def _copy_scenarios(files: list[Path], folder: Path) -> dict[str, list[Path]]:
    """The candidate's files, copied aside, per side: the candidate runs these exact bytes;
    the base runs them without their ``gate`` section (tolerances, which only the candidate's
    gate reads, and which a base older than the section could not load)."""
    copies: dict[str, list[Path]] = {CANDIDATE: [], BASE: []}
    for side in copies:
        (folder / side).mkdir(parents=True, exist_ok=True)
    for file in files:
        copy = folder / CANDIDATE / file.name
        if copy.exists():
            raise GateFailed(f"two scenario files are named {file.name}: rename one")
        shutil.copyfile(file, copy)
        copies[CANDIDATE].append(copy)
        copies[BASE].append(_without_gate_section(copy, folder / BASE / file.name))
    return copies


def _without_gate_section(file: Path, copy: Path) -> Path:
    data = yaml.safe_load(file.read_text())
    if isinstance(data, dict) and "gate" in data:
        del data["gate"]
        copy.write_text(yaml.safe_dump(data, sort_keys=False))
    else:
        shutil.copyfile(file, copy)
    return copy


def _mode(options: ABOptions) -> str:
    if options.side_by_side:
        return "each pair's benches side by side (both at once, each design's load from one t=0)"
    return "each pair's benches one after the other"


def _label(revision: Revision, what: str = "") -> str:
    text = f"{revision.ref} ({revision.short})" if revision.ref != revision.sha else revision.short
    return f"{what} at {revision.short}" if what else text


def _tail(log: Path) -> str:
    if not log.is_file():
        return "(no log)"
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "(empty log)"
