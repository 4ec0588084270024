"""The API dies: SIGKILL a design's server worker processes, as an OOM kill or a segfault would.

The server-role process of every design is a supervisor of its own (gunicorn's arbiter,
uvicorn's ``--workers`` process manager) whose children serve the shared listening socket.
The fault kills N of those children, newest first, and leaves the restart to that supervisor,
as in production. ``restart_after`` models a slow restart (boot time, crash-loop back-off):
the harness holds the server's supervisor with SIGSTOP from just before the kill until
``restart_after`` later and then SIGCONTs it, so the killed capacity stays gone while the
surviving workers keep serving. A server that runs as a single process (no children) is
itself killed and restarted by the harness after ``restart_after``.

The restart event waits (bounded) until the server has its former number of workers again and
records the new pids: a server that does not come back is a timeline error, so the run is
marked invalid rather than silently measured with less capacity.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

from offload.errors import ProvisioningError
from offload.run.stack import RunningTarget, replace_process, wait_healthy
from offload.run.supervisor import Supervised, Supervisor
from offload.run.timeline import TimelineEvent
from offload.scenario import SINGLE_PROCESS_RESTART_S, ApiFault

#: how long the restart event waits for the server to have all its workers (or be healthy) again
RESTART_TIMEOUT_S = 30.0
#: a child of the server that is not one of its workers (uvicorn's spawn start method runs one)
_HELPER_MARKERS = ("multiprocessing.resource_tracker",)


@dataclass
class _Crash:
    """What the kill did, for the restart event that follows it."""

    workers_before: list[int] = field(default_factory=list)
    killed: list[int] = field(default_factory=list)
    held: bool = False


def server_process(target: RunningTarget) -> Supervised:
    """The supervised process of the target's server role (the arbiter, or the server)."""
    return target.processes[target.manifest.server.name][0]


def server_workers(pid: int) -> list[psutil.Process]:
    """The server's live worker processes, newest first (its direct children, minus helpers
    such as multiprocessing's resource tracker and zombies not reaped yet)."""
    workers = []
    try:
        children = psutil.Process(pid).children()
    except psutil.Error:
        return []
    for child in children:
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
            command = " ".join(child.cmdline())
            key = (child.create_time(), child.pid)
        except psutil.Error:
            continue  # gone meanwhile
        if not any(marker in command for marker in _HELPER_MARKERS):
            workers.append((key, child))
    return [child for _key, child in sorted(workers, key=lambda item: item[0], reverse=True)]


def api_events(
    supervisor: Supervisor, target: RunningTarget, at: float, fault: ApiFault, phase: str
) -> list[TimelineEvent]:
    """The kill at ``at`` and the restart after it (at once when no ``restart_after``)."""
    server = server_process(target)
    single = server.pid is None or not server_workers(server.pid)
    delay = fault.restart_after
    if delay is None:
        delay = SINGLE_PROCESS_RESTART_S if single else 0.0
    crash = _Crash()
    payload = {"kill": fault.kill, "restart_after_s": fault.restart_after}
    if single:
        kill = TimelineEvent(
            at_s=at,
            phase=phase,
            kind="api",
            description=f"API server (one process) killed, restarted after {delay:g}s",
            apply=lambda: _kill_single(server),
            payload=payload,
        )
        restart = TimelineEvent(
            at_s=at + delay,
            phase=phase,
            kind="api",
            description="API server restarted by the harness",
            apply=lambda: _restart_single(supervisor, target, server.name),
            payload={"restart": server.name},
        )
        return [kill, restart]
    kill = TimelineEvent(
        at_s=at,
        phase=phase,
        kind="api",
        description=fault.describe(),
        apply=lambda: _kill_workers(
            server, fault.kill, hold=fault.restart_after is not None, crash=crash
        ),
        payload=payload,
    )
    restart = TimelineEvent(
        at_s=at + delay,
        phase=phase,
        kind="api",
        description="the server's supervisor restarts the killed API processes",
        apply=lambda: _resume(server, crash),
        payload={"resume": server.name},
    )
    return [kill, restart]


def _kill_workers(server: Supervised, count: int, *, hold: bool, crash: _Crash) -> dict[str, Any]:
    pid = server.pid
    if pid is None or not server.alive:
        raise ProvisioningError(f"{server.name} is not running: no API process to kill")
    if hold:
        os.kill(pid, signal.SIGSTOP)  # before the kill: it must not replace them at once
        crash.held = True
        _wait_status(pid, psutil.STATUS_STOPPED)
    workers = server_workers(pid)
    crash.workers_before = [w.pid for w in workers]
    victims = workers[:count]
    for victim in victims:
        try:
            victim.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            continue
        crash.killed.append(victim.pid)
    return {
        "server_pid": pid,
        "workers_before": crash.workers_before,
        "killed_pids": crash.killed,
        "held": hold,
    }


def _resume(server: Supervised, crash: _Crash) -> dict[str, Any]:
    pid = server.pid
    if pid is None or not server.alive:
        raise ProvisioningError(f"{server.name} is not running: nothing to restart the API")
    if crash.held:
        os.kill(pid, signal.SIGCONT)
    resumed = time.monotonic()
    deadline = resumed + RESTART_TIMEOUT_S
    workers = server_workers(pid)
    while len(workers) < len(crash.workers_before) and time.monotonic() < deadline:
        time.sleep(0.05)
        workers = server_workers(pid)
    pids = [w.pid for w in workers]
    if len(workers) < len(crash.workers_before):
        raise ProvisioningError(
            f"{server.name} has {len(workers)} of its {len(crash.workers_before)} API processes "
            f"{RESTART_TIMEOUT_S:g}s after the kill's restart (live: {pids})"
        )
    return {
        "server_pid": pid,
        "live_pids": pids,
        "replacements": [p for p in pids if p not in crash.workers_before],
        "replaced_after_s": round(time.monotonic() - resumed, 3),
    }


def _kill_single(server: Supervised) -> dict[str, Any]:
    pid = server.pid
    server.kill()  # marks the exit as expected: a fault, not a crash of the run
    return {"server_pid": pid, "killed_pids": [pid], "held": False}


def _restart_single(supervisor: Supervisor, target: RunningTarget, name: str) -> dict[str, Any]:
    started = time.monotonic()
    fresh = supervisor.restart(name)
    replace_process(target, fresh)
    wait_healthy(target, RESTART_TIMEOUT_S)
    return {"server_pid": fresh.pid, "back_after_s": round(time.monotonic() - started, 3)}


def _wait_status(pid: int, status: str, timeout: float = 2.0) -> None:
    """Wait until the kernel has applied the stop (SIGSTOP is asynchronous)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == status:
                return
        except psutil.Error:
            return
        time.sleep(0.005)
