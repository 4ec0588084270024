"""One design under one scenario: start it, load it, break its provider on schedule, drain it,
stop it, and leave its raw records in the design's folder of the run directory.

Whatever happens — a crash, Ctrl-C — every process is stopped (the supervisor's context) and
what was recorded stays: the generator flushes its records every second, the provider's log
is flushed per line, the samplers write as they go, and the tables are exported on the way out.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy.engine import make_url

from loadtests.multihost import START_LEAD_S
from loadtests.selfmeasure import GeneratorStart, generator_start_path
from offload.errors import OffloadError, TargetNotReady
from offload.provisioning.broker import Broker
from offload.provisioning.broker_access import BrokerAccess
from offload.provisioning.database import Database
from offload.run.export import unfinished_jobs_counter
from offload.run.faults import FaultContext, timeline_events
from offload.run.live import LiveWindow
from offload.run.loadplan import build_plan
from offload.run.metrics_scraper import MetricsScraper
from offload.run.probe_beside import finish_probe, start_probe
from offload.run.progress import BenchProgress
from offload.run.remote_workers import RemoteMaster, collect, master_options, wait_for_t0
from offload.run.rendezvous import Rendezvous
from offload.run.sampler import Sampler, WatchedProcess
from offload.run.stack import RunningTarget, Stack, tracing_process_env
from offload.run.supervisor import ProcessSpec, Supervised, Supervisor
from offload.run.timeline import Timeline
from offload.rundir import traces
from offload.rundir.manifest import (
    BrokerAccessRecord,
    DatabaseRecord,
    DesignEntry,
    DesignKnobs,
    TargetRecord,
)
from offload.rundir.metrics_csv import FILE_NAME as METRICS_CSV
from offload.scenario import Scenario
from offload.target.design_config import DesignConfig
from offload.target.manifest import TargetManifest

log = logging.getLogger("offload.run")

LOCUSTFILE = Path(__file__).resolve().parents[2] / "loadtests" / "signup.py"
#: seconds between starting Locust and t=0 of the warm-up where the harness must fix t=0 in
#: advance (processes that start together: a side-by-side rendezvous, ``--processes``; Locust
#: takes ~0.4 s to start on an idle machine, more on a busy one); otherwise the generator fixes
#: it once ready (``GeneratorStart``) and this is only the progress bar's estimate
GENERATOR_LEAD_S = 2.5
#: seconds the harness waits for a generator to announce its t=0 before giving up on it
GENERATOR_START_TIMEOUT_S = 60.0
#: the generator's records, in the design's folder
REQUESTS_CSV = "requests.csv"


class GeneratorDidNotStart(OffloadError):
    """The load generator exited, or stayed silent, before it fixed t=0."""


@dataclass
class DesignRunResult:
    """What the manifest records about one design's run (``entry``: None until it starts)."""

    entry: DesignEntry | None = None
    invalid_reasons: list[str] = field(default_factory=list)
    interrupted: bool = False


def recorded_knobs(manifest: TargetManifest, config: DesignConfig) -> DesignKnobs:
    """The knobs as the run records them: ``server_threads`` only for a target that reads it
    (the other designs' records, and so the gate's identity of their runs, stay as they were
    before the knob existed)."""
    knobs = config.model_dump(mode="json")
    if manifest.uses_placeholder("server_threads"):
        knobs["server_threads"] = config.server_threads
    else:
        knobs.pop("server_threads", None)
    return DesignKnobs.model_validate(knobs)


