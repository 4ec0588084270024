"""The stack probe measures a server only once its processes are done starting: one worker
answering the health check does not mean the others have imported the app, and their start-up
is no signup's cost. Real processes; the bound keeps a server that never goes quiet from being
measured at all."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import psutil
import pytest

from offload.errors import OffloadError
from offload.run.stack_floor import wait_until_settled

BURN_THEN_IDLE = (
    "import time\n"
    "start = time.process_time()\n"
    "while time.process_time() - start < 0.8:\n"
    "    pass\n"
    "time.sleep(60)\n"
)
BURN_FOREVER = "while True:\n    pass\n"


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        process.kill()
        process.wait(5)


def test_it_waits_until_the_start_up_work_is_done(started):
    process = subprocess.Popen([sys.executable, "-c", BURN_THEN_IDLE])
    started.append(process)
    tree = psutil.Process(process.pid)
    wait_until_settled(tree, 20, what="the test server")
    times = tree.cpu_times()
    assert times.user + times.system >= 0.8  # its start-up was over before it returned


def test_a_server_that_never_goes_quiet_is_refused(started):
    process = subprocess.Popen([sys.executable, "-c", BURN_FOREVER])
    started.append(process)
    with pytest.raises(OffloadError, match=r"the test server did not go quiet within 1.5s"):
        wait_until_settled(psutil.Process(process.pid), 1.5, what="the test server")
