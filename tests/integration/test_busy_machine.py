"""A run on a machine that another process keeps busy says so: ``machine.csv`` records the
other processes' CPU, ``summary.json`` carries it, and a run it invalidates names the busy
machine — not a saturated load generator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.factories.processes import run_bench

SCENARIO = """\
name: busy-machine
description: a short, light run of the sync design, to watch the machine around it
targets: [sync]
load: {rate: 5/s, duration: 7s, warmup: 1s, bystander_rate: 2/s}
designs: {server_processes: 2}
drain: {timeout: 10s}
"""


@contextmanager
def cpu_hog() -> Iterator[None]:
    """One process spinning flat out per core for as long as the block runs: real load."""
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(os.cpu_count() or 1)
    ]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait(timeout=10)


def _bench(tmp_path: Path, name: str) -> tuple[dict[str, Any], Path]:
    scenario = tmp_path / "busy-machine.yaml"
    scenario.write_text(SCENARIO)
    reports = tmp_path / name
    result = run_bench(scenario, reports)
    folder = (reports / "latest").resolve() / "busy-machine"
    summary_file = folder / "summary.json"
    assert summary_file.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(summary_file.read_text()), folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, Any], Path]]:
    tmp_path = tmp_path_factory.mktemp("busy")
    clean = _bench(tmp_path, "clean")
    with cpu_hog():
        busy = _bench(tmp_path, "busy")
    return {"clean": clean, "busy": busy}


def test_the_sampler_records_the_machine_beside_the_run(runs):
    _, folder = runs["clean"]
    rows = (folder / "sync" / "machine.csv").read_text().splitlines()
    assert rows[0] == "t,cores,total_s,busy_s,steal_s,iowait_s,run_cpu_s"
    assert len(rows) > 8  # one a second over start-up, warm-up, load and drain


def test_other_processes_on_a_hogged_machine_are_clearly_above_a_clean_runs(runs):
    clean = runs["clean"][0]["designs"]["sync"]["machine"]
    busy = runs["busy"][0]["designs"]["sync"]["machine"]
    print(f"clean: {clean}\nbusy: {busy}")
    # the hog spins on every core; the run's own processes are light at 5 requests/s
    assert busy["other_processes_share"]["mean"] >= 0.5, busy
    assert busy["other_processes_share"]["mean"] > clean["other_processes_share"]["mean"] + 0.2, (
        clean,
        busy,
    )
    assert busy["busy"] is True


def test_the_hogged_run_names_the_busy_machine_not_a_saturated_generator(runs):
    summary, _ = runs["busy"]
    said = summary["invalid_reasons"] if not summary["valid"] else summary["warnings"]
    print(json.dumps(said, indent=1))
    assert any(r.startswith("sync: the machine was busy: other processes used") for r in said)
    assert not any("saturated" in r for r in summary["invalid_reasons"])
    assert summary["designs"]["sync"]["generator"]["saturated"] is False
