"""Turn a scenario's fault timeline into actions on the running system.

Provider faults go through the provider's admin API; broker faults through the broker's
control (only on a broker offload owns — the scenario is refused otherwise, before it starts);
worker faults through the supervisor: SIGKILL (a crash, optionally restarted later) or a
resize of the worker pool (extra workers get SIGTERM and finish the jobs they hold). API
faults (:mod:`offload.run.api_crash`) SIGKILL the server's worker processes and let the
server's own supervisor restart them.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from functools import partial
from typing import Any

from offload.errors import ProvisioningError
from offload.provisioning.broker import Broker
from offload.run.api_crash import api_events
from offload.run.sampler import Sampler, WatchedProcess
from offload.run.stack import RunningProvider, RunningTarget, replace_process
from offload.run.supervisor import ProcessSpec, Supervised, Supervisor
from offload.run.timeline import TimelineEvent
from offload.scenario import FaultEvent, Scenario


@dataclass
class FaultContext:
    scenario: Scenario
    provider: RunningProvider
    supervisor: Supervisor
    target: RunningTarget
    broker: Broker | None
    sampler: Sampler | None = None


def timeline_events(ctx: FaultContext) -> list[TimelineEvent]:
    scenario = ctx.scenario
    phase_at = {p.start_s: p.name for p in scenario.phases()}
    events: list[TimelineEvent] = []
    for fault in scenario.faults:
        phase = phase_at.get(fault.at, "")
        if fault.downstream is not None:
            events.append(downstream_event(scenario, ctx.provider, fault, phase))
        if fault.broker is not None:
            events.append(_broker_event(ctx, fault, phase))
        if fault.workers is not None:
            events.extend(_worker_events(ctx, fault, phase))
        if fault.api is not None:
            events.extend(api_events(ctx.supervisor, ctx.target, fault.at, fault.api, phase))
    return events


def downstream_event(
    scenario: Scenario, provider: RunningProvider, fault: FaultEvent, phase: str
) -> TimelineEvent:
    """A provider fault: the provider's new profile, through its admin API."""
    assert fault.downstream is not None
    profile = fault.downstream.applied_to(scenario.provider)
    payload = profile.admin_payload()
    return TimelineEvent(
        at_s=fault.at,
        phase=phase,
        kind="downstream",
        description=f"provider: {profile.describe()}",
        apply=partial(provider.admin.set_profile, **payload),
        payload=payload,
    )


def _broker_event(ctx: FaultContext, fault: FaultEvent, phase: str) -> TimelineEvent:
    action = fault.broker
    if ctx.target.manifest.kind == "sync" and not ctx.target.manifest.uses_broker:
        # the sync design has no broker: the fault happens, it just does not concern it
        return TimelineEvent(
            at_s=fault.at,
            phase=phase,
            kind="broker",
            description=f"broker {action} (not used)",
            apply=lambda: {"skipped": "this design uses no broker"},
            payload={"action": action},
        )
    control = ctx.broker.control if ctx.broker else None
    if control is None or not control.owned:
        raise ProvisioningError(
            f"scenario {ctx.scenario.name} takes the broker {action}, but this broker is not "
            "one offload started; unset AMQP_URL so that offload starts a private node"
        )
    assert action is not None  # _broker_event is called for broker faults only
    change = {
        "down": control.stop_app,
        "up": control.start_app,
        "blocked": control.block,
        "unblocked": control.unblock,
    }[action]

    def apply() -> dict[str, str]:
        change()
        return {"action": action}

    return TimelineEvent(
        at_s=fault.at,
        phase=phase,
        kind="broker",
        description=f"broker {action}",
        apply=apply,
        payload={"action": action},
    )


def _worker_events(ctx: FaultContext, fault: FaultEvent, phase: str) -> list[TimelineEvent]:
    workers = fault.workers
    assert workers is not None
    if workers.kill is not None:
        killed: list[str] = []
        events = [
            TimelineEvent(
                at_s=fault.at,
                phase=phase,
                kind="workers",
                description=workers.describe(),
                apply=lambda: _kill(ctx, workers.kill or 0, killed),
                payload={"kill": workers.kill, "restart_after_s": workers.restart_after},
            )
        ]
        if workers.restart_after is not None:
            events.append(
                TimelineEvent(
                    at_s=fault.at + workers.restart_after,
                    phase=phase,
                    kind="workers",
                    description=f"restart {workers.kill} killed worker(s)",
                    apply=lambda: _restart(ctx, killed),
                    payload={"restart": workers.kill},
                )
            )
        return events
    return [
        TimelineEvent(
            at_s=fault.at,
            phase=phase,
            kind="workers",
            description=workers.describe(),
            apply=lambda: _scale(ctx, workers.scale or 0),
            payload={"scale": workers.scale},
        )
    ]


def _alive_workers(target: RunningTarget) -> list[Supervised]:
    return [w for w in target.workers() if w.alive]


def _kill(ctx: FaultContext, count: int, killed: list[str]) -> dict[str, Any]:
    victims = _alive_workers(ctx.target)[-count:]
    for worker in victims:
        worker.kill()
        killed.append(worker.name)
    return {"killed": [w.name for w in victims], "pids": [w.pid for w in victims]}


def _restart(ctx: FaultContext, names: list[str]) -> dict[str, Any]:
    started = []
    for name in names:
        fresh = ctx.supervisor.restart(name)
        replace_process(ctx.target, fresh)
        started.append({"name": name, "pid": fresh.pid})
    return {"restarted": started}


def _scale(ctx: FaultContext, wanted: int) -> dict[str, Any]:
    target = ctx.target
    entry = next(p for p in target.manifest.process if p.role == "worker")
    group = target.processes.setdefault(entry.name, [])
    alive = [w for w in group if w.alive]
    started: list[str] = []
    stopped: list[str] = []
    if wanted < len(alive):
        for worker in alive[wanted:]:
            worker.exit_expected = True
            worker.signal_group(signal.SIGTERM)  # finishes the jobs it holds, then exits
            stopped.append(worker.name)
    template = group[0].spec if group else None
    if template is None:
        if wanted > len(alive):
            raise ProvisioningError(f"target {target.name} has no worker to copy for scaling")
        return {"started": started, "stopped": stopped, "workers": wanted}
    next_index = len(group) + 1
    while len(alive) + len(started) < wanted:
        name = f"{target.name}-{entry.name}-{next_index}"
        spec = ProcessSpec(
            name=name,
            argv=template.argv,
            env=template.env,
            cwd=template.cwd,
            log_path=template.log_path.with_name(f"{name}.log") if template.log_path else None,
            stop_timeout=template.stop_timeout,
            cpus=template.cpus,
        )
        fresh = ctx.supervisor.start(spec)
        group.append(fresh)
        if ctx.sampler is not None:
            ctx.sampler.watch(WatchedProcess(name, "worker", partial(_live_pid, fresh)))
        started.append(name)
        next_index += 1
    return {"started": started, "stopped": stopped, "workers": wanted}


def _live_pid(process: Supervised) -> list[int]:
    """The process's pid while it runs (a worker the timeline started), for the sampler."""
    return [process.pid] if process.alive and process.pid else []
