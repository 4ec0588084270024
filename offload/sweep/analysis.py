"""``sweep-summary.json`` from the sweep's run directory: each cell's figures, the curves'
knees, the maximum rates and the crossover map.

Every figure is read from the cell's own ``summary.json`` (which ``offload bench``'s analysis
computed from the cell's raw records) or, for the CPU, its ``samples.csv``; nothing is
measured twice and nothing is carried over from the sweep's run itself.
"""

from __future__ import annotations

import math
from pathlib import Path

from offload.analysis import numbers
from offload.analysis.noise import CAUSE_LABELS
from offload.rundir.manifest import ScenarioManifest
from offload.rundir.summary import DesignSummary, Interval, Percentiles, Summary
from offload.sweep.cpu import cpu_per_signup
from offload.sweep.model import Slo, SweepFile
from offload.sweep.rundir import (
    CellFigures,
    CellRun,
    Crossover,
    Knee,
    MaxRate,
    Percentile,
    SweepRecord,
    SweepSummary,
    Verdict,
)
from offload.units import format_duration

#: the percentiles the crossover map may judge on, highest first: p99 when every design's
#: cell supports it, else the highest they all support (a 10 s cell at 10/s has 100 signups)
JUDGED_PERCENTILES = ("p99", "p95", "p90", "p50")
NO_CLEAR = "no clear difference"
INVALID = "invalid"
#: fewer than two designs have the figure to compare (CPU per signup of a design that
#: answered no signup)
NO_FIGURE = "no figure"


#: the signup latency figures a cell keeps, by summary key
KEPT = ("p50", "p90", "p95", "p99", "max")


def percentile(block: Percentiles, key: str) -> Percentile:
    """One figure of a latency block; None where the window cannot support it."""
    value = None if key in block.unavailable else block.value(key)
    return Percentile(key=key, value=value, ci=block.ci.get(key) if value is not None else None)


def invalid_cause(figures: DesignSummary) -> str:
    """Why an invalid cell is not judged, in a few words: who took the generator's CPU when
    its records show it (the reasons in ``invalid_reasons`` give the figures)."""
    cause = figures.generator.lag_cause
    if cause is None:
        return "the run was invalid (see its reasons)"
    return f"{CAUSE_LABELS[cause]}: the generator fell behind its schedule"


def judge(figures: DesignSummary, valid: bool, slo: Slo) -> tuple[Verdict, str, Percentile]:
    """Whether a cell meets the SLO, why, and the latency figure it was judged on.

    p99 when 1,000 signups support it; else the slowest signup, which is at least the p99,
    so a cell that meets the SLO on it meets it on any p99 its signups could show.
    """
    latency = figures.signup.overall.latency_ms
    supported = "p99" not in latency.unavailable and latency.p99 is not None
    figure = percentile(latency, "p99" if supported else "max")
    if not valid:
        return "invalid", invalid_cause(figures), figure
    overall = figures.signup.overall
    if overall.count == 0 or figure.value is None:
        return "invalid", "no signup was measured", figure
    limit_ms = slo.p99 * 1000
    errors = overall.error_rate or 0.0
    label = "p99" if supported else "slowest signup (fewer than 1,000 for a p99)"
    if figure.value > limit_ms:
        return "misses", f"{label} {numbers.ms(figure.value)} > {numbers.ms(limit_ms)}", figure
    if errors > slo.errors:
        return "misses", f"failed {numbers.pct(errors)} > {numbers.pct(slo.errors)}", figure
    return "meets", f"{label} {numbers.ms(figure.value)}, failed {numbers.pct(errors)}", figure


def cell_figures(run_dir: Path, cell: CellRun, slo: Slo) -> CellFigures:
    """One cell's figures from its folder (summary.json, manifest.json, samples.csv)."""
    folder = run_dir / cell.folder
    summary = Summary.in_folder(folder)
    manifest = ScenarioManifest.in_folder(folder)
    design = summary.designs.get(cell.design)
    entry = manifest.designs.get(cell.design)
    if design is None or entry is None:
        reason = f"{cell.folder}: the design {cell.design} has no figures in summary.json"
        empty = Percentile(key="p99", value=None)
        return CellFigures(
            folder=cell.folder,
            design=cell.design,
            rate=cell.rate,
            latency_s=cell.latency_s,
            purpose=cell.purpose,
            valid=False,
            invalid_reasons=[*summary.invalid_reasons, reason],
            verdict="invalid",
            verdict_reason=reason,
            signups=0,
            achieved_rate=None,
            latency={},
            slo_figure=empty,
            error_rate=None,
            generator_processes=cell.load_workers,
            generator_saturated=False,
        )
    overall = design.signup.overall
    verdict, reason, slo_figure = judge(design, summary.valid, slo)
    cpu = (
        cpu_per_signup(folder / cell.design, entry.t0_epoch, manifest.scenario.load.duration)
        if entry.t0_epoch is not None
        else None
    )
    queue = design.queue
    figures = CellFigures(
        folder=cell.folder,
        design=cell.design,
        rate=cell.rate,
        latency_s=cell.latency_s,
        purpose=cell.purpose,
        valid=summary.valid,
        invalid_reasons=summary.invalid_reasons,
        verdict=verdict,
        verdict_reason=reason,
        signups=overall.count,
        achieved_rate=overall.goodput,
        latency={key: percentile(overall.latency_ms, key) for key in KEPT},
        slo_figure=slo_figure,
        error_rate=overall.error_rate,
        error_rate_ci=overall.error_rate_ci,
        cpu_per_1000=cpu.per_1000 if cpu else None,
        cpu_per_1000_ci=(
            Interval(low=cpu.interval[0], high=cpu.interval[1])
            if cpu is not None and cpu.interval is not None
            else None
        ),
        e2e_p95_ms=design.e2e_ms.p95 if queue is not None else None,
        drained=queue.drained if queue is not None else None,
        generator_processes=design.generator.processes,
        generator_saturated=design.generator.saturated,
        lag_cause=design.generator.lag_cause,
    )
    if design.broker_probe is not None:
        figures.broker_confirm_p99_ms = design.broker_probe.paced.confirm.p99_ms
    return figures


