"""The floor of one scenario run: ``offload bench`` measures the generator alone before the
scenario's designs and records the result — or why there is none — in the manifest.

The rate is the scenario's starting rate, signups and bystanders together (what one
generator process sends at t=0), with the scenario's arrivals. A failure does not stop the
bench: the designs can still be measured, and a run without a floor says so on the terminal,
in the manifest's warnings (so the report's warning banner) and next to every latency figure.
"""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape

from loadtests.plan import Arrivals
from offload.analysis.floor import floor_figures
from offload.run.floor import BENCH_FLOOR_S, QUICK_BENCH_FLOOR_S, measure_floor
from offload.run.progress import BenchProgress
from offload.rundir.manifest import ScenarioManifest
from offload.scenario import Scenario

#: the scenario folder's subfolder with the floor measurement's plan, records and Locust log
FLOOR_DIR = "floor"
#: ``floor_not_measured`` of a run started with ``--no-floor``
SKIPPED = "skipped with offload bench --no-floor"
#: ``floor_not_measured`` of a closed-loop scenario
CLOSED_LOOP = "closed loop: its requests have no schedule to be measured from"


def record_floor(
    manifest: ScenarioManifest,
    scenario: Scenario,
    scenario_dir: Path,
    progress: BenchProgress,
    *,
    skip: bool = False,
    quick: bool = False,
) -> None:
    """Measure the floor into ``scenario_dir/floor/`` and set the manifest's ``floor`` and
    ``floor_not_measured`` (one of them is null)."""
    manifest.floor, manifest.floor_not_measured = None, None
    load = scenario.load
    if skip or load.mode == "closed":
        manifest.floor_not_measured = SKIPPED if skip else CLOSED_LOOP
        return
    rate = load.rate + load.bystander_rate
    duration_s = QUICK_BENCH_FLOOR_S if quick else BENCH_FLOOR_S
    progress.note(
        f"{scenario_dir.name}: measuring the harness's own floor at {rate:g}/s for "
        f"{duration_s:g} s against an instant server on loopback ..."
    )
    try:
        floor = measure_floor(
            rate,
            duration_s=duration_s,
            arrivals=Arrivals(load.arrivals),
            work_dir=scenario_dir / FLOOR_DIR,
        )
    except Exception as exc:  # recorded below, shown on the terminal and in the report
        _failed(manifest, scenario_dir, progress, f"measuring it failed: {exc}")
        return
    if not floor.requests:
        reason = f"the instant server answered none of its {floor.failed} requests"
        _failed(manifest, scenario_dir, progress, reason)
        return
    manifest.floor = floor
    progress.note(f"{scenario_dir.name}: measurement floor {floor_figures(floor)}")


def _failed(
    manifest: ScenarioManifest, scenario_dir: Path, progress: BenchProgress, reason: str
) -> None:
    manifest.floor_not_measured = reason
    manifest.warnings.append(f"the measurement floor was not measured: {reason}")
    progress.note(
        f"[red]{scenario_dir.name}: the measurement floor was not measured: {escape(reason)}[/]"
    )
