"""``offload bench``: run scenarios against designs and fill one run directory.

For each scenario (and repeat), each design runs alone on the machine — fresh database, fresh
queues, its own provider — one after the other, so the designs never compete for the two
cores. The scenario folder gets the manifest (what ran, where, with which versions) and
``summary.json`` computed from the raw records. Before a scenario's designs run, the bench
measures its own floor at the scenario's rate against an instant server (``floor/``), so the
report can say how much of every latency is the harness's. A scenario set (``--set``)
replaces every scenario's designs with its own and may shorten them; a design that uses no
broker skips a scenario that breaks the broker, and the run says so (terminal, ``run.json``,
the scenario's ``manifest.json``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from offload.analysis.summary import write_summary
from offload.errors import OffloadError, ScenarioError
from offload.ports import is_loopback
from offload.provisioning.broker import Broker, provision_broker, redact_url
from offload.run.bench_floor import FLOOR_DIR, record_floor
from offload.run.bench_stack_floor import record_stack_floors
from offload.run.design import DesignRunResult, run_design
from offload.run.external import check_external_faults, run_external_design
from offload.run.generator_capacity import check_generator_capacity
from offload.run.load_workers import LoadWorkers, resolve_load_workers
from offload.run.metadata import git_info, machine_info, package_versions, rabbitmq_version
from offload.run.probe_beside import unprobed
from offload.run.progress import BenchProgress
from offload.run.remote import check_remote, remote_addresses, url_host
from offload.run.remote_workers import RemoteMaster, check_master_address
from offload.run.rendezvous import Rendezvous
from offload.run.supervisor import terminate_as_interrupt
from offload.rundir.manifest import BrokerRecord, PhaseRecord, ScenarioManifest, ScenarioRecord
from offload.rundir.paths import REPORTS_DIR, new_run_dir, point_latest
from offload.rundir.run_info import RunInfo
from offload.scenario import Scenario, ScenarioSet, load_scenario
from offload.target.design_config import DesignConfig
from offload.target.manifest import TargetManifest, resolve_target


@dataclass
class BenchPlan:
    scenario_files: list[Path]
    quick: bool = False
    designs: list[str] | None = None
    repeat: int = 1
    #: generator processes: a count, or "auto" (from each scenario's peak rate)
    load_workers: LoadWorkers = 1
    #: measure the generator's floor before each scenario's designs (``--no-floor``: skip)
    floor: bool = True
    reports_dir: Path = REPORTS_DIR
    #: show the running design's live figures with the progress (``--quiet``: no)
    live_figures: bool = True
    argv: list[str] = field(default_factory=lambda: list(sys.argv))
    #: ``--set``: the set whose targets and time scale replace each scenario's own
    scenario_set: ScenarioSet | None = None
    #: where the set's file is (its target directories are relative to it)
    set_file: Path | None = None
    #: ``--allow-remote``: external targets may name non-loopback addresses
    allow_remote: bool = False
    #: ``--master-bind``: the load comes from ``load_workers`` Locust workers on other hosts
    master: RemoteMaster | None = None
    #: ``--rendezvous``: each design's load starts together with other benches' (A/B gate)
    rendezvous: Rendezvous | None = None


@dataclass
class PreparedDesign:
    """One design of a scenario: its name in the run, its target, its knobs."""

    name: str
    manifest: TargetManifest
    config: DesignConfig


@dataclass
class PreparedScenario:
    file: Path
    scenario: Scenario
    designs: list[PreparedDesign]
    #: design -> why it does not run this scenario (a set's design without a broker)
    skipped: dict[str, str] = field(default_factory=dict)


#: why a set's design that uses no broker skips a scenario that stops or blocks the broker
NO_BROKER = "uses no broker: a scenario that breaks the broker does not concern it"


def in_set(scenario: Scenario, plan: BenchPlan) -> Scenario:
    """The scenario as a set runs it: the set's targets, shortened by the set's time scale
    (with ``--quick``, the scenario's own quick time scale applies instead)."""
    chosen = plan.scenario_set
    if chosen is None:
        return scenario
    scenario = scenario.model_copy(update={"targets": list(chosen.targets)})
    if chosen.time_scale is not None and not plan.quick:
        scenario = scenario.quickened(chosen.time_scale)
    return scenario


def prepare(plan: BenchPlan) -> list[PreparedScenario]:
    """Load and check every scenario and target before anything starts (fail fast)."""
    prepared = []
    for file in plan.scenario_files:
        scenario = in_set(load_scenario(file), plan)
        if plan.quick:
            scenario = scenario.quickened()
        check_generator_capacity(file, scenario, resolve_load_workers(plan.load_workers, scenario))
        targets_dir = plan.set_file.parent if plan.set_file is not None else file.parent
        designs = [
            PreparedDesign(v.name or manifest.name, manifest, v.config)
            for v in scenario.variants()
            for manifest in [resolve_target(v.target, relative_to=targets_dir)]
        ]
        if plan.designs:
            designs = [
                d for d in designs if d.name in plan.designs or d.manifest.name in plan.designs
            ]
            if not designs:
                known = ", ".join(v.name or v.target for v in scenario.variants())
                raise OffloadError(
                    f"{file}: none of its designs ({known}) is among --design "
                    f"{' '.join(plan.designs)}"
                )
        skipped: dict[str, str] = {}
        if plan.scenario_set is not None and scenario.breaks_the_broker:
            skipped = {d.name: NO_BROKER for d in designs if not d.manifest.uses_broker}
            designs = [d for d in designs if d.name not in skipped]
        for design in designs:
            check_external_faults(file, scenario, design.manifest)
            if plan.rendezvous is not None and design.manifest.is_external:
                raise ScenarioError(
                    f"{file}: --rendezvous runs benches side by side, each with its own "
                    f"designs; {design.name} is an external target, which both would share"
                )
        check_api_faults(file, scenario, designs)
        if designs and scenario.breaks_the_broker and os.environ.get("AMQP_URL"):
            raise ScenarioError(
                f"{file}: this scenario stops or blocks the broker, and AMQP_URL points at "
                "a broker offload does not own; offload refuses to touch it. Unset AMQP_URL "
                "so that offload starts a private RabbitMQ node for this scenario."
            )
        if FLOOR_DIR in {d.name for d in designs}:
            raise ScenarioError(
                f"{file}: a design is named {FLOOR_DIR!r}, the folder where offload bench "
                "keeps the generator's floor; name it differently (targets: {target: ..., "
                "name: ...})"
            )
        prepared.append(PreparedScenario(file, scenario, designs, skipped))
    return prepared


def server_process_limit(design: PreparedDesign) -> int:
    """How many server processes the design runs: its ``server_processes`` when its server
    reads the knob, else one (a server that runs as a single process)."""
    if design.manifest.uses_placeholder("server_processes"):
        return design.config.server_processes
    return 1


def check_api_faults(file: Path, scenario: Scenario, designs: list[PreparedDesign]) -> None:
    """Refuse ``api: {kill: N}`` with N above a design's server processes, before anything
    starts (the scenario alone cannot know: the knob is per design, and a target may ignore it)."""
    problems = []
    for index, fault in enumerate(scenario.faults):
        if fault.api is None:
            continue
        for design in designs:
            limit = server_process_limit(design)
            if fault.api.kill > limit:
                problems.append(
                    f"{file}: field 'faults[{index}].api.kill': {fault.api.kill} is more than "
                    f"design {design.name}'s {limit} server process(es) (expected at most "
                    f"{limit}; designs.server_processes sets it)"
                )
    if problems:
        raise ScenarioError("\n".join(problems))


def check_remote_master(
    plan: BenchPlan, master: RemoteMaster, prepared: list[PreparedScenario], console: Console
) -> None:
    """Refuse, before anything starts, what remote workers cannot do: an ``auto`` count (no
    one here can start them), the closed loop (its workers read the plan from a path), and a
    loopback target behind a non-loopback master (each worker would load its own host)."""
    line = check_master_address(master.bind, allowed=plan.allow_remote, command="bench")
    if plan.load_workers == "auto":
        raise ScenarioError("--master-bind needs --load-workers N: how many workers to wait for")
    for item in prepared:
        if item.scenario.load.mode == "closed":
            raise ScenarioError(
                f"{item.file}: field 'load.mode': the closed loop runs on one host only, "
                "not with --master-bind"
            )
        if master.bind.is_loopback:
            continue
        for design in item.designs:
            external = design.manifest.external
            host = url_host(external.url) if external is not None else "127.0.0.1"
            if host is None or is_loopback(host):
                raise ScenarioError(
                    f"{item.file}: design {design.name!r} listens on loopback ({host}), which "
                    f"a load worker on another host cannot reach: give --master-bind a "
                    "loopback address, or bench an external target the workers can reach"
                )
    if line is not None:
        console.print(line)


def run_bench(plan: BenchPlan, console: Console) -> Path:
    prepared = prepare(plan)
    addresses = remote_addresses(d.manifest for p in prepared for d in p.designs)
    check_remote(addresses, allowed=plan.allow_remote, command="bench")
    for address in addresses:
        console.print(address.line())
    if plan.master is not None:
        check_remote_master(plan, plan.master, prepared, console)
    run_dir = new_run_dir(plan.reports_dir)
    run_info = RunInfo(
        command=plan.argv,
        scenarios=[p.scenario.name for p in prepared],
        quick=plan.quick,
        repeat=plan.repeat,
        started_at=time.time(),
        git=git_info(),
        machine=machine_info(),
        status="running",
    )
    if plan.scenario_set is not None:
        run_info.scenario_set = plan.scenario_set.name
        if plan.scenario_set.time_scale is not None and not plan.quick:
            run_info.time_scale = plan.scenario_set.time_scale
        skipped = {
            f"{p.scenario.name} · {design}": why
            for p in prepared
            for design, why in p.skipped.items()
        }
        if skipped:
            run_info.skipped = skipped
    run_info.dump(run_dir / RunInfo.FILE_NAME)
    point_latest(run_dir, plan.reports_dir)
    console.print(f"run directory: {run_dir}")
    for item in prepared:
        for design, why in item.skipped.items():
            console.print(f"skipped: {item.scenario.name} · {design}: {why}")
    broker: Broker | None = None
    total_runs = sum(len(p.designs) for p in prepared) * plan.repeat
    try:
        with (
            terminate_as_interrupt(),
            BenchProgress(
                console, total_runs=total_runs, live_figures=plan.live_figures
            ) as progress,
        ):
            shared = [p for p in prepared if not p.scenario.breaks_the_broker]
            if any(d.manifest.uses_broker for p in shared for d in p.designs):
                console.print("provisioning the broker ...")
                broker = provision_broker(work_dir=run_dir / ".broker")
                console.print(f"broker: {broker.source} ({redact_url(broker.url)})")
            versions: dict[str, str | None] = dict(package_versions())
            if broker is not None:
                versions["rabbitmq"] = rabbitmq_version(broker.url)
            for item in prepared:
                if not item.designs:
                    progress.note(f"{item.scenario.name}: skipped, none of its designs runs it")
                    continue
                for repeat in range(1, plan.repeat + 1):
                    name = item.scenario.name
                    if plan.repeat > 1:
                        name += f".r{repeat}"
                    if not item.scenario.breaks_the_broker:
                        _run_scenario(
                            item, run_dir / name, repeat, plan, broker, versions, progress, run_info
                        )
                        continue
                    # a broker of its own, which the timeline may stop and block
                    progress.note(f"{name}: starting a private RabbitMQ node (broker faults)")
                    with provision_broker(
                        work_dir=run_dir / name / ".broker", require_owned=True
                    ) as owned:
                        owned_versions = {**versions, "rabbitmq": rabbitmq_version(owned.url)}
                        _run_scenario(
                            item,
                            run_dir / name,
                            repeat,
                            plan,
                            owned,
                            owned_versions,
                            progress,
                            run_info,
                        )
        run_info.status = "complete"
    except KeyboardInterrupt:
        run_info.status = "interrupted"
        console.print(
            "[yellow]interrupted: every process was stopped; what was recorded is kept[/]"
        )
        raise
    except OffloadError:
        run_info.status = "failed"
        raise
    finally:
        if broker is not None:
            broker.close()
        run_info.ended_at = time.time()
        run_info.dump(run_dir / RunInfo.FILE_NAME)
    return run_dir


def _run_scenario(
    item: PreparedScenario,
    scenario_dir: Path,
    repeat: int,
    plan: BenchPlan,
    broker: Broker | None,
    versions: dict[str, str | None],
    progress: BenchProgress,
    run_info: RunInfo,
) -> None:
    scenario_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(item.file, scenario_dir / "scenario.yaml")
    manifest = ScenarioManifest(
        scenario_file=str(item.file),
        scenario=ScenarioRecord.model_validate(item.scenario.model_dump(mode="json")),
        repeat=repeat,
        quick=plan.quick,
        phases=[
            PhaseRecord.model_validate(p.model_dump(mode="json")) for p in item.scenario.phases()
        ],
        git=git_info(),
        versions=versions,
        machine=machine_info(),
        broker=BrokerRecord(source=broker.source, owned=broker.owned) if broker else None,
        breaks_the_broker=item.scenario.breaks_the_broker,
        started_at=time.time(),
        designs={},
        invalid_reasons=[],
        warnings=[],
    )
    if item.skipped:
        manifest.skipped_designs = item.skipped
    manifest_path = scenario_dir / ScenarioManifest.FILE_NAME
    manifest.dump(manifest_path)
    # unique per bench, not only per run folder: benches run side by side (the A/B gate) may
    # share a folder name and a broker, and their vhosts and queues must not meet
    run_id = scenario_dir.parent.name.lower().replace("-", "") + secrets.token_hex(2)
    try:
        record_floor(
            manifest, item.scenario, scenario_dir, progress, skip=not plan.floor, quick=plan.quick
        )
        record_stack_floors(
            manifest,
            item.scenario,
            [(d.name, d.manifest, d.config) for d in item.designs if not d.manifest.is_external],
            scenario_dir,
            progress,
            quick=plan.quick,
        )
        manifest.dump(manifest_path)
        for design in item.designs:
            prefix = f"offload.{run_id}.{item.scenario.name}.r{repeat}.{design.name}"
            run_name = f"{run_id}-{item.scenario.name}-r{repeat}-{design.name}"
            result = DesignRunResult()
            if (reason := unprobed(item.scenario, design.manifest, design.name)) is not None:
                manifest.warnings.append(reason)
                manifest.dump(manifest_path)
                progress.note(f"{item.scenario.name}: {reason}")
            try:
                if design.manifest.is_external:
                    run_external_design(
                        scenario=item.scenario,
                        manifest=design.manifest,
                        design_name=design.name,
                        config=design.config,
                        design_dir=scenario_dir / design.name,
                        progress=progress,
                        result=result,
                        load_workers=resolve_load_workers(plan.load_workers, item.scenario),
                        master=plan.master,
                    )
                    continue
                run_design(
                    scenario=item.scenario,
                    manifest=design.manifest,
                    design_name=design.name,
                    config=design.config,
                    design_dir=scenario_dir / design.name,
                    broker=broker,
                    queue_prefix=prefix,
                    progress=progress,
                    result=result,
                    run_name=run_name,
                    load_workers=resolve_load_workers(plan.load_workers, item.scenario),
                    master=plan.master,
                    rendezvous=plan.rendezvous,
                )
            finally:
                if result.entry is not None:
                    manifest.designs[design.name] = result.entry
                manifest.invalid_reasons.extend(result.invalid_reasons)
                manifest.dump(manifest_path)
    except KeyboardInterrupt:
        manifest.invalid_reasons.append("the run was interrupted")
        raise
    finally:
        manifest.ended_at = time.time()
        manifest.dump(manifest_path)
        _summarise(scenario_dir, progress, run_info)


def _summarise(scenario_dir: Path, progress: BenchProgress, run_info: RunInfo) -> None:
    """Compute summary.json; a failure is recorded in run.json (the bench then exits non-zero)
    rather than raised, so that the other scenarios still run and every record stays."""
    try:
        write_summary(scenario_dir)
    except Exception as exc:  # any bug in the analysis: record it, go on
        reason = f"{type(exc).__name__}: {exc}"
        run_info.summary_failures[scenario_dir.name] = reason
        progress.note(f"[red]could not summarise {scenario_dir.name}: {reason}[/]")