def grid_cells(cells: list[CellFigures]) -> list[CellFigures]:
    return [c for c in cells if c.purpose == "grid"]


def knee(cells: list[CellFigures], design: str, latency: float) -> Knee | None:
    """The knee of one design's curve at one latency: the first grid rate that misses the SLO
    (the curve leaves it there), with the valid rate before it; None when every valid rate
    meets it."""
    curve = sorted(
        (c for c in grid_cells(cells) if c.design == design and c.latency_s == latency),
        key=lambda c: c.rate,
    )
    before: float | None = None
    for cell in curve:
        if cell.verdict == "misses":
            return Knee(
                rate=cell.rate, folder=cell.folder, before_rate=before, reason=cell.verdict_reason
            )
        if cell.verdict == "meets":
            before = cell.rate
    return None


def _interval(value: float | None, ci: Interval | None) -> tuple[float, float] | None:
    if value is None or not math.isfinite(value):
        return None
    return (ci.low, ci.high) if ci is not None else (value, value)


def winner(candidates: dict[str, tuple[float, float] | None], point: dict[str, float]) -> str:
    """The design whose interval lies wholly below every other's, else "no clear
    difference" (the intervals of the best and some other overlap); lower is better."""
    if len(candidates) < 2 or any(v is None for v in candidates.values()):
        return NO_CLEAR if len(candidates) >= 2 else INVALID
    best = min(point, key=lambda name: point[name])
    best_high = candidates[best][1]  # type: ignore[index]
    others = [iv for name, iv in candidates.items() if name != best]
    if all(iv is not None and best_high < iv[0] for iv in others):
        return best
    return NO_CLEAR


def crossovers(
    cells: list[CellFigures], designs: list[str], rates: list[float], latencies: list[float]
) -> list[Crossover]:
    """Every grid cell's :func:`crossover`; none for a sweep of one design, which has nothing
    to compare (each cell would read "invalid", which it is not)."""
    if len(designs) < 2:
        return []
    return [crossover(cells, designs, rate, latency) for latency in latencies for rate in rates]


def crossover(
    cells: list[CellFigures], designs: list[str], rate: float, latency: float
) -> Crossover:
    """Which design wins one (rate, latency) cell on signup latency and on CPU per signup."""
    here = {c.design: c for c in grid_cells(cells) if c.rate == rate and c.latency_s == latency}
    e2e: dict[str, float | None] = {
        name: cell.e2e_p95_ms
        for name, cell in here.items()
        if cell.e2e_p95_ms is not None and cell.valid  # an invalid cell's figure is no figure
    }
    present = [d for d in designs if d in here]
    if len(present) < 2 or any(not here[d].valid for d in present):
        bad = ", ".join(d for d in present if not here[d].valid) or "a design did not run"
        detail = f"invalid: {bad}"
        return Crossover(
            rate=rate,
            latency_s=latency,
            p99_winner=INVALID,
            p99_key="p99",
            p99_detail=detail,
            cpu_winner=INVALID,
            cpu_detail=detail,
            e2e_p95_ms=e2e,
        )
    key = _judged_key([here[d] for d in present])
    latency_points: dict[str, float] = {}
    latency_intervals: dict[str, tuple[float, float] | None] = {}
    for name in present:
        block = _latency_block(here[name], key)
        latency_intervals[name] = _interval(block.value, block.ci)
        if block.value is not None:
            latency_points[name] = block.value
    cpu_points: dict[str, float] = {
        d: value for d in present if (value := here[d].cpu_per_1000) is not None
    }
    cpu_intervals = {
        d: (
            (here[d].cpu_per_1000_ci.low, here[d].cpu_per_1000_ci.high)  # type: ignore[union-attr]
            if here[d].cpu_per_1000_ci is not None
            else None
        )
        for d in present
    }
    # a design that answered no signup costs nothing per signup only by division by zero:
    # it is left out, and the designs that answered are compared among themselves
    unanswered = [d for d in present if d not in cpu_points]
    answered_intervals = {d: iv for d, iv in cpu_intervals.items() if d in cpu_points}
    # a backlog that had not drained holds work of this cell's signups done after its
    # measured part: the figure can only rise, so it may lose but cannot win
    lower_bound = [d for d in cpu_points if here[d].drained is False]
    cpu_winner = winner(answered_intervals, cpu_points) if len(cpu_points) >= 2 else NO_FIGURE
    if cpu_winner in lower_bound:
        cpu_winner = NO_CLEAR
    return Crossover(
        rate=rate,
        latency_s=latency,
        p99_winner=winner(latency_intervals, latency_points)
        if len(latency_points) == len(present)
        else NO_FIGURE,
        p99_key=key,
        p99_detail=" vs ".join(
            f"{d} {numbers.ms(latency_points.get(d))}{_ci_text(latency_intervals[d], ms=True)}"
            for d in present
        ),
        cpu_winner=cpu_winner,
        cpu_detail=" vs ".join(
            f"{d} {'≥ ' if d in lower_bound else ''}{_cpu_text(cpu_points.get(d))}"
            f"{_ci_text(cpu_intervals[d], ms=False)}"
            for d in present
        )
        + (f" ({', '.join(unanswered)}: no signup answered, left out)" if unanswered else "")
        + (f" ({', '.join(lower_bound)}: not drained, a lower bound)" if lower_bound else ""),
        cpu_unanswered=unanswered,
        cpu_lower_bound=lower_bound,
        e2e_p95_ms=e2e,
    )


