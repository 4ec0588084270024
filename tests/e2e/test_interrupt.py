"""Interrupting a bench (Ctrl-C or SIGTERM) stops every process, keeps what was recorded, and
says so: run.json records the interruption, and the gate warns about it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from offload.errors import GateFailed
from offload.gate import GateOptions, evaluate_run

SCENARIO = Path(__file__).resolve().parents[1] / "data" / "scenarios" / "e2e-slow.yaml"


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@dataclass
class Interrupted:
    """A bench of the sync design, interrupted once its load was under way."""

    returncode: int
    output: str
    #: every process the bench started (seen while it ran)
    processes: list[psutil.Process]
    records: Path

    @property
    def run_dir(self) -> Path:
        return self.records.parents[2]


@pytest.fixture(scope="module", params=[signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def interrupted(request: pytest.FixtureRequest, tmp_path_factory) -> Interrupted:
    reports = tmp_path_factory.mktemp("reports")
    bench = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "offload.cli",
            "bench",
            "--scenario",
            str(SCENARIO),
            "--reports-dir",
            str(reports),
            "--no-report",
            "--no-floor",
            "--design",
            "sync",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: dict[int, psutil.Process] = {}
    try:
        deadline = time.monotonic() + 60
        records = None
        while time.monotonic() < deadline:
            for proc in _descendants(bench.pid):
                seen[proc.pid] = proc
            found = list(reports.glob("runs/*/e2e-slow/sync/requests.csv"))
            if found and found[0].stat().st_size > 2000:  # the load is under way
                records = found[0]
                break
            time.sleep(0.2)
        assert records is not None, "the load never started"
        for proc in _descendants(bench.pid):
            seen[proc.pid] = proc
        bench.send_signal(request.param)
        output, _ = bench.communicate(timeout=60)
    finally:
        if bench.poll() is None:
            bench.kill()
    return Interrupted(bench.returncode, output, list(seen.values()), records)


def test_interrupted_bench_leaves_no_process_and_keeps_its_records(interrupted: Interrupted):
    assert interrupted.returncode == 130, interrupted.output
    assert "interrupted" in interrupted.output
    assert len(interrupted.processes) >= 3  # provider, gunicorn master + workers, locust
    _, alive = psutil.wait_procs(interrupted.processes, timeout=10)
    assert not alive, f"left behind: {[p.pid for p in alive]}"
    run_dir = interrupted.run_dir
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    manifest = json.loads((run_dir / "e2e-slow" / "manifest.json").read_text())
    assert any("interrupted" in reason for reason in manifest["invalid_reasons"])
    kept = interrupted.records.read_text().splitlines()
    assert len(kept) > 10  # the records written before the interrupt are still there
    summary = json.loads((run_dir / "e2e-slow" / "summary.json").read_text())
    assert summary["valid"] is False


def test_the_gate_refuses_an_interrupted_run_and_warns_when_told_to_gate_it(
    interrupted: Interrupted,
):
    with pytest.raises(GateFailed, match=r"e2e-slow: .*the run was interrupted"):
        evaluate_run(interrupted.run_dir)
    report = evaluate_run(interrupted.run_dir, GateOptions(allow_invalid=True))
    assert "the run was interrupted: only finished scenarios are gated" in report.warnings
