"""A tiny real sweep (2 rates × 1 latency × both designs, 3 s cells, one search run per
design): one run directory with every cell's scenario folder, sweep.json, sweep-summary.json
and the page, and every cell's figures reproduced from its own raw records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from offload.sweep.rundir import SweepRecord, SweepSummary

SWEEP = """
name: e2e-tiny
designs: [sync, async]
rates: [8/s, 24/s]
provider_latencies: [50ms]
knobs: {workers: 1}
cell: {duration: 3s, warmup: 1s, drain: 3s, client_timeout: 3s}
slo: {p99: 200ms, errors: 0.1%}
search: {max_rate: 200/s, max_runs: 1, max_time: 60s, resolution: 2}
"""


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("sweep")
    file = folder / "tiny.yaml"
    file.write_text(SWEEP)
    reports = folder / "reports"
    result = subprocess.run(
        [sys.executable, "-m", "offload.cli", "sweep", str(file), "--reports-dir", str(reports)],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode in (0, 1), output  # 1: a cell invalid on a busy machine
    (run_dir,) = (reports / "runs").glob("*-sweep")
    return run_dir, output


def test_the_sweep_directory_holds_every_cell_and_its_files(sweep_run):
    run_dir, output = sweep_run
    record = SweepRecord.in_folder(run_dir)
    assert record.status == "complete"
    grid = [c for c in record.cells if c.purpose == "grid"]
    assert {(c.design, c.rate, c.latency_s) for c in grid} == {
        (d, r, 0.05) for d in ("sync", "async") for r in (8.0, 24.0)
    }
    for cell in record.cells:
        folder = run_dir / cell.folder
        for name in ("manifest.json", "summary.json", "scenario.yaml"):
            assert (folder / name).stat().st_size > 0, f"{cell.folder}/{name}"
        assert (folder / cell.design / "requests.csv").stat().st_size > 0
        assert cell.load_workers == 1  # auto: one process is enough below 1,000/s
    # the broker probe ran once, against the sweep's broker, before the first cell
    assert record.broker_probe is not None
    assert record.broker_probe.paced.confirm.p99_ms is not None
    assert record.broker_probe.measured_at < min(c.started_at for c in record.cells)
    # each design had its search (at most one run each)
    assert set(record.searches) == {"sync", "async"}
    assert all(
        len([s for s in steps if s.ran]) <= 1
        for s_ in record.searches.values()
        for steps in s_.values()
    )
    assert "sweep page:" in output and "maximum rate under the SLO" in output


def test_the_page_is_written_with_its_charts(sweep_run):
    run_dir, _ = sweep_run
    summary = SweepSummary.in_folder(run_dir)
    html = (run_dir / "sweep.html").read_text()
    markdown = (run_dir / "sweep.md").read_text()
    for text in (
        "Maximum sustainable rate under the SLO",
        "Latency–throughput curves",
        "Crossover map",
        "Broker probe",
    ):
        assert text in html and text in markdown
    assert "data:image/png;base64," in html and "http://" not in html
    for chart in ("curves", "crossover"):
        assert (run_dir / "charts" / f"{chart}.png").stat().st_size > 1000
    assert {(m.design, m.latency_s) for m in summary.max_rates} == {
        ("sync", 0.05),
        ("async", 0.05),
    }
    assert len(summary.crossover) == 2
    assert summary.broker_confirm_p99_ms is not None
    assert (run_dir.parent.parent / "index.html").read_text().count("-sweep/sweep.html") == 1


def test_every_cell_figure_comes_from_its_records(sweep_run):
    """Counts, failed share and p50 recomputed from each cell's requests.csv; the e2e p95 of
    the queue-backed cells from the provider's log; the CPU from samples.csv."""
    run_dir, _ = sweep_run
    summary = SweepSummary.in_folder(run_dir)
    record = SweepRecord.in_folder(run_dir)
    assert {c.folder for c in summary.cells} == {c.folder for c in record.cells}
    for cell in summary.cells:
        design_dir = run_dir / cell.folder / cell.design
        requests = pd.read_csv(design_dir / "requests.csv", dtype={"error_class": str})
        signups = requests[(requests["stream"] == "signup") & (requests["phase"] == "measured")]
        assert cell.signups == len(signups), cell.folder
        failed = signups["error_class"].fillna("") != ""
        assert cell.error_rate == pytest.approx(failed.mean(), abs=1e-6), cell.folder
        latency_ms = ((signups["ended"] - signups["scheduled"]) * 1000).to_numpy()
        p50 = cell.latency["p50"].value
        # the summary's p50 is an HDR histogram's: one of the two middle samples (to 3
        # significant digits), not numpy's midpoint between them, which a few dozen signups
        # can put 0.2 ms away from either
        lowest = np.percentile(latency_ms, 50, method="lower")
        highest = np.percentile(latency_ms, 50, method="higher")
        assert lowest * 0.998 - 0.002 <= p50 <= highest * 1.002 + 0.002, cell.folder
        assert cell.latency["p99"].value is None  # < 1,000 signups: not supported
        assert cell.slo_figure.key == "max"
        assert cell.slo_figure.value == pytest.approx(latency_ms.max(), rel=0.002, abs=0.1)
        expected_verdict = (
            "invalid"
            if not cell.valid
            else "meets"
            if latency_ms.max() <= 200 and failed.mean() <= 0.001
            else "misses"
        )
        assert cell.verdict == expected_verdict, cell.folder
        assert cell.cpu_per_1000 is not None and cell.cpu_per_1000 > 0
        if cell.design == "async":
            assert cell.e2e_p95_ms is not None and cell.e2e_p95_ms > 40  # provider 50 ms
        else:
            assert cell.e2e_p95_ms is None


def test_the_page_can_be_computed_again_from_the_cells(sweep_run):
    run_dir, _ = sweep_run
    before = json.loads((run_dir / "sweep-summary.json").read_text())
    result = subprocess.run(
        [sys.executable, "-m", "offload.cli", "sweep", "--analyse", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    after = json.loads((run_dir / "sweep-summary.json").read_text())
    assert after["cells"] == before["cells"] and after["max_rates"] == before["max_rates"]