def run_design(
    *,
    scenario: Scenario,
    manifest: TargetManifest,
    design_name: str,
    config: DesignConfig,
    design_dir: Path,
    broker: Broker | None,
    queue_prefix: str,
    progress: BenchProgress,
    result: DesignRunResult,
    run_name: str = "run",
    load_workers: int = 1,
    master: RemoteMaster | None = None,
    rendezvous: Rendezvous | None = None,
) -> DesignRunResult:
    """Run one design; ``result`` (the caller's) is filled as the run goes, even if it fails.
    With ``rendezvous``, its load starts together with the other benches' (the A/B gate's side
    by side run), met under ``<scenario folder>.<design>``, which every side has alike."""
    design_dir.mkdir(parents=True, exist_ok=True)
    meeting = f"{design_dir.parent.name}.{design_name}"  # the rendezvous key, alike on every side
    entry = result.entry = DesignEntry(
        target=TargetRecord(
            name=manifest.name,
            kind=manifest.kind,
            concurrency=manifest.concurrency,
            description=manifest.description,
            metadata=dict(manifest.metadata),
            directory=str(manifest.directory),
        ),
        kind=manifest.kind,
        config=recorded_knobs(manifest, config),
        queue_prefix=queue_prefix if manifest.uses_broker else None,
        started_at=time.time(),
    )
    stack = Stack(design_dir)
    # the run directory must stand alone: the tables are copied there before the database goes
    database = stack.provision_database(design_name, keep_tables_in=design_dir)
    entry.database = DatabaseRecord.model_validate(
        {"kind": database.kind, "schema": database.schema}
    )
    sampler: Sampler | None = None
    scraper: MetricsScraper | None = None
    timeline: Timeline | None = None
    probe: Supervised | None = None
    backlog = None
    total_s = GENERATOR_LEAD_S + scenario.load.warmup + scenario.load.duration
    progress.start_run(scenario.name, design_name, total_s)
    try:
        with stack:
            supervisor = stack.supervisor
            progress.update(0, "starting the provider and the target")
            provider = stack.start_provider(metrics=config.metrics, tracing=config.tracing)
            provider.admin.set_profile(**scenario.provider.admin_payload())
            access: BrokerAccess | None = None
            if manifest.uses_broker and broker is not None:
                access = stack.open_broker_access(
                    broker, manifest, run_name=run_name, queue_prefix=queue_prefix
                )
                entry.broker_access = BrokerAccessRecord.model_validate(access.describe())
            target = stack.start_target(
                manifest,
                config=config,
                queue_prefix=queue_prefix,
                database=database,
                access=access,
            )
            entry.url = target.url
            entry.processes = {k: len(v) for k, v in target.processes.items()}
            entry.placement = {p.name: p.cpus for p in manifest.process if p.cpus is not None}
            if manifest.kind == "async":
                backlog = unfinished_jobs_counter(database.url, database.schema)

            locust, t0 = launch_generator(
                supervisor, scenario, target.url, target.manifest.health_path, design_dir,
                load_workers, progress=progress, master=master, tracing=config.tracing,
                rendezvous=rendezvous, rendezvous_key=meeting,
            )  # fmt: skip
            entry.t0_epoch = t0
            entry.load_end_epoch = t0 + scenario.load.duration
            if scenario.load.broker_probe_rate and access is not None:  # the design's broker
                probe = start_probe(
                    supervisor, design_dir,
                    amqp_url=access.admin_url,
                    rate=scenario.load.broker_probe_rate, t0_epoch=t0,
                    duration_s=scenario.load.duration,
                )  # fmt: skip
            sampler = Sampler(
                samples_path=design_dir / "samples.csv",
                queues_path=design_dir / "queues.csv",
                processes=[
                    *_watched(supervisor, target, locust, broker),
                    *_database_server(database),
                ],
                amqp_url=access.admin_url if access else None,
                queues=target.queues,
                backlog=backlog,
                machine_path=design_dir / "machine.csv",
            ).start()
            endpoints = dict(target.metrics_endpoints)
            if provider.metrics_url is not None:
                endpoints["provider"] = provider.metrics_url
            if endpoints:
                scraper = MetricsScraper(path=design_dir / METRICS_CSV, endpoints=endpoints).start()
            events = timeline_events(
                FaultContext(scenario, provider, supervisor, target, broker, sampler)
            )
            timeline = Timeline(events, t0, design_dir / "faults.jsonl").start()

            _follow_load(scenario, supervisor, locust, t0, progress, result, design_dir)
            entry.locust_exit_code = locust.returncode
            if probe is not None and (missing := finish_probe(probe, design_dir)) is not None:
                result.invalid_reasons.append(f"{design_name}: {missing}")
            if master is not None:
                collect_remote_workers(entry, result, design_name, design_dir, load_workers)
            if backlog is not None and not result.invalid_reasons:
                entry.drain_end_epoch, entry.drained, entry.unfinished_after_drain = _drain(
                    scenario, backlog, progress, total_s
                )
            else:
                entry.drain_end_epoch = time.time()
            timeline.stop()
            for crashed in supervisor.crashed():
                result.invalid_reasons.append(
                    f"{design_name}: component {crashed.name} exited with code "
                    f"{crashed.returncode} during the run (see {design_name}/logs/)"
                )
            entry.timeline_errors = timeline.errors
            result.invalid_reasons.extend(f"{design_name}: {e}" for e in timeline.errors)
            progress.update(total_s, "stopping")
            if scraper is not None:
                scraper.stop()  # its last scrape holds the final counts: before the stop
            target.stop()
            sampler.stop()
            sampler = None
    except KeyboardInterrupt:
        result.interrupted = True
        result.invalid_reasons.append(f"{design_name}: interrupted before the run completed")
        raise
    except (TargetNotReady, OffloadError) as exc:
        result.invalid_reasons.append(f"{design_name}: {exc}")
        progress.note(f"[red]{scenario.name} · {design_name}: {exc}[/]")
    finally:
        if rendezvous is not None:  # the others need not wait for a design that never loaded
            rendezvous.abandon(meeting)
        if timeline is not None:
            timeline.stop()
        if sampler is not None:
            sampler.stop()
        if scraper is not None:
            scraper.stop()
        if backlog is not None:
            backlog.dispose()
        entry.ended_at = time.time()
        if config.tracing:  # every traced process has stopped: their files are complete
            traces.gather(design_dir)
        if database in stack.kept_tables:
            entry.tables = stack.kept_tables[database]
        if database in stack.tables_not_kept:
            # the summary marks the run invalid and leaves the ledger without a value
            entry.tables_error = stack.tables_not_kept[database]
            progress.note(
                f"[red]{scenario.name} · {design_name}: the database tables could not be "
                f"exported: {entry.tables_error}[/]"
            )
        progress.finish_run(
            "interrupted"
            if result.interrupted
            else ("invalid" if result.invalid_reasons else "done")
        )
    return result


