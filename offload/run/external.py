"""One design under one scenario when offload starts nothing of it: an external target.

The target runs already (a staging system, or a design started by hand with ``offload up``).
offload starts only what it owns — its email provider where the target calls it (``provider
= "offload"``) and the load generator — breaks that provider on the scenario's schedule,
waits for the run's jobs to finish (read only, from the target's database) and copies the
run's rows of the ledger tables into the design's folder — from its database, or from its
ledger endpoint (``ledger = "http(s)://..."``, :mod:`offload.run.http_ledger`), the drain then
polling that endpoint. Without a ledger (``ledger = "none"``, or the target's own provider),
the email figures are recorded as not measured.
What cannot be done to a system offload does not own (kill its workers or its server, break
its broker) is refused before anything starts (:func:`check_external_faults`).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from offload.errors import OffloadError, ScenarioError, TargetNotReady
from offload.ports import is_loopback
from offload.run.design import (
    GENERATOR_LEAD_S,
    DesignRunResult,
    _drain,
    _follow_load,
    collect_remote_workers,
    launch_generator,
    recorded_knobs,
)
from offload.run.external_ledger import ExternalBacklog, export_run_rows
from offload.run.faults import downstream_event
from offload.run.http_ledger import HttpBacklog, export_http_rows
from offload.run.progress import BenchProgress
from offload.run.remote import url_host
from offload.run.remote_workers import RemoteMaster
from offload.run.sampler import Sampler, WatchedProcess
from offload.run.stack import Stack
from offload.run.supervisor import Supervisor
from offload.run.timeline import Timeline, TimelineEvent
from offload.rundir.manifest import DatabaseRecord, DesignEntry, TargetRecord
from offload.scenario import Scenario
from offload.scenario.provider import ProviderProfile
from offload.target.design_config import DesignConfig
from offload.target.manifest import ExternalTarget, TargetManifest

#: what the summary says where an external target's email figures are
NOT_MEASURED_NO_LEDGER = (
    'the email figures were not measured: the external target has ledger = "none"'
)
NOT_MEASURED_NO_PROVIDER = (
    "the email figures were not measured: the external target calls its own provider "
    '(provider = "none"), so offload saw no delivery'
)


def not_measured_reason(external: ExternalTarget) -> str | None:
    """Why an external target's email figures are not measured, or None when they are."""
    if external.provider == "none":
        return NOT_MEASURED_NO_PROVIDER
    if external.ledger == "none":
        return NOT_MEASURED_NO_LEDGER
    return None


def check_external_faults(file: Path, scenario: Scenario, manifest: TargetManifest) -> None:
    """Refuse, before anything starts, what a scenario would do to a system offload does not
    own: worker, API and broker faults always; provider faults and a provider profile other
    than the default when the target calls its own provider."""
    external = manifest.external
    if external is None:
        return
    problems = []
    for index, fault in enumerate(scenario.faults):
        for field, what in (
            ("workers", "kills or resizes the target's workers"),
            ("api", "kills the target's server processes"),
            ("broker", "stops or blocks the broker"),
        ):
            if getattr(fault, field) is not None:
                problems.append(
                    f"{file}: field 'faults[{index}].{field}': {what}, and target "
                    f'{manifest.name} is external (kind = "external"): offload does not own '
                    "its processes; run this scenario against a target offload starts"
                )
        if fault.downstream is not None and external.provider == "none":
            problems.append(
                f"{file}: field 'faults[{index}].downstream': a provider fault, and target "
                f'{manifest.name} calls its own provider (provider = "none"): offload cannot '
                'break it; use provider = "offload" or a scenario without provider faults'
            )
    if external.provider == "none" and scenario.provider != ProviderProfile():
        problems.append(
            f"{file}: field 'provider': a provider profile other than the default, and target "
            f'{manifest.name} calls its own provider (provider = "none"): offload cannot '
            "shape it"
        )
    if problems:
        raise ScenarioError("\n".join(problems))


def remote_hosts_for_generator(external: ExternalTarget) -> list[str]:
    """The API's host when it is not loopback (the caller checked ``--allow-remote``)."""
    host = url_host(external.url)
    return [host] if host and not is_loopback(host) else []


