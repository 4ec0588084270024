"""A loop that follows a component (the bench following its load generator) wakes when the
component ends, not at its next tick: ``Supervised.wait`` says whether it has exited, waiting
at most the time given."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from offload.run.supervisor import ProcessSpec, Supervised, Supervisor


def test_wait_returns_when_the_process_ends_not_when_the_timeout_does(tmp_path: Path):
    spec = ProcessSpec(
        name="sleeper",
        argv=[sys.executable, "-c", "import time; time.sleep(0.5)"],
        log_path=tmp_path / "sleeper.log",
    )
    process = Supervised(spec).start()
    try:
        assert process.wait(0.05) is False  # still running: the caller looks again
        started = time.monotonic()
        assert process.wait(30) is True
        assert time.monotonic() - started < 10  # woke at the exit, not after 30 s
        assert process.returncode == 0
    finally:
        process.stop()


def test_a_process_never_started_counts_as_ended(tmp_path: Path):
    spec = ProcessSpec(name="never", argv=[sys.executable, "-c", "pass"])
    assert Supervised(spec).wait(5) is True


def test_a_component_that_ends_by_itself_is_never_a_crash_and_any_other_exit_is(tmp_path: Path):
    """The load generator and the broker probe exit when their job is done, whatever their
    code: the bench judges how they ended. A server or worker that exits was not asked to."""

    def spec(name: str, ends_by_itself: bool) -> ProcessSpec:
        return ProcessSpec(
            name=name,
            argv=[sys.executable, "-c", "raise SystemExit(3)"],
            log_path=tmp_path / f"{name}.log",
            ends_by_itself=ends_by_itself,
        )

    with Supervisor() as supervisor:
        finite = supervisor.start(spec("generator", True))
        server = supervisor.start(spec("server", False))
        assert finite.wait(30) and server.wait(30)
        assert [c.name for c in supervisor.crashed()] == ["server"]