def launch_generator(
    supervisor: Supervisor,
    scenario: Scenario,
    url: str,
    health_path: str,
    design_dir: Path,
    load_workers: int,
    *,
    progress: BenchProgress,
    allowed_remote_hosts: list[str] | None = None,
    master: RemoteMaster | None = None,
    tracing: bool = False,
    rendezvous: Rendezvous | None = None,
    rendezvous_key: str = "",
) -> tuple[Supervised, float]:
    """Start Locust and return it with t=0: fixed by the one open-loop process once it is
    ready (announced in ``requests.start.json``), fixed here ``GENERATOR_LEAD_S`` ahead for
    processes that must start together (several processes, or agreed with the other benches
    at ``rendezvous``; a closed loop too), or by the master once every remote worker joined
    (``master``: ``--master-bind``); with ``tracing``, each signup starts a trace (in processes
    on this machine only: remote workers get no tracing environment)."""
    if master is None and rendezvous is None and load_workers == 1 and scenario.load.mode == "open":
        locust = start_generator(
            supervisor, scenario, url, health_path, design_dir, None, 1,
            allowed_remote_hosts=allowed_remote_hosts, tracing=tracing,
        )  # fmt: skip
        return locust, wait_for_generator_start(design_dir / REQUESTS_CSV, locust)
    if master is None:
        t0 = time.time() + GENERATOR_LEAD_S + scenario.load.warmup
        if rendezvous is not None:
            progress.update(0, "waiting for the other side to start its load together")
            t0 = rendezvous.agree_t0(rendezvous_key, t0)
        locust = start_generator(
            supervisor, scenario, url, health_path, design_dir, t0, load_workers,
            allowed_remote_hosts=allowed_remote_hosts, tracing=tracing,
        )  # fmt: skip
        return locust, t0
    locust = start_generator(
        supervisor, scenario, url, health_path, design_dir, None, load_workers,
        allowed_remote_hosts=allowed_remote_hosts, master=master, tracing=tracing,
    )  # fmt: skip
    progress.update(0, f"waiting for {load_workers} load worker(s) to join at {master.bind}")
    return locust, wait_for_t0(design_dir, locust, master)