def run_external_design(
    *,
    scenario: Scenario,
    manifest: TargetManifest,
    design_name: str,
    config: DesignConfig,
    design_dir: Path,
    progress: BenchProgress,
    result: DesignRunResult,
    load_workers: int = 1,
    master: RemoteMaster | None = None,
) -> DesignRunResult:
    """Load an external target; ``result`` (the caller's) is filled as the run goes."""
    external = manifest.external
    assert external is not None
    design_dir.mkdir(parents=True, exist_ok=True)
    not_measured = not_measured_reason(external)
    entry = result.entry = DesignEntry(
        target=TargetRecord(
            name=manifest.name,
            kind=manifest.kind,
            concurrency=manifest.concurrency,
            description=manifest.description,
            metadata={**manifest.metadata, "external": "true"},
            directory=str(manifest.directory),
        ),
        kind=manifest.kind,
        config=recorded_knobs(manifest, config),
        url=external.url,
        started_at=time.time(),
    )
    if not_measured is not None:
        entry.ledger_not_measured = not_measured
    elif external.ledger_kind == "http":
        entry.database = DatabaseRecord.model_validate({"kind": "http ledger endpoint"})
    elif external.ledger_kind == "database":
        entry.database = DatabaseRecord.model_validate(
            {"kind": make_url(external.ledger).get_backend_name(), "schema": external.ledger_schema}
        )
    since = entry.started_at
    assert since is not None
    sampler: Sampler | None = None
    timeline: Timeline | None = None
    backlog: ExternalBacklog | HttpBacklog | None = None
    total_s = GENERATOR_LEAD_S + scenario.load.warmup + scenario.load.duration
    progress.start_run(scenario.name, design_name, total_s)
    stack = Stack(design_dir, host=external.provider_host or "127.0.0.1")
    try:
        with stack:
            supervisor = stack.supervisor
            events: list[TimelineEvent] = []
            if external.provider == "offload":
                progress.update(0, f"starting the provider on {external.provider_listen}")
                provider = stack.start_provider(port=external.provider_port)
                provider.admin.set_profile(**scenario.provider.admin_payload())
                phase_at = {p.start_s: p.name for p in scenario.phases()}
                events = [
                    downstream_event(scenario, provider, fault, phase_at.get(fault.at, ""))
                    for fault in scenario.faults
                    if fault.downstream is not None
                ]
            _wait_healthy(external.url + manifest.health_path, timeout=15)
            if manifest.kind == "async" and not_measured is None:
                backlog = _backlog(external, since)
            locust, t0 = launch_generator(
                supervisor, scenario, external.url, manifest.health_path, design_dir,
                load_workers, progress=progress, master=master,
                allowed_remote_hosts=remote_hosts_for_generator(external),
            )  # fmt: skip
            entry.t0_epoch = t0
            entry.load_end_epoch = t0 + scenario.load.duration
            sampler = Sampler(
                samples_path=design_dir / "samples.csv",
                queues_path=design_dir / "queues.csv",
                processes=_watched(supervisor),
                backlog=backlog,
                machine_path=design_dir / "machine.csv",
            ).start()
            timeline = Timeline(events, t0, design_dir / "faults.jsonl").start()
            _follow_load(scenario, supervisor, locust, t0, progress, result, design_dir)
            entry.locust_exit_code = locust.returncode
            if master is not None:
                collect_remote_workers(entry, result, design_name, design_dir, load_workers)
            if backlog is not None and not result.invalid_reasons:
                entry.drain_end_epoch, entry.drained, entry.unfinished_after_drain = _drain(
                    scenario, backlog, progress, total_s
                )
            else:
                entry.drain_end_epoch = time.time()
            timeline.stop()
            entry.timeline_errors = timeline.errors
            result.invalid_reasons.extend(f"{design_name}: {e}" for e in timeline.errors)
            progress.update(total_s, "stopping")
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
        if timeline is not None:
            timeline.stop()
        if sampler is not None:
            sampler.stop()
        if backlog is not None:
            backlog.dispose()
        if not_measured is None and entry.t0_epoch is not None:
            try:
                entry.tables = (
                    export_http_rows(external.ledger, design_dir, since)
                    if external.ledger_kind == "http"
                    else export_run_rows(external.ledger, external.ledger_schema, design_dir, since)
                )
            except Exception as exc:  # any driver error: the summary says the ledger is missing
                entry.tables_error = f"{type(exc).__name__}: {exc}"
                progress.note(
                    f"[red]{scenario.name} · {design_name}: the ledger tables could not be "
                    f"read: {entry.tables_error}[/]"
                )
        entry.ended_at = time.time()
        progress.finish_run(
            "interrupted"
            if result.interrupted
            else ("invalid" if result.invalid_reasons else "done")
        )
    return result


def _backlog(external: ExternalTarget, since: float) -> ExternalBacklog | HttpBacklog:
    """The drain's count of the run's unfinished jobs, read where the ledger is."""
    if external.ledger_kind == "http":
        return HttpBacklog(external.ledger, since)
    return ExternalBacklog(external.ledger, external.ledger_schema, since)


def _wait_healthy(url: str, timeout: float) -> None:
    """The external target must answer its health path before any load is sent."""
    import httpx

    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(timeout=2, trust_env=False) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                response = client.get(url)
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}"
            time.sleep(0.2)
    raise TargetNotReady(
        f"the external target is not healthy: GET {url}: {last} after {timeout:g} s"
    )


def _watched(supervisor: Supervisor) -> list[WatchedProcess]:
    """The processes offload owns in an external run: its provider and the generator."""

    def pids(name: str) -> list[int]:
        with contextlib.suppress(KeyError):
            process = supervisor.get(name)
            if process.alive and process.pid:
                return [process.pid]
        return []

    return [
        WatchedProcess("provider", "provider", lambda: pids("provider")),
        WatchedProcess("generator", "generator", lambda: pids("locust")),
    ]
