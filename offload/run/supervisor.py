"""Start, watch and stop the processes of a run so that none outlives it.

Every component runs in its own session (process group): stopping it signals the whole
group, which reaches gunicorn's and uvicorn's worker processes too. Children also get
``PR_SET_PDEATHSIG`` so that even a harness killed with SIGKILL takes its direct children
down with it. Output goes to one log file per component inside the run directory, which is
what keeps a crashed component's last words after the run.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from offload.errors import TargetNotReady

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGTERM this child when the harness dies, whatever kills it."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def check_cpus(cpus: Collection[int]) -> None:
    """Refuse a placement on CPUs this harness may not use, before anything starts."""
    usable = os.sched_getaffinity(0)
    missing = sorted(set(cpus) - usable)
    if missing:
        raise TargetNotReady(
            f"cannot place a process on CPU(s) {missing}: this host lets the harness use "
            f"{sorted(usable)}"
        )


def _child_setup(cpus: Collection[int] | None, die_with_parent: bool) -> Callable[[], None] | None:
    """What the child does between fork and exec: pin itself to ``cpus`` (inherited by every
    process it forks later: gunicorn's and uvicorn's workers) and follow the harness's death."""
    if cpus is None and not die_with_parent:
        return None

    def setup() -> None:  # pragma: no cover - runs in the child between fork and exec
        if cpus is not None:
            os.sched_setaffinity(0, cpus)
        if die_with_parent:
            _die_with_parent()

    return setup


@dataclass(frozen=True, kw_only=True)
class ProcessSpec:
    """What to run for one component: its argv, extra environment and where its log goes."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    log_path: Path | None = None
    #: seconds between SIGTERM and SIGKILL when stopping
    stop_timeout: float = 10.0
    #: CPUs the process and its children are pinned to (placement); None = any
    cpus: frozenset[int] | None = None
    #: it does a bounded job and exits (the load generator, the broker probe): its exit is
    #: never a crash; whoever started it judges how it ended
    ends_by_itself: bool = False


class Supervised:
    """One running component: a process group with a log file."""

    def __init__(self, spec: ProcessSpec) -> None:
        self.spec = spec
        self.process: subprocess.Popen[bytes] | None = None
        #: set when the harness itself stopped or killed the process on purpose
        self.exit_expected = False
        self.started_at: float | None = None
        self._log: BinaryIO | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> Supervised:
        env = {**os.environ, **self.spec.env}
        env.setdefault("PYTHONUNBUFFERED", "1")
        if self.spec.log_path is not None:
            self.spec.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.spec.log_path, "ab")  # noqa: SIM115 - closed in stop()
            stdout: BinaryIO | int = self._log
        else:
            stdout = subprocess.DEVNULL
        if self.spec.cpus is not None:
            check_cpus(self.spec.cpus)
        try:
            self.process = subprocess.Popen(
                list(self.spec.argv),
                env=env,
                cwd=self.spec.cwd,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # PDEATHSIG fires when the *thread* that forked the child exits, so it is only
                # safe from the main thread; a child started from a worker thread (a restart
                # from the fault timeline) relies on the supervisor's group stop instead
                preexec_fn=_child_setup(
                    self.spec.cpus,
                    die_with_parent=threading.current_thread() is threading.main_thread(),
                ),
            )
        except OSError as exc:
            raise TargetNotReady(
                f"cannot start {self.name}: {exc} (command: {self.spec.argv[0]})"
            ) from exc
        self.exit_expected = False
        self.started_at = time.time()
        return self

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait(self, timeout: float) -> bool:
        """Whether the process has exited, waiting at most ``timeout`` seconds: a loop that
        polls a component wakes the moment it ends, not at its next tick."""
        if self.process is None:
            return True
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def wait_for_file(self, path: Path, timeout: float) -> bool:
        """Whether ``path`` appeared while the process lived, waiting at most ``timeout``
        seconds: how the harness hears what a component announces in a file (the t=0 a
        generator or a Locust master fixed). False: it exited first, or stayed silent."""
        deadline = time.monotonic() + timeout
        while not path.exists():
            if self.wait(0.02) or time.monotonic() > deadline:
                return path.exists()
        return True

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to the component's whole process group (ignores a group already gone)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    def kill(self) -> None:
        """SIGKILL the component now, on purpose (a fault, not a crash)."""
        self.exit_expected = True
        self.signal_group(signal.SIGKILL)
        self.wait(5)

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM the group, wait, then SIGKILL whatever is left. Returns the exit code."""
        if self.process is None:
            return None
        self.exit_expected = True
        timeout = self.spec.stop_timeout if timeout is None else timeout
        if self.process.poll() is None:
            self.signal_group(signal.SIGTERM)
            # a process held stopped (an API fault's slow restart) handles SIGTERM only once
            # it runs again
            self.signal_group(signal.SIGCONT)
            self.wait(timeout)
        # the leader may be gone while its workers linger: always sweep the group
        self.signal_group(signal.SIGKILL)
        self.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.process.returncode

    def tail(self, lines: int = 40) -> str:
        """The last lines of the component's log, for error messages — and the first line that
        names an error, which a long traceback (gunicorn's worker boot) pushes out of view."""
        if self.spec.log_path is None or not self.spec.log_path.exists():
            return ""
        text = self.spec.log_path.read_text(errors="replace").splitlines()
        last = text[-lines:]
        first_error = next((line for line in text if "Error" in line or "Exception" in line), None)
        if first_error is not None and first_error not in last:
            last = [f"(first error) {first_error}", "...", *last]
        return "\n".join(last)

    def __repr__(self) -> str:
        state = "alive" if self.alive else f"exited({self.returncode})"
        return f"<Supervised {self.name} pid={self.pid} {state}>"


class Supervisor:
    """Owns every component of a run and stops them all, newest first, however the run ends."""

    def __init__(self) -> None:
        self._components: list[Supervised] = []

    def start(self, spec: ProcessSpec) -> Supervised:
        component = Supervised(spec).start()
        self._components.append(component)
        return component

    def __iter__(self) -> Iterator[Supervised]:
        return iter(list(self._components))

    def get(self, name: str) -> Supervised:
        for component in reversed(self._components):
            if component.name == name:
                return component
        raise KeyError(name)

    def restart(self, name: str) -> Supervised:
        """Start a fresh process from the spec of ``name`` (after a kill fault)."""
        old = self.get(name)
        if old.alive:
            old.stop()
        fresh = Supervised(old.spec).start()
        self._components[self._components.index(old)] = fresh
        return fresh

    def crashed(self) -> list[Supervised]:
        """Components that exited although nobody asked them to, and that were not meant to
        end by themselves."""
        return [
            c
            for c in self._components
            if not c.exit_expected and not c.spec.ends_by_itself and c.returncode is not None
        ]

    def stop_all(self) -> None:
        for component in reversed(self._components):
            component.stop()

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_all()


def python_module(module: str, *args: str) -> list[str]:
    """argv that runs ``python -m module`` with the harness's own interpreter."""
    return [sys.executable, "-m", module, *args]


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while the block runs, so cleanup paths are the same."""

    def _raise(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
