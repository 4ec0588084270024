"""The 1 Hz sampler: CPU series that never drop when helper processes come and go."""

from __future__ import annotations

import csv
import itertools
import subprocess
import sys
import time

import pandas as pd
import psutil

from offload.analysis.summary import cpu_used
from offload.run.sampler import Sampler, WatchedProcess

# a parent that keeps starting short-lived children that burn CPU, as a broker or gunicorn do
CHURN = """
import subprocess, sys, time
end = time.time() + 4
while time.time() < end:
    subprocess.run([sys.executable, "-c", "x = 0\\nfor i in range(3_000_000): x += i"])
"""


def test_cpu_of_a_component_never_drops_when_its_children_exit(tmp_path, monkeypatch):
    parent = subprocess.Popen([sys.executable, "-c", CHURN])
    # a child that exits between being listed and being read is missing from one sample (as
    # a broker's short-lived helpers are); make that happen often
    real_children = psutil.Process.children
    flip = itertools.cycle([False, True, False])

    def flaky_children(self, recursive=False):
        found = real_children(self, recursive=recursive)
        return [] if self.pid == parent.pid and next(flip) else found

    monkeypatch.setattr(psutil.Process, "children", flaky_children)
    sampler = Sampler(
        samples_path=tmp_path / "samples.csv",
        queues_path=tmp_path / "queues.csv",
        processes=[WatchedProcess("churn", "other", lambda: [parent.pid])],
        interval_s=0.1,
    ).start()
    started = time.monotonic()
    parent.wait(timeout=30)
    wall = time.monotonic() - started
    sampler.stop()

    rows = [r for r in csv.DictReader((tmp_path / "samples.csv").open()) if r["cpu_s"]]
    series = [float(r["cpu_s"]) for r in rows]
    assert len(series) > 10
    assert all(b >= a for a, b in itertools.pairwise(series)), series
    used = cpu_used(pd.Series(series))
    assert 0.5 < used <= wall * 1.05  # one process at a time: at most one core's worth


def test_the_machine_record_counts_a_watched_process_as_the_runs_and_the_rest_as_others(
    tmp_path,
):
    """One spinning process is a component of the run, one is not: the first shows in the
    run's CPU, the second only in the machine's busy time (what other processes used)."""
    spin = [
        sys.executable,
        "-c",
        "import time\nend = time.time() + 3\nwhile time.time() < end: pass",
    ]
    ours, theirs = subprocess.Popen(spin), subprocess.Popen(spin)
    sampler = Sampler(
        samples_path=tmp_path / "samples.csv",
        queues_path=tmp_path / "queues.csv",
        processes=[WatchedProcess("spinner", "other", lambda: [ours.pid])],
        machine_path=tmp_path / "machine.csv",
        interval_s=0.5,
    ).start()
    ours.wait(timeout=30)
    theirs.wait(timeout=30)
    sampler.stop()

    rows = list(csv.DictReader((tmp_path / "machine.csv").open()))
    assert len(rows) >= 5
    last = {key: float(value) for key, value in rows[-1].items()}
    cores = psutil.cpu_count()
    assert last["cores"] == cores
    run_share = last["run_cpu_s"] / last["total_s"]
    other_share = (last["busy_s"] - last["run_cpu_s"]) / last["total_s"]
    # each spinner had up to one core of the machine's; other users of the machine may take
    # some of it, so the bounds are loose: what matters is on which side each one lands
    assert run_share > 0.25 / (cores / 2), rows
    assert other_share > 0.25 / (cores / 2), rows


def test_a_component_watched_from_mid_run_counts_its_cpu_from_its_start(tmp_path):
    """A worker started by a scale-up fault is watched from the next tick: the CPU it used
    before that tick (its imports) is the run's, not another process's."""
    sampler = Sampler(
        samples_path=tmp_path / "samples.csv",
        queues_path=tmp_path / "queues.csv",
        processes=[],
        machine_path=tmp_path / "machine.csv",
        interval_s=0.2,
    ).start()
    time.sleep(0.5)
    spin_then_idle = (
        "import time\nend = time.time() + 1\nwhile time.time() < end: pass\ntime.sleep(2)"
    )
    late = subprocess.Popen([sys.executable, "-c", spin_then_idle])
    time.sleep(1.2)  # it has spun for a second before anyone watches it
    before = psutil.Process(late.pid).cpu_times()
    sampler.watch(WatchedProcess("late-worker", "worker", lambda: [late.pid]))
    late.wait(timeout=30)
    sampler.stop()

    rows = [r for r in csv.DictReader((tmp_path / "samples.csv").open()) if r["cpu_s"]]
    assert rows, "the late component was never sampled"
    counted = max(float(r["cpu_s"]) for r in rows)
    assert counted >= 0.9 * (before.user + before.system) > 0.5, rows
