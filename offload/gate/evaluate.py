"""The gate: judge a run directory by its expectations and a baseline, with one exit code.

Order of business: read the run; refuse an invalid run (unless allowed); read the baseline and
refuse a comparison between different experiments, naming every field that differs; then
evaluate every check of every scenario, and only then decide. Reports (terminal table,
gate.md, junit.xml) are written even when the gate refuses, so a CI job summary always says
why the gate said what it said.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from offload.errors import GateFailed, OffloadError
from offload.gate.baseline import Baseline, load_baseline
from offload.gate.checks import GateReport, check_baseline, check_expectations, noise_warnings
from offload.gate.identity import (
    differences,
    identity_of,
    machine_differences,
    machine_warnings,
)
from offload.gate.junit import write_junit
from offload.gate.markdown import write_markdown
from offload.gate.rundir import RunDirectory, load_run_dir, refuse_invalid
from offload.gate.stats import DEFAULT_ALPHA
from offload.gate.terminal import print_report
from offload.rundir.run_info import MachineInfo

REPORT_DIR = "gate"


@dataclass(frozen=True, kw_only=True)
class GateOptions:
    """What ``offload gate`` was asked to do (its command-line flags)."""

    baseline: Path | None = None
    expectations: bool = True
    tolerance_scale: float = 1.0
    allow_invalid: bool = False
    ignore_identity: tuple[str, ...] = ()
    #: None: the baseline's ``settings.alpha``
    alpha: float | None = None


def evaluate_run(run_dir: Path | str, options: GateOptions = GateOptions()) -> GateReport:
    """Every check of a run directory; raises GateFailed / RunInvalid for unusable input."""
    if options.tolerance_scale <= 0:
        raise GateFailed(f"--tolerance-scale must be > 0, got {options.tolerance_scale:g}")
    run = load_run_dir(run_dir)
    report = GateReport(run_dir=run.path, baseline_path=options.baseline)
    if options.allow_invalid:
        for scenario in run.scenarios.values():
            for repeat in scenario.invalid:
                reasons = "; ".join(repeat.invalid_reasons) or "no reason given"
                report.warnings.append(f"{repeat.directory.name} is invalid ({reasons})")
    else:
        refuse_invalid(run)
    report.warnings += run.status_warnings()

    baseline = load_baseline(options.baseline) if options.baseline is not None else None
    if baseline is not None:
        _refuse_different_experiments(run, baseline, options.ignore_identity)
        _refuse_another_machine(run, baseline, options.ignore_identity)
        report.warnings += _coverage_warnings(run, baseline)
        report.warnings += machine_warnings(baseline.machine, _machine(run))
    alpha = (
        options.alpha
        if options.alpha is not None
        else (baseline.alpha if baseline else DEFAULT_ALPHA)
    )

    for scenario in run.scenarios.values():
        if options.expectations:
            report.checks += check_expectations(scenario)
        if baseline is not None and scenario.name in baseline.scenarios:
            gated = baseline.scenarios[scenario.name]
            report.warnings += noise_warnings(scenario, gated, options.tolerance_scale)
            report.checks += check_baseline(
                scenario,
                gated,
                alpha=alpha,
                tolerance_scale=options.tolerance_scale,
                baseline_file=str(options.baseline),
            )
    if not report.checks:
        raise GateFailed(
            "nothing to gate: "
            + ("the run's scenarios have no expectations" if options.expectations else
               "expectations are off (--no-expectations)")
            + (" and the baseline has none of its scenarios" if baseline else
               " and no --baseline was given")
        )  # fmt: skip
    return report


def run_gate(
    run_dir: Path | str,
    options: GateOptions = GateOptions(),
    *,
    out_dir: Path | None = None,
    console: Console | None = None,
) -> GateReport:
    """Evaluate, print the table, write gate.md and junit.xml; what ``offload gate`` does.

    Unusable input still leaves a gate.md and junit.xml that say why, then re-raises.
    """
    console = console or Console(highlight=False, soft_wrap=True)
    out = out_dir or Path(run_dir) / REPORT_DIR
    try:
        report = evaluate_run(run_dir, options)
    except OffloadError as exc:
        if Path(run_dir).is_dir():
            refused = GateReport(run_dir=Path(run_dir), baseline_path=options.baseline)
            write_reports(refused, out, refusal=str(exc))
        raise
    print_report(report, console)
    paths = write_reports(report, out)
    console.print(f"reports: {', '.join(str(p) for p in paths)}")
    return report


def write_reports(report: GateReport, out_dir: Path, *, refusal: str | None = None) -> list[Path]:
    """gate.md and junit.xml in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        write_markdown(report, out_dir / "gate.md", refusal=refusal),
        write_junit(report, out_dir / "junit.xml", refusal=refusal),
    ]


def _refuse_different_experiments(
    run: RunDirectory, baseline: Baseline, ignore: Iterable[str]
) -> None:
    lines = []
    for name, scenario in run.scenarios.items():
        if name not in baseline.scenarios:
            continue
        current = identity_of(scenario.manifest)
        for difference in differences(baseline.scenarios[name].identity, current, ignore=ignore):
            lines.append(
                f"  scenario {name}: {difference.describe()} (--ignore-identity {difference.key})"
            )
        for repeat in scenario.repeats[1:]:
            for difference in differences(current, identity_of(repeat.manifest), ignore=ignore):
                lines.append(
                    f"  scenario {name}: repeat {repeat.number} differs from repeat "
                    f"{scenario.repeats[0].number}: {difference.describe()}"
                )
    if lines:
        raise GateFailed(
            f"the baseline {baseline.path} and this run are not the same experiment:\n"
            + "\n".join(lines)
            + "\nRe-save the baseline from a run of this configuration "
            "(offload baseline save RUN_DIR --to FILE --force), or pass --ignore-identity FIELD "
            "to compare anyway."
        )


def _refuse_another_machine(run: RunDirectory, baseline: Baseline, ignore: Iterable[str]) -> None:
    """A stored baseline is evidence about the machine that recorded it: machines of one kind
    differed by ~50 % on unchanged code. Another machine needs the A/B gate (--base REF)."""
    found = machine_differences(baseline.machine, _machine(run), ignore=ignore)
    if not found:
        return
    lines = "\n".join(f"  {d.describe()} (--ignore-identity {d.key})" for d in found)
    raise GateFailed(
        f"the baseline {baseline.path} was recorded on another machine:\n{lines}\n"
        "A stored baseline only holds on the machine that recorded it. Measure the change "
        "against its base on this machine instead (offload gate --base REF; make gate), "
        "re-save the baseline here, or pass --ignore-identity machine to compare anyway."
    )


def _coverage_warnings(run: RunDirectory, baseline: Baseline) -> list[str]:
    warnings = []
    for name in run.scenarios:
        if name not in baseline.scenarios:
            warnings.append(
                f"scenario {name} is not gated against the baseline: {baseline.path} has no "
                "figures for it (re-save the baseline to include it)"
            )
    for name in baseline.scenarios:
        if name not in run.scenarios:
            warnings.append(f"scenario {name} is in the baseline but was not run")
    return warnings


def _machine(run: RunDirectory) -> MachineInfo:
    first = next(iter(run.scenarios.values()))
    return first.manifest.machine or MachineInfo()