def wait_for_generator_start(
    records: Path, locust: Supervised, timeout_s: float = GENERATOR_START_TIMEOUT_S
) -> float:
    """The t=0 the generator writing ``records`` fixed, once it announces it; raises
    :class:`GeneratorDidNotStart` if it exits or stays silent for ``timeout_s`` (stopped)."""
    path = generator_start_path(records)
    if not locust.wait_for_file(path, timeout_s):
        why = f"exited with code {locust.returncode}" if not locust.alive else "is silent"
        locust.stop()
        raise GeneratorDidNotStart(
            f"the load generator {why}: it never fixed t=0 ({path.name} missing after "
            f"{timeout_s:g} s at most; see locust/locust.log):\n{locust.tail(8)}"
        )
    return GeneratorStart.read(path).t0_epoch


def collect_remote_workers(
    entry: DesignEntry, result: DesignRunResult, design_name: str, design_dir: Path, count: int
) -> None:
    """Record each remote worker's clock and share in the manifest; a worker whose records
    did not come back makes the run invalid (its arrivals would look unsent)."""
    entry.remote_workers, problems = collect(design_dir, count)
    result.invalid_reasons.extend(f"{design_name}: {p}" for p in problems)


def start_generator(
    supervisor: Supervisor,
    scenario: Scenario,
    url: str,
    health_path: str,
    design_dir: Path,
    t0: float | None,
    load_workers: int = 1,
    allowed_remote_hosts: list[str] | None = None,
    tracing: bool = False,
    master: RemoteMaster | None = None,
) -> Supervised:
    """Locust, headless, against ``url``: one process, a master with ``load_workers``
    worker processes here that share the schedule (every n-th arrival each, same t=0), or
    (``master``) a master waiting for that many workers on other hosts. ``t0`` None: the one
    process, or the master, fixes t=0 itself. ``allowed_remote_hosts``: the non-loopback
    hosts the user allowed (``--allow-remote``), written into the plan."""
    records = design_dir / REQUESTS_CSV
    plan = build_plan(
        scenario,
        records_path=records,
        t0_epoch=t0,
        worker_count=load_workers,
        health_path=health_path,
    )
    if allowed_remote_hosts:
        plan = plan.model_copy(update={"allowed_remote_hosts": list(allowed_remote_hosts)})
    plan_path = design_dir / "plan.json"
    plan_path.write_text(plan.model_dump_json(indent=2))
    locust_dir = design_dir / "locust"
    locust_dir.mkdir(exist_ok=True)
    # a master's --run-time starts once its workers joined, START_LEAD_S before the warm-up
    lead = START_LEAD_S + scenario.load.warmup if t0 is None else t0 - time.time()
    bound_s = lead + scenario.load.duration + scenario.client.timeout + 15
    users = ["-u", str(load_workers), "-r", str(load_workers)]
    if plan.mode == "closed":
        users = ["--closed-loop", "-u", str(plan.users), "-r", str(plan.users)]
    if master is not None:
        users += master_options(master, load_workers)
    elif load_workers > 1:
        users += ["--processes", str(load_workers)]
    return supervisor.start(
        ProcessSpec(
            name="locust",
            argv=locust_argv(
                url,
                plan_path,
                run_time_s=int(bound_s) + 1,
                users=users,
                extra=["--csv", str(locust_dir / "locust"), "--exit-code-on-error", "0"],
            ),
            log_path=locust_dir / "locust.log",
            stop_timeout=10,
            env=tracing_process_env(design_dir, "generator") if tracing else {},
            ends_by_itself=True,  # at --run-time; _follow_load judges its exit code
        )
    )


def locust_argv(
    host: str, plan_path: Path, *, run_time_s: int, users: list[str], extra: list[str]
) -> list[str]:
    """The Locust command line of a run of the open-loop plan at ``plan_path``: headless,
    bounded by ``run_time_s``, summary only (the records are the plan's own files)."""
    return [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", host,
        *users, "--run-time", f"{run_time_s}s", "--plan", str(plan_path), *extra,
        "--only-summary", "--loglevel", "INFO",
    ]  # fmt: skip


