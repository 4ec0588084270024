"""Load workers on other hosts: the harness's side of ``offload bench --master-bind``.

The Locust master runs here with ``--distribute`` (``loadtests.distributed``): it waits for
the workers (``offload load-worker``), sends each its share of the plan, fixes t=0 once all
have joined and writes ``distributed.json`` beside the records; at the end the workers' records
come back into the design's folder. This module starts that master's command line, waits for
t=0 (bounded: a worker that never joins ends the run with a clear error, not a hang), and
reads what the master recorded into the manifest.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from loadtests.multihost import RUN_FILE, DistributedRun, WorkerClock
from offload.errors import OffloadError
from offload.ports import is_loopback
from offload.run.remote import RemoteRefused, refusal_hint
from offload.run.supervisor import Supervised

#: seconds the master waits for every worker to join, and a worker for its master to
#: answer, unless ``--join-timeout`` says otherwise
JOIN_TIMEOUT_S = 60.0
#: Locust's own default master port
DEFAULT_MASTER_PORT = 5557


class WorkersDidNotJoin(OffloadError):
    """The master gave up waiting for its workers (or died first)."""


@dataclass(frozen=True)
class MasterAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        return is_loopback(self.host)


@dataclass(frozen=True)
class RemoteMaster:
    """``--master-bind`` with its join timeout: the master listens here for its workers."""

    bind: MasterAddress
    join_timeout_s: float = JOIN_TIMEOUT_S


def parse_master_address(text: str) -> MasterAddress:
    """``ADDR:PORT`` (``[v6]:PORT`` for IPv6), for ``--master-bind`` and ``--master``."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"expected ADDR:PORT (e.g. 10.0.0.5:5557), got {text!r}")
    try:
        number = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a port number after ':', got {port!r}"
        ) from None
    if not 1 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1-65535, got {number}")
    return MasterAddress(host, number)


def check_master_address(address: MasterAddress, *, allowed: bool, command: str) -> str | None:
    """Refuse a non-loopback master address without ``--allow-remote``; with it, the line
    to print before anything starts (None for loopback)."""
    if address.is_loopback:
        return None
    if not allowed:
        raise RemoteRefused(
            f"refusing the Locust master address {address}: {refusal_hint(command)}"
        )
    return f"remote address: {address} (Locust master)"


def master_options(master: RemoteMaster, workers: int) -> list[str]:
    """The Locust options of a master that waits (bounded) for ``workers`` remote workers."""
    return [
        "--master", "--distribute",
        "--master-bind-host", master.bind.host, "--master-bind-port", str(master.bind.port),
        "--expect-workers", str(workers),
        "--expect-workers-max-wait", str(max(1, round(master.join_timeout_s))),
    ]  # fmt: skip


def wait_for_t0(design_dir: Path, locust: Supervised, master: RemoteMaster) -> float:
    """t=0 as the master fixed it once every worker joined; raises if that does not happen
    within the join timeout (the master then gives up and exits)."""
    path = design_dir / RUN_FILE
    if not locust.wait_for_file(path, master.join_timeout_s + 10):
        locust.stop()
        raise WorkersDidNotJoin(
            f"the load workers did not all join the Locust master at {master.bind} within "
            f"{master.join_timeout_s:g} s (--join-timeout); start `offload load-worker "
            f"--master {master.bind}` on each worker host (see locust/locust.log)"
        )
    return DistributedRun.read(path).t0_epoch


def collect(design_dir: Path, workers: int) -> tuple[list[WorkerClock], list[str]]:
    """What the master recorded of its workers, and why the run is invalid if their records
    did not all come back (the analysis would otherwise count their arrivals as missing)."""
    path = design_dir / RUN_FILE
    if not path.exists():
        return [], [f"{RUN_FILE} is missing: the Locust master never started the load"]
    run = DistributedRun.read(path)
    problems: list[str] = []
    if not run.complete:
        problems.append(f"the Locust master did not finish ({RUN_FILE} incomplete)")
    if len(run.workers) != workers:
        # Locust gives its N users to N of the workers: an extra one's share goes unsent
        problems.append(f"{len(run.workers)} load workers joined, {workers} expected")
    for worker in run.workers:
        if len(worker.records_received) < 2:
            problems.append(
                f"load worker {worker.index} ({worker.client_id}): its records did not all "
                f"come back (received: {', '.join(worker.records_received) or 'none'}"
                f"{'; ' + '; '.join(worker.transfer_errors) if worker.transfer_errors else ''})"
            )
    return run.workers, problems
