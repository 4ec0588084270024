"""Interrupting a bench (Ctrl-C or SIGTERM) stops every process and keeps what was recorded."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

SCENARIO = Path(__file__).parent / "data" / "scenarios" / "e2e-slow.yaml"


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_bench_leaves_no_process_and_keeps_its_records(tmp_path, signum):
    reports = tmp_path / "reports"
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
        assert len(seen) >= 3  # provider, gunicorn master + workers, locust

        bench.send_signal(signum)
        output, _ = bench.communicate(timeout=60)
    finally:
        if bench.poll() is None:
            bench.kill()

    assert bench.returncode == 130, output
    assert "interrupted" in output
    _, alive = psutil.wait_procs(list(seen.values()), timeout=10)
    assert not alive, f"left behind: {[p.pid for p in alive]}"
    run_dir = records.parents[2]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    manifest = json.loads((run_dir / "e2e-slow" / "manifest.json").read_text())
    assert any("interrupted" in reason for reason in manifest["invalid_reasons"])
    kept = records.read_text().splitlines()
    assert len(kept) > 10  # the records written before the interrupt are still there
    summary = json.loads((run_dir / "e2e-slow" / "summary.json").read_text())
    assert summary["valid"] is False
