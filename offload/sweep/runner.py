"""``offload sweep``: every (design, rate, latency) cell of a sweep file, then each design's
search, into one run directory.

A cell is an ordinary scenario (:meth:`SweepFile.cell_scenario`) run by the bench's own
machinery — :func:`offload.run.orchestrator._run_scenario`, the same Stack, records, manifest
and ``summary.json`` — into a scenario folder of the sweep's run directory, so there is no
second measurement path: a cell's figures are those ``offload bench`` would have given. What
the sweep adds is the order of the runs (the grid, then the searches, which need the grid's
verdicts), the broker probe measured once at the start against the same broker, and
``sweep.json``, written after every cell so that an interrupted sweep keeps what it measured.

The generator's floor is not measured per cell (it would double a short cell's time); the
broker probe is the physical reference the page draws instead.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml
from rich.console import Console

from offload.errors import OffloadError, RunInvalid, ScenarioError
from offload.provisioning.broker import Broker, provision_broker, redact_url
from offload.run.broker_probe import measure_broker
from offload.run.generator_capacity import check_generator_capacity
from offload.run.load_workers import LoadWorkers, resolve_load_workers
from offload.run.metadata import git_info, machine_info, package_versions, rabbitmq_version
from offload.run.orchestrator import (
    BenchPlan,
    PreparedDesign,
    PreparedScenario,
    _run_scenario,
)
from offload.run.progress import BenchProgress
from offload.run.supervisor import terminate_as_interrupt
from offload.rundir.paths import REPORTS_DIR
from offload.rundir.run_info import RunInfo
from offload.scenario import Scenario, load_scenario
from offload.sweep.analysis import cell_figures
from offload.sweep.files import load_sweep
from offload.sweep.model import SweepFile
from offload.sweep.rundir import CellRun, Purpose, SearchStep, SweepRecord
from offload.sweep.search import Judged, search_max_rate
from offload.target.manifest import TargetManifest, resolve_target
from offload.units import format_duration

#: the broker probe's paced rate and the seconds of each of its two parts
PROBE_RATE = 100.0
PROBE_SECONDS = 3.0
QUICK_PROBE_SECONDS = 1.5
#: where a cell's scenario file is written before it runs (the bench copies it into the cell)
CELLS_DIR = ".cells"


@dataclass
class SweepPlan:
    file: Path
    quick: bool = False
    load_workers: LoadWorkers = "auto"
    reports_dir: Path = REPORTS_DIR
    argv: list[str] = field(default_factory=lambda: list(sys.argv))


@dataclass
class PreparedSweep:
    sweep: SweepFile
    targets: dict[str, TargetManifest]


def prepare_sweep(plan: SweepPlan) -> PreparedSweep:
    """Load the sweep file, resolve every design and check every cell's load against the
    generator, before anything starts (fail fast, naming the file)."""
    sweep = load_sweep(plan.file)
    if plan.quick:
        sweep = sweep.quickened()
    targets = {}
    for name, entry in zip(sweep.design_names, sweep.designs, strict=True):
        target = entry if isinstance(entry, str) else entry.target
        targets[name] = resolve_target(target, relative_to=plan.file.parent)
    for name, rate in (("rates", sweep.rates[-1]), ("search.max_rate", sweep.search.max_rate)):
        scenario = sweep.cell_scenario(sweep.designs[0], rate, sweep.provider_latencies[0])
        try:
            check_generator_capacity(
                plan.file, scenario, resolve_load_workers(plan.load_workers, scenario)
            )
        except ScenarioError as exc:  # the cell's field is the sweep file's
            raise ScenarioError(
                str(exc).replace("field 'load.rate'", f"field '{name}'")
                + " (or --load-workers auto)"
            ) from exc
    return PreparedSweep(sweep, targets)


def new_sweep_dir(reports_dir: Path) -> Path:
    """``reports/runs/<UTC time>-sweep/`` (a suffix if two start in one second)."""
    runs = reports_dir / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for attempt in range(100):
        candidate = runs / (f"{stamp}-sweep" + (f"-{attempt}" if attempt else ""))
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise RunInvalid(f"cannot create a new sweep directory under {runs}")


class SweepRun:
    """One sweep in progress: its directory, record, broker and progress."""

    def __init__(
        self,
        plan: SweepPlan,
        prepared: PreparedSweep,
        run_dir: Path,
        record: SweepRecord,
        run_info: RunInfo,
        progress: BenchProgress,
        broker: Broker | None,
        versions: dict[str, str | None],
    ) -> None:
        self.plan, self.prepared, self.run_dir = plan, prepared, run_dir
        self.record, self.run_info, self.progress = record, run_info, progress
        self.broker, self.versions = broker, versions

    @property
    def sweep(self) -> SweepFile:
        return self.prepared.sweep

    def save(self) -> None:
        self.record.dump(self.run_dir / SweepRecord.FILE_NAME)
        self.run_info.dump(self.run_dir / RunInfo.FILE_NAME)

    def run_cell(self, design: str, rate: float, latency: float, purpose: Purpose) -> Judged:
        """Run one cell through the bench's machinery and judge it against the SLO."""
        entry = self.sweep.design(design)
        scenario = self.sweep.cell_scenario(entry, rate, latency)
        folder = scenario.name
        while (self.run_dir / folder).exists():
            folder += "-again"
        file = self._write_scenario(scenario, folder)
        workers = resolve_load_workers(self.plan.load_workers, scenario)
        check_generator_capacity(file, scenario, workers)
        variant = scenario.variants()[0]
        item = PreparedScenario(
            file, scenario, [PreparedDesign(design, self.prepared.targets[design], variant.config)]
        )
        bench = BenchPlan(
            scenario_files=[file],
            load_workers=workers,
            floor=False,
            reports_dir=self.plan.reports_dir,
            argv=self.plan.argv,
        )
        cell = CellRun(
            folder=folder,
            design=design,
            rate=rate,
            latency_s=latency,
            purpose=purpose,
            load_workers=workers,
            started_at=time.time(),
        )
        self.record.cells.append(cell)
        self.run_info.scenarios.append(folder)
        self.save()
        try:
            _run_scenario(
                item,
                self.run_dir / folder,
                1,
                bench,
                self.broker,
                self.versions,
                self.progress,
                self.run_info,
            )
        finally:
            cell.ended_at = time.time()
            self.record.cells = list(self.record.cells)
            self.save()
        figures = cell_figures(self.run_dir, cell, self.sweep.slo)
        verdict = (
            f"invalid ({figures.verdict_reason})"
            if figures.verdict == "invalid"
            else f"{figures.verdict} the SLO ({figures.verdict_reason})"
        )
        self.progress.note(
            f"  {design} at {rate:g}/s, provider {format_duration(latency)}: {verdict}; "
            f"{cell.ended_at - cell.started_at:.0f} s"
        )
        return Judged(rate=rate, verdict=figures.verdict, folder=folder)

    def _write_scenario(self, scenario: Scenario, folder: str) -> Path:
        """The cell's scenario as a file (the bench copies it into the cell's folder), read
        back through the scenario loader so the file is exactly what ran."""
        path = self.run_dir / CELLS_DIR / f"{folder}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        if load_scenario(path) != scenario:
            raise OffloadError(f"{path}: the cell's scenario file does not read back as written")
        return path

    def _runner(self, design: str, latency: float) -> Callable[[float], Judged]:
        def run(rate: float) -> Judged:
            return self.run_cell(design, rate, latency, "search")

        return run

    def grid(self) -> dict[tuple[str, float], list[Judged]]:
        """Every grid cell: per latency, rates increasing, each design in turn."""
        known: dict[tuple[str, float], list[Judged]] = {}
        for latency in self.sweep.provider_latencies:
            for rate in self.sweep.rates:
                for design in self.sweep.design_names:
                    judged = self.run_cell(design, rate, latency, "grid")
                    known.setdefault((design, latency), []).append(
                        Judged(judged.rate, judged.verdict, judged.folder, ran=False)
                    )
        return known

    def searches(self, known: dict[tuple[str, float], list[Judged]]) -> None:
        """Each design's bounded search at each searched latency, from the grid's verdicts."""
        search = self.sweep.search
        for latency in self.sweep.searched_latencies:
            for design in self.sweep.design_names:
                label = format_duration(latency)
                self.progress.note(f"search: {design}, provider {label}")
                result = search_max_rate(
                    self._runner(design, latency),
                    known.get((design, latency), []),
                    max_rate=search.max_rate,
                    max_runs=search.max_runs,
                    max_time_s=search.max_time,
                    resolution=search.resolution,
                )
                steps = [
                    SearchStep(rate=s.rate, folder=s.folder, verdict=s.verdict, ran=s.ran)
                    for s in result.steps
                ]
                self.record.searches = {
                    **self.record.searches,
                    design: {**self.record.searches.get(design, {}), label: steps},
                }
                self.record.search_stops = {
                    **self.record.search_stops,
                    design: {**self.record.search_stops.get(design, {}), label: result.stopped_by},
                }
                self.save()
                best = f"{result.best.rate:g}/s" if result.best else "none"
                self.progress.note(
                    f"search: {design}, provider {label}: highest rate meeting the SLO {best} "
                    f"(stopped by {result.stopped_by}, {result.runs} runs)"
                )


