"""Another process's CPU time, read finely enough for a short floor measurement: to well under
a clock tick where the kernel's per-process CPU clock answers, with the threads that have
exited, and the tick-counted figure where it does not. Real processes."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from offload.run import process_cpu
from offload.run.process_cpu import process_cpu_s, tree_cpu_s

#: burns 0.3 s of CPU in a thread that then ends, says so, and waits to be killed
BURN_IN_A_THREAD = (
    "import threading, time\n"
    "def burn():\n"
    "    start = time.thread_time()\n"
    "    while time.thread_time() - start < 0.3:\n"
    "        pass\n"
    "worker = threading.Thread(target=burn)\n"
    "worker.start()\n"
    "worker.join()\n"
    "print('done', flush=True)\n"
    "time.sleep(60)\n"
)


@pytest.fixture
def burnt() -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", BURN_IN_A_THREAD], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "done"
    yield process
    process.kill()
    process.wait(5)


def _burn(seconds: float) -> None:
    start = time.process_time()
    while time.process_time() - start < seconds:
        pass


def test_a_few_milliseconds_of_cpu_are_read_to_well_under_a_clock_tick():
    me = psutil.Process()
    for _ in range(3):  # three tries: another thread of this process may run in between
        before_clock, before = time.process_time(), process_cpu_s(me)
        _burn(0.003)
        used, read = time.process_time() - before_clock, process_cpu_s(me) - before
        if abs(read - used) < 0.001:
            break
    # a tick-counted reading moves by 0 or 10 ms for a 3 ms burn
    assert abs(read - used) < 0.001, (read, used)


def test_the_cpu_of_a_thread_that_has_ended_still_counts(burnt):
    assert process_cpu_s(psutil.Process(burnt.pid)) >= 0.3


def test_without_the_c_librarys_cpu_clock_the_tick_counted_figure_is_used(burnt, monkeypatch):
    monkeypatch.setattr(process_cpu, "_clock_getcpuclockid", lambda: None)
    process = psutil.Process(burnt.pid)
    times = process.cpu_times()

    assert process_cpu_s(process) == times.user + times.system


def test_a_tree_counts_its_children_and_a_process_that_has_gone_raises_as_psutil_does(burnt):
    parent = psutil.Process()
    process = psutil.Process(burnt.pid)
    assert tree_cpu_s(parent) >= process_cpu_s(parent) + 0.3  # the burnt child is in the tree
    burnt.kill()
    burnt.wait(5)

    with pytest.raises(psutil.NoSuchProcess):
        process_cpu_s(process)
