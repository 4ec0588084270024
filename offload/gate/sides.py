"""One side of an A/B gate (base or candidate) and how one of its benches is run.

Each side runs ``offload bench`` as a child process with its own code: the interpreter of its
environment, its tree as the working directory and as ``PYTHONPATH`` — so the base's harness and
targets run, not the installed copy. Both sides get the same scenario files (the candidate's,
copied aside; the base's without their ``gate`` section) and the same broker (``AMQP_URL``).
Side by side, both benches are started at once with one rendezvous folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from offload.errors import GateFailed
from offload.run.rendezvous import CLOSED

BASE, CANDIDATE = "base", "candidate"
#: A = base, B = candidate, in the pair orders the gate prints (AB, BA)
LETTERS = {BASE: "A", CANDIDATE: "B"}

#: checks that the revision can run this gate: the CLI entry point, and a loader that accepts
#: every scenario file (printed by the revision itself when it refuses one)
PREFLIGHT = """
import sys
try:
    from offload.scenario import load_scenario
    import offload.cli
except Exception as exc:
    print(f"no usable offload package ({type(exc).__name__}: {exc})")
    sys.exit(3)
for path in sys.argv[1:]:
    try:
        load_scenario(path)
    except Exception as exc:
        print(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        sys.exit(4)
"""


@dataclass(frozen=True)
class Side:
    """A revision ready to run benches."""

    name: str  # base | candidate
    tree: Path
    python: Path
    label: str  # e.g. "main (3f2a9c1e0b)"

    def environment(self, amqp_url: str | None) -> dict[str, str]:
        env = {**os.environ, "PYTHONPATH": str(self.tree), "PYTHONUNBUFFERED": "1"}
        if amqp_url:
            env["AMQP_URL"] = amqp_url
        return env

    def preflight(self, scenario_files: Sequence[Path]) -> None:
        """Refuse (exit 2) a revision that cannot run the gate's scenario files."""
        if not (self.tree / "offload" / "__init__.py").is_file():
            raise GateFailed(
                f"the {self.name} revision {self.label} has no offload package "
                f"(no offload/__init__.py): it cannot be benchmarked by this gate"
            )
        result = self._run_python("-c", PREFLIGHT, *map(str, scenario_files))
        if result.returncode == 0:
            return
        said = (result.stdout.strip() or result.stderr.strip() or "no message").splitlines()[-1]
        if result.returncode == 4:
            raise GateFailed(
                f"the {self.name} revision {self.label} cannot run the candidate's scenario "
                f"file: {said} — gate against a newer base, or leave the new scenario out "
                "(--scenario FILE)"
            )
        raise GateFailed(f"the {self.name} revision {self.label} cannot run the gate: {said}")

    def can_run_side_by_side(self) -> bool:
        """Whether this revision's bench can start its load together with another's
        (``offload bench --rendezvous``, added after the A/B gate itself)."""
        result = self._run_python("-m", "offload.cli", "bench", "--help")
        return result.returncode == 0 and "--rendezvous" in result.stdout

    def _run_python(self, *args: str) -> subprocess.CompletedProcess[str]:
        """This revision's interpreter on its own tree, its output captured (bounded)."""
        return subprocess.run(
            [str(self.python), *args],
            cwd=self.tree,
            env=self.environment(None),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def start_bench(
        self,
        scenario_files: Sequence[Path],
        reports_dir: Path,
        *,
        quick: bool,
        amqp_url: str | None,
        log: Path,
        rendezvous: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start one bench, its output going to ``log``; with ``rendezvous``, each of its
        designs' load starts together with the other side's bench given the same folder."""
        command = [str(self.python), "-m", "offload.cli", "bench", "--no-report"]
        command += ["--reports-dir", str(reports_dir)]
        for file in scenario_files:
            command += ["--scenario", str(file)]
        if quick:
            command.append("--quick")
        if rendezvous is not None:
            command += ["--rendezvous", str(rendezvous)]
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as out:
            return subprocess.Popen(
                command,
                cwd=self.tree,
                env=self.environment(amqp_url),
                stdout=out,
                stderr=subprocess.STDOUT,
            )


def wait_for_benches(
    processes: Sequence[subprocess.Popen[bytes]], rendezvous: Path | None = None
) -> list[int]:
    """Every bench's exit code. A bench that fails outright (not 0, nor 1 for an invalid run)
    stops the others: side by side, they would wait for it at every design's start. Once one
    has ended, ``rendezvous`` is closed, so no other waits for it there. At Ctrl-C (which
    reaches the children too) or SIGTERM (a CI cancel, which reached only us), each still
    running is interrupted and reaped first."""
    closed = False
    try:
        while any(process.poll() is None for process in processes):
            if (
                rendezvous is not None
                and not closed
                and any(p.poll() is not None for p in processes)
            ):
                rendezvous.mkdir(parents=True, exist_ok=True)
                (rendezvous / CLOSED).touch()
                closed = True
            if any(process.poll() not in (None, 0, 1) for process in processes):
                _interrupt(processes)
                break
            time.sleep(0.2)
        return [process.wait() for process in processes]
    except KeyboardInterrupt:
        _interrupt(processes)
        raise


def _interrupt(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_directory(reports_dir: Path) -> Path | None:
    """The run directory a bench made under ``reports_dir`` (None when it made none)."""
    latest = reports_dir / "latest"
    return latest.resolve() if latest.exists() else None