def _follow_load(
    scenario: Scenario,
    supervisor: Supervisor,
    locust: Supervised,
    t0: float,
    progress: BenchProgress,
    result: DesignRunResult,
    design_dir: Path,
) -> None:
    """Show progress (and the live figures) until the generator exits; stop early if a
    component crashes."""
    live = LiveWindow(design_dir) if progress.live_figures else None
    phases = scenario.phases()
    # the bar runs from here (the generator started, t=0 known) to the load's end
    started = time.time()
    total_s = t0 + scenario.load.duration - started
    while locust.alive:
        now = time.time()
        offset = now - t0
        if offset < -scenario.load.warmup:
            detail = "starting the load generator"
        elif offset < 0:
            detail = f"warm-up ({-offset:.1f} s to t=0)"
        else:
            phase = next((p for p in phases if p.start_s <= offset < p.end_s), phases[-1])
            detail = f"phase {phase.name} ({phase.provider})"
            if offset >= scenario.load.duration:
                detail = "finishing requests in flight"
            if live is not None:
                progress.figures(live.figures(now, t0).line())
        progress.update(now - started, detail, total_s)
        crashed = supervisor.crashed()
        if crashed:
            names = ", ".join(f"{c.name} (exit {c.returncode})" for c in crashed)
            progress.note(f"[red]component crashed: {names}; stopping this run[/]")
            locust.stop()
            return
        locust.wait(0.5)
    if locust.returncode not in (0, None):
        result.invalid_reasons.append(
            f"the load generator exited with code {locust.returncode} "
            f"(see locust/locust.log):\n{locust.tail(8)}"
        )


def _drain(
    scenario: Scenario, backlog: Any, progress: BenchProgress, total_s: float
) -> tuple[float, bool, int | None]:
    """Wait (bounded) until every job is delivered or dead-lettered: when the drain ended,
    whether every job finished, and how many were left (None when it could not be counted)."""
    deadline = time.monotonic() + scenario.drain.timeout
    started = time.monotonic()
    left = None
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            left = backlog()
        if left == 0:
            break
        waited = time.monotonic() - started
        progress.update(
            total_s, f"draining: {left if left is not None else '?'} jobs left ({waited:.0f}s)"
        )
        time.sleep(0.5)
    return time.time(), left == 0, left


def _watched(
    supervisor: Supervisor, target: RunningTarget, locust: Supervised, broker: Broker | None
) -> list[WatchedProcess]:
    def pid_of(name: str) -> Callable[[], list[int]]:
        def pids() -> list[int]:
            with contextlib.suppress(KeyError):
                process = supervisor.get(name)
                if process.alive and process.pid:
                    return [process.pid]
            return []

        return pids

    watched = [WatchedProcess("provider", "provider", pid_of("provider"))]
    for entry in target.manifest.process:
        for process in target.processes.get(entry.name, []):
            watched.append(WatchedProcess(process.name, entry.role, pid_of(process.name)))
    watched.append(WatchedProcess("generator", "generator", pid_of(locust.name)))
    if broker is not None and target.manifest.uses_broker:
        broker_pid = _listening_pid(broker.url)
        if broker_pid:
            watched.append(WatchedProcess("broker", "broker", lambda: [broker_pid]))
    return watched


def _database_server(database: Database) -> list[WatchedProcess]:
    """A PostgreSQL server on this machine serves the run's queries: it is a component of the
    design, like the broker, and its CPU is in the design's cost. With SQLite the same work
    runs inside the design's own processes; leaving the server out made a design look about
    0.6 ms per signup cheaper on PostgreSQL than it was. The server is shared, so all of its
    CPU during the run counts, as the broker's does. A remote server uses no CPU here."""
    if database.kind != "postgresql":
        return []
    url = make_url(database.url)
    if url.host not in (None, "", "localhost", "127.0.0.1", "::1"):
        return []
    server = _listening_pid(f"postgresql://{url.host or 'localhost'}:{url.port or 5432}")
    return [WatchedProcess("database", "database", lambda: [server])] if server else []


def _listening_pid(url: str) -> int | None:
    """The pid of the process listening on the port of ``url`` (AMQP unless it names one)."""
    from urllib.parse import urlsplit

    port = urlsplit(url).port or 5672
    with contextlib.suppress(Exception):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                return conn.pid
    return None
