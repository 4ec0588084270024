"""Join a bench on another host as one of its Locust workers.

``offload load-worker --master ADDR:PORT`` runs a Locust worker of offload's locustfile that
connects to the master started by ``offload bench --load-workers N --master-bind ADDR:PORT``.
Everything else comes from the master through Locust's messages: the plan with this worker's
share and t=0, the target's address, and at the end the worker's records go back to the
master's run directory (a copy stays in ``--records-dir``). The master measures this host's
clock offset at join and records it in the run's manifest.

Bounded: without a plan from the master within ``--join-timeout`` seconds (the master never
answered, or not every worker joined in its own time), and at the latest a minute after the
plan's end, the worker is stopped and the command exits 1.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from loadtests.multihost import RECEIVED_PLAN_FILE
from loadtests.plan import PlanError, load_plan
from offload.errors import OffloadError
from offload.run.design import LOCUSTFILE
from offload.run.remote import add_allow_remote_argument
from offload.run.remote_workers import (
    JOIN_TIMEOUT_S,
    MasterAddress,
    check_master_address,
    parse_master_address,
)

#: seconds past the plan's last arrival and client timeout before the worker is stopped: the
#: records' transfer and Locust's shutdown take well under this
END_MARGIN_S = 60.0

console = Console(highlight=False, soft_wrap=True)


class WorkerFailed(OffloadError):
    """The worker never got its plan, outlived its bound, or Locust failed."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--master",
        type=parse_master_address,
        required=True,
        metavar="ADDR:PORT",
        help="the address `offload bench --master-bind` listens on",
    )
    add_allow_remote_argument(parser, lets="let --master be a non-loopback address")
    parser.add_argument(
        "--join-timeout",
        type=float,
        default=JOIN_TIMEOUT_S,
        metavar="S",
        help=f"give up when no plan came from the master within S seconds "
        f"(default {JOIN_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--records-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where this worker keeps its own copy of its records (default: a new temporary "
        "directory)",
    )


def run(args: argparse.Namespace) -> int:
    master: MasterAddress = args.master
    line = check_master_address(master, allowed=args.allow_remote, command="load-worker")
    if line is not None:
        console.print(line)
    folder = args.records_dir or Path(tempfile.mkdtemp(prefix="offload-load-worker-"))
    folder.mkdir(parents=True, exist_ok=True)
    stale = sorted(p.name for p in folder.glob("requests*") if p.is_file())
    if (folder / RECEIVED_PLAN_FILE).exists():
        stale.append(RECEIVED_PLAN_FILE)
    if stale:
        raise WorkerFailed(
            f"--records-dir {folder} holds a previous run's files ({', '.join(stale)}): "
            "records are appended, so give an empty directory"
        )
    argv = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker", "--headless",
        "--master-host", master.host, "--master-port", str(master.port),
        "--records-dir", str(folder), "--loglevel", "INFO",
    ]  # fmt: skip
    console.print(f"joining the Locust master at {master}; records in {folder}")
    process = subprocess.Popen(argv)
    try:
        code = _follow(process, folder, master, args.join_timeout)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    if code != 0:
        raise WorkerFailed(f"the Locust worker exited with code {code} (its log is above)")
    console.print(f"done: records sent to the master, a copy is in {folder}")
    return 0


def _follow(
    process: subprocess.Popen[bytes], folder: Path, master: MasterAddress, join_s: float
) -> int:
    """Wait for the worker, bounded: ``join_s`` for the plan, then the plan's own end."""
    deadline = time.monotonic() + join_s
    plan_file = folder / RECEIVED_PLAN_FILE
    joined = False
    while process.poll() is None:
        if not joined and plan_file.exists():
            try:
                plan = load_plan(plan_file)
            except PlanError:
                time.sleep(0.1)  # being written
                continue
            joined = True
            end_epoch = (plan.t0_epoch or time.time()) + plan.duration_s + plan.timeout_s
            deadline = time.monotonic() + (end_epoch - time.time()) + END_MARGIN_S
        if time.monotonic() > deadline:
            if joined:
                raise WorkerFailed(
                    f"the run outlived its plan by {END_MARGIN_S:g} s: worker stopped"
                )
            raise WorkerFailed(
                f"no plan from the Locust master at {master} within {join_s:g} s "
                "(--join-timeout): it never answered, or not every worker joined in time"
            )
        time.sleep(0.2)
    return process.returncode