def _judged_key(cells: list[CellFigures]) -> str:
    """p99 when every cell's signups support it, else the highest percentile they all do."""
    from offload.analysis.uncertainty import supported

    counts = [c.signups for c in cells]
    for key in JUDGED_PERCENTILES:
        if all(supported(n, float(key[1:])) for n in counts):
            return key
    return "p50"


def _latency_block(cell: CellFigures, key: str) -> Percentile:
    return cell.latency.get(key) or Percentile(key=key, value=None)


def _ci_text(interval: tuple[float, float] | None, *, ms: bool) -> str:
    if interval is None:
        return ""
    low, high = interval
    if ms:
        return f" [{numbers.ms(low)}–{numbers.ms(high)}]"
    return f" [{low:.3g}–{high:.3g}]"


def _cpu_text(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g} CPU s/1,000"


def max_rates(record: SweepRecord, cells: list[CellFigures], sweep: SweepFile) -> list[MaxRate]:
    """Each searched (design, latency): the highest rate that met the SLO and the cell above
    it that bounds it, from the grid cells and the search's steps."""
    by_folder = {c.folder: c for c in cells}
    results = []
    for design in sweep.design_names:
        for latency in sweep.searched_latencies:
            steps = record.searches.get(design, {}).get(format_duration(latency), [])
            known = [c for c in cells if c.design == design and c.latency_s == latency]
            ordered = sorted(known, key=lambda c: c.rate)
            first_bad = next((c for c in ordered if c.verdict != "meets"), None)
            good = [
                c
                for c in ordered
                if c.verdict == "meets" and (first_bad is None or c.rate < first_bad.rate)
            ]
            best = good[-1] if good else None
            stopped = record.search_stops.get(design, {}).get(format_duration(latency), "")
            results.append(
                MaxRate(
                    design=design,
                    latency_s=latency,
                    rate=best.rate if best else None,
                    rate_folder=best.folder if best else None,
                    bound=first_bad.rate if first_bad else None,
                    bound_folder=first_bad.folder if first_bad else None,
                    bound_verdict=first_bad.verdict if first_bad else None,
                    stopped_by=stopped or "not searched",
                    runs=sum(1 for s in steps if s.ran and s.folder in by_folder),
                )
            )
    return results


def analyse(run_dir: Path, record: SweepRecord, sweep: SweepFile) -> SweepSummary:
    """Every figure of the sweep's page, from the cells' folders."""
    cells = [
        cell_figures(run_dir, cell, sweep.slo)
        for cell in record.cells
        if (run_dir / cell.folder / Summary.FILE_NAME).exists()
    ]
    designs = sweep.design_names
    knees: dict[str, dict[str, Knee | None]] = {
        design: {
            format_duration(latency): knee(cells, design, latency)
            for latency in sweep.provider_latencies
        }
        for design in designs
    }
    probe = record.broker_probe
    return SweepSummary(
        sweep=sweep.name,
        quick=record.quick,
        slo_p99_ms=sweep.slo.p99 * 1000,
        slo_errors=sweep.slo.errors,
        designs=designs,
        rates=sweep.rates,
        latencies_s=sweep.provider_latencies,
        cells=cells,
        knees=knees,
        max_rates=max_rates(record, cells, sweep),
        crossover=crossovers(cells, designs, sweep.rates, sweep.provider_latencies),
        broker_confirm_p99_ms=probe.paced.confirm.p99_ms if probe is not None else None,
        wall_s=(record.ended_at - record.started_at) if record.ended_at else None,
    )