def planned_runs(sweep: SweepFile) -> int:
    """Grid cells plus every search's run budget: the progress bar's upper bound."""
    grid = len(sweep.design_names) * len(sweep.rates) * len(sweep.provider_latencies)
    return grid + len(sweep.design_names) * len(sweep.searched_latencies) * sweep.search.max_runs


def run_sweep(plan: SweepPlan, console: Console) -> Path:
    """Run every cell and search of the sweep; returns the sweep's run directory."""
    prepared = prepare_sweep(plan)
    sweep = prepared.sweep
    run_dir = new_sweep_dir(plan.reports_dir)
    started = time.time()
    run_info = RunInfo(
        command=plan.argv,
        scenarios=[],
        quick=plan.quick,
        repeat=1,
        started_at=started,
        git=git_info(),
        machine=machine_info(),
        status="running",
    )
    record = SweepRecord(
        sweep_file=str(plan.file),
        sweep=sweep.model_dump(mode="json", by_alias=True),
        quick=plan.quick,
        load_workers=str(plan.load_workers),
        status="running",
        started_at=started,
    )
    console.print(f"sweep directory: {run_dir}")
    console.print(
        f"{len(sweep.design_names)} designs × {len(sweep.rates)} rates × "
        f"{len(sweep.provider_latencies)} provider latencies, "
        f"{format_duration(sweep.cell.duration)} per cell; up to {planned_runs(sweep)} runs"
    )
    broker: Broker | None = None
    run: SweepRun | None = None
    try:
        with (
            terminate_as_interrupt(),
            BenchProgress(console, total_runs=planned_runs(sweep)) as progress,
        ):
            versions: dict[str, str | None] = dict(package_versions())
            if any(t.uses_broker for t in prepared.targets.values()):
                console.print("provisioning the broker ...")
                broker = provision_broker(work_dir=run_dir / ".broker")
                console.print(f"broker: {broker.source} ({redact_url(broker.url)})")
                versions["rabbitmq"] = rabbitmq_version(broker.url)
                seconds = QUICK_PROBE_SECONDS if plan.quick else PROBE_SECONDS
                console.print(
                    f"broker probe: publish with confirm, {PROBE_RATE:g}/s paced then back "
                    f"to back, {seconds:g} s each"
                )
                try:
                    record.broker_probe = measure_broker(
                        broker.url, source=broker.source, rate=PROBE_RATE, duration_s=seconds
                    )
                    confirm = record.broker_probe.paced.confirm
                    console.print(
                        f"broker probe: confirm p50 {confirm.p50_ms} ms, p99 {confirm.p99_ms} ms"
                    )
                except OffloadError as exc:
                    record.broker_probe_missing = str(exc)
                    console.print(f"[yellow]broker probe failed: {exc}[/]")
            else:
                record.broker_probe_missing = "no design of the sweep uses the broker"
            run = SweepRun(plan, prepared, run_dir, record, run_info, progress, broker, versions)
            run.save()
            known = run.grid()
            run.searches(known)
        record.status = run_info.status = "complete"
    except KeyboardInterrupt:
        record.status = run_info.status = "interrupted"
        raise
    except OffloadError:
        record.status = run_info.status = "failed"
        raise
    finally:
        if broker is not None:
            broker.close()
        record.ended_at = run_info.ended_at = time.time()
        record.dump(run_dir / SweepRecord.FILE_NAME)
        run_info.dump(run_dir / RunInfo.FILE_NAME)
    return run_dir


__all__ = ["SweepPlan", "new_sweep_dir", "prepare_sweep", "run_sweep"]
