"""Once a second, record what every component costs and how deep every queue is.

Runs in a thread beside the load. CPU is cumulative seconds used since sampling began (user +
system, accumulated per process of the tree) so analysis can take differences over any window;
RSS is summed over the tree. Queue depths come from passive declares, which are exact (the
management API lags by seconds); the backlog is the number of unfinished jobs in the design's
own table. A broker that is down (a broker fault) leaves gaps, not errors.

Beside them (``machine.csv``), the whole machine's CPU — busy, steal and iowait, summed over
all cores — and the CPU of every process of the run at the same tick (the components, the
harness running this sampler, a local database server), all cumulative from the first
sample: busy minus the run's own is what other processes used, which tells a busy machine
from a saturated load generator (``offload.analysis.noise``).
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pika
import psutil

from offload.provisioning.amqp import blocking_connection
from offload.run.machine_cpu import MachineTimes, machine_times

log = logging.getLogger("offload.run.sampler")


MACHINE_COLUMNS = ["t", "cores", "total_s", "busy_s", "steal_s", "iowait_s", "run_cpu_s"]


@dataclass
class WatchedProcess:
    """A component to sample: its name, role and a way to find its current root pid(s).

    ``tree``: count the roots' descendants too (a server's workers); False for a process
    whose children are sampled as components of their own (the harness).
    """

    component: str
    role: str
    pids: Callable[[], list[int]]
    tree: bool = True


class Sampler:
    def __init__(
        self,
        *,
        samples_path: Path,
        queues_path: Path,
        processes: list[WatchedProcess],
        amqp_url: str | None = None,
        queues: list[tuple[str, str]] | None = None,
        backlog: Callable[[], int] | None = None,
        interval_s: float = 1.0,
        machine_path: Path | None = None,
    ) -> None:
        """``machine_path``: where the machine's CPU goes (none when None). The harness itself
        (this process, without its children) is the run's CPU too, counted in ``run_cpu_s``
        only: it is no component of the design."""
        self.processes = processes
        self._harness = WatchedProcess("(harness)", "harness", lambda: [os.getpid()], tree=False)
        self.amqp_url = amqp_url
        self.queues = queues or []
        self.backlog = backlog
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="offload-sampler", daemon=True)
        self._samples_file: IO[str] = open(samples_path, "w", newline="")  # noqa: SIM115
        self._queues_file: IO[str] = open(queues_path, "w", newline="")  # noqa: SIM115
        self._samples = csv.writer(self._samples_file)
        self._samples.writerow(["t", "component", "role", "processes", "cpu_s", "rss_bytes"])
        self._queue_rows = csv.writer(self._queues_file)
        self._queue_rows.writerow(["t", "queue", "role", "depth"])
        self._machine_file: IO[str] | None = None
        if machine_path is not None:
            self._machine_file = open(machine_path, "w", newline="")  # noqa: SIM115
            csv.writer(self._machine_file).writerow(MACHINE_COLUMNS)
        self._machine_start: MachineTimes | None = None
        self._connection: pika.BlockingConnection | None = None
        self._cache: dict[int, psutil.Process] = {}
        #: component → (pid, start time) → CPU seconds at the last sample
        self._cpu_seen: dict[str, dict[tuple[int, float], float]] = {}
        #: component → CPU seconds used since sampling began
        self._cpu_used: dict[str, float] = {}
        #: every process alive at the first sample, as (pid, start time): one of them counts
        #: only from then, any other process from its start. A set of processes, not a time:
        #: psutil derives start times from the kernel's boot time in whole seconds, so
        #: comparing one with the clock misjudged processes started within a second of the
        #: first sample (a worker started 0.5 s later lost its first second of CPU)
        self._present_at_start: set[tuple[int, float]] | None = None

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def watch(self, process: WatchedProcess) -> None:
        """Sample one more component from the next tick on (a worker started mid-run)."""
        self.processes = [*self.processes, process]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._close_connection()
        self._samples_file.close()
        self._queues_file.close()
        if self._machine_file is not None:
            self._machine_file.close()

    def _run(self) -> None:
        next_tick = time.monotonic()
        while not self._stop.is_set():
            try:
                self.sample_once()
            except Exception:  # never let sampling take the run down
                log.exception("sampling failed")
            next_tick += self.interval_s
            self._stop.wait(max(0.0, next_tick - time.monotonic()))
        with contextlib.suppress(Exception):
            self.sample_once()  # a last sample at the end of the run

    def sample_once(self) -> None:
        now = round(time.time(), 3)
        if self._present_at_start is None:
            self._present_at_start = {
                (proc.pid, proc.info["create_time"])
                for proc in psutil.process_iter(["create_time"])
                if proc.info["create_time"] is not None
            }
        machine = machine_times() if self._machine_file is not None else None
        for watched in self.processes:
            count, cpu, rss = self._tree_usage(watched.component, watched.pids(), watched.tree)
            cpu_cell = round(cpu, 3) if count else ""
            rss_cell = rss if count else ""
            self._samples.writerow(
                [now, watched.component, watched.role, count, cpu_cell, rss_cell]
            )
        self._samples_file.flush()
        if machine is not None and self._machine_file is not None:
            self._write_machine(self._machine_file, now, machine)
        for name, role, depth in self._queue_depths():
            self._queue_rows.writerow([now, name, role, depth])
        if self.backlog is not None:
            with contextlib.suppress(Exception):
                self._queue_rows.writerow([now, "(unfinished jobs)", "backlog", self.backlog()])
        self._queues_file.flush()

    def _write_machine(self, file: IO[str], now: float, machine: MachineTimes) -> None:
        """One ``machine.csv`` row: the machine's counters and the run's CPU, cumulative from
        the first sample (a component that has gone keeps what it used)."""
        harness = self._harness
        self._tree_usage(harness.component, harness.pids(), harness.tree)
        start = self._machine_start = self._machine_start or machine
        run_cpu = sum(self._cpu_used.values())
        row = [
            now,
            machine.cores,
            round(machine.total_s - start.total_s, 3),
            round(machine.busy_s - start.busy_s, 3),
            round(machine.steal_s - start.steal_s, 3),
            round(machine.iowait_s - start.iowait_s, 3),
            round(run_cpu, 3),
        ]
        csv.writer(file).writerow(row)
        file.flush()

    def _tree_usage(
        self, component: str, roots: list[int], tree: bool = True
    ) -> tuple[int, float, int]:
        """Processes, CPU seconds used since sampling began, and RSS of a component's trees.

        CPU is accumulated per process: a process that was running when sampling began counts
        from then (a shared broker's lifetime CPU is not this run's), one started later counts
        from its start — also when its component is watched only from mid-run (a worker
        started by a scale-up fault, whose ~1 s of imports was once counted as "other
        processes" and flagged the machine busy) — and one that exits takes nothing away. So
        the series never drops when helper processes come and go (a broker's short-lived
        children, gunicorn's workers).
        """
        count, rss = 0, 0
        seen = self._cpu_seen.setdefault(component, {})
        present = self._present_at_start
        assert present is not None  # set by sample_once, the only caller
        used = self._cpu_used.setdefault(component, 0.0)
        for pid in roots:
            root = self._process(pid)
            if root is None:
                continue
            try:
                family = [root, *root.children(recursive=True)] if tree else [root]
            except psutil.Error:
                continue
            for proc in family:
                try:
                    with proc.oneshot():
                        times = proc.cpu_times()
                        total = times.user + times.system
                        key = (proc.pid, proc.create_time())
                        rss += proc.memory_info().rss
                except psutil.Error:
                    continue
                count += 1
                previous = seen.get(key)
                if previous is None:
                    previous = total if key in present else 0.0
                used += max(0.0, total - previous)
                seen[key] = total
        self._cpu_used[component] = used
        return count, used, rss

    def _process(self, pid: int) -> psutil.Process | None:
        proc = self._cache.get(pid)
        try:
            if proc is None or not proc.is_running():
                proc = psutil.Process(pid)
                self._cache[pid] = proc
            return proc
        except psutil.Error:
            return None

    def _queue_depths(self) -> list[tuple[str, str, int | str]]:
        if not self.amqp_url or not self.queues:
            return []
        try:
            if self._connection is None or not self._connection.is_open:
                self._connection = blocking_connection(self.amqp_url, timeout=0.8)
            channel = self._connection.channel()
            rows = []
            for name, role in self.queues:
                declared = channel.queue_declare(name, passive=True)
                rows.append((name, role, declared.method.message_count))
            channel.close()
            return rows
        except Exception:
            self._close_connection()
            return [(name, role, "") for name, role in self.queues]

    def _close_connection(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None
