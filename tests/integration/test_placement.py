"""Component placement: a process entry's ``cpus`` pins that process and every process it
forks (gunicorn's and uvicorn's workers) to those CPUs, and a placement the host cannot honour
is refused before anything starts."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from offload.errors import ManifestError, TargetNotReady
from offload.run.supervisor import ProcessSpec, Supervisor
from offload.target.manifest import load_manifest

#: prints its own CPUs, then those of a child it forks: what a pre-fork server's workers get
REPORT_AFFINITY = (
    "import os, subprocess, sys\n"
    "print(sorted(os.sched_getaffinity(0)))\n"
    "subprocess.run([sys.executable, '-c', 'import os; print(sorted(os.sched_getaffinity(0)))'])\n"
)

SERVER = '[[process]]\nname = "api"\nrole = "server"\ncommand = ["{python}", "-m", "x"]\n'


def run_pinned(tmp_path: Path, cpus: frozenset[int] | None) -> list[str]:
    log = tmp_path / "out.log"
    with Supervisor() as supervisor:
        process = supervisor.start(
            ProcessSpec(
                name="pinned",
                argv=[sys.executable, "-c", REPORT_AFFINITY],
                log_path=log,
                cpus=cpus,
            )
        )
        assert process.process is not None
        process.process.wait(timeout=30)
    return log.read_text().split("\n")[:2]


def test_a_pinned_process_and_the_processes_it_forks_run_only_on_its_cpus(tmp_path: Path) -> None:
    first = min(os.sched_getaffinity(0))
    assert run_pinned(tmp_path, frozenset({first})) == [f"[{first}]", f"[{first}]"]


def test_an_unpinned_process_may_run_on_every_cpu_of_the_host(tmp_path: Path) -> None:
    every = str(sorted(os.sched_getaffinity(0)))
    assert run_pinned(tmp_path, None) == [every, every]


def test_a_placement_on_a_cpu_the_host_lacks_is_refused_naming_the_usable_ones(
    tmp_path: Path,
) -> None:
    missing = max(os.sched_getaffinity(0)) + 1
    with pytest.raises(TargetNotReady, match=rf"CPU\(s\) \[{missing}\]"):
        run_pinned(tmp_path, frozenset({missing}))


def test_a_manifest_places_a_process_entry_by_its_cpus(tmp_path: Path) -> None:
    (tmp_path / "target.toml").write_text(
        'name = "placed"\nkind = "async"\n'
        + SERVER
        + '[[process]]\nname = "worker"\nrole = "worker"\ncommand = ["w"]\ncpus = [1, 0, 1]\n'
    )
    manifest = load_manifest(tmp_path)
    assert manifest.server.cpus is None
    assert [p.cpus for p in manifest.process if p.role == "worker"] == [[0, 1]]


def test_a_manifest_with_a_negative_cpu_is_refused(tmp_path: Path) -> None:
    (tmp_path / "target.toml").write_text(
        'name = "placed"\nkind = "sync"\n' + SERVER.replace('"x"]\n', '"x"]\ncpus = [-1]\n')
    )
    with pytest.raises(ManifestError, match=r"process\.api\.cpus"):
        load_manifest(tmp_path)
