"""The stack floors of one scenario run (``load.stack_floor: true``): before the designs run,
each design's own server command with a bare app, at the scenario's signup and bystander rates.

Why in the bench and not only in ``offload probe stack``: a design's CPU per signup is an
absolute figure that moves with the machine; the same figure for its server and framework
alone, measured on the same machine minutes before, is what lets a reader on another machine
tell the design's own cost from the stack's. A failure does not stop the bench: the designs
can still be measured, and the scenario's warnings (the report's banner) say what is missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rich.markup import escape

from loadtests.plan import Arrivals
from offload.errors import OffloadError
from offload.run.floor import BENCH_FLOOR_S, QUICK_BENCH_FLOOR_S
from offload.run.progress import BenchProgress
from offload.run.stack_floor import measure_stack_floor
from offload.rundir.manifest import ScenarioManifest
from offload.scenario import Scenario
from offload.target.design_config import DesignConfig
from offload.target.manifest import TargetManifest

#: the scenario folder's subfolder with each design's stack floor (server log, generator files)
STACK_FLOOR_DIR = "stack-floor"


def record_stack_floors(
    manifest: ScenarioManifest,
    scenario: Scenario,
    designs: Iterable[tuple[str, TargetManifest, DesignConfig]],
    scenario_dir: Path,
    progress: BenchProgress,
    *,
    quick: bool = False,
) -> None:
    """Measure every design's stack floor the scenario asks for into ``manifest.stack_floors``
    (by design name); one that cannot be measured is a warning naming the design and why."""
    if not scenario.load.stack_floor:
        return
    rate = scenario.load.rate
    duration_s = QUICK_BENCH_FLOOR_S if quick else BENCH_FLOOR_S
    for name, target, config in designs:
        progress.note(
            f"{scenario_dir.name}: measuring {name}'s server and framework alone (a bare app "
            f"on its server command) at {rate:g} signups/s and the scenario's bystander reads, "
            f"for {duration_s:g} s ..."
        )
        try:
            floor = measure_stack_floor(
                target,
                rate=rate,
                duration_s=duration_s,
                config=config,
                bystander_rate=scenario.load.bystander_rate,
                arrivals=Arrivals(scenario.load.arrivals),
                work_dir=scenario_dir / STACK_FLOOR_DIR / name,
            )
        except OffloadError as exc:
            reason = f"{name}: its stack's floor was not measured: {exc}"
            manifest.warnings.append(reason)
            progress.note(f"[red]{scenario_dir.name}: {escape(reason)}[/]")
            continue
        manifest.stack_floors = {**manifest.stack_floors, name: floor}
        progress.note(
            f"{scenario_dir.name}: {name}'s stack alone ({floor.server}, {floor.framework}): "
            f"{floor.cpu_ms_per_signup:.2f} ms of CPU per signup"
        )
