"""The gate on real runs: an unchanged rerun passes, a real slowdown of the async design fails
with the metric named. The "code change" is a copy of the async target whose API sleeps 30 ms
in every signup, dropped in under the same name and path as the unchanged copy, so the
baseline's identity (scenario, targets, config, versions) matches and only the code differs.
The benches run as a user starts them; saving the baseline and gating a run only read run
directories, so they go through the CLI's ``main`` in this process (tests/factories/cli.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from offload import cli
from tests.factories.cli import run_cli
from tests.factories.processes import run_bench

REPO = Path(__file__).resolve().parents[2]

SCENARIO = """
name: gate-probe
targets: ["./async"]
load: {rate: 20/s, arrivals: constant, duration: 4s, warmup: 1s}
provider: {latency: 20ms}
designs: {server_processes: 2, workers: 1}
expect:
  - async.emails.lost == 0
"""

SLOW_APP = '''
"""The async design, with 30 ms added to every signup: a regression for the gate to catch."""

import asyncio

from targets.async_api.app import create_app as create_async_app


def create_app():
    app = create_async_app()

    @app.middleware("http")
    async def slow_signups(request, call_next):
        if request.method == "POST" and request.url.path == "/users":
            await asyncio.sleep(0.030)
        return await call_next(request)

    return app
'''


def experiment(root: Path, *, slowed: bool) -> Path:
    """A scenario and an `./async` target beside it: the reference design, or the slowed one."""
    root.mkdir(parents=True)
    (root / "scenario.yaml").write_text(SCENARIO)
    target = root / "async"
    target.mkdir()
    manifest = (REPO / "targets" / "async_api" / "target.toml").read_text()
    if slowed:
        (target / "slow_app.py").write_text(SLOW_APP)
        manifest = manifest.replace(
            '"targets.async_api.app:create_app",',
            '"slow_app:create_app", "--app-dir", "{target_dir}",',
        )
        assert "slow_app" in manifest
    (target / "target.toml").write_text(manifest)
    return root / "scenario.yaml"


def bench(scenario: Path, reports: Path, repeat: int = 3) -> Path:
    result = run_bench(scenario, reports, "--repeat", str(repeat))
    assert result.returncode == 0, result.stdout + result.stderr
    return (reports / "latest").resolve()


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("gate-probe")
    run_dir = bench(experiment(base / "baseline", slowed=False), base / "reports-baseline")
    file = base / "baseline.json"
    # in this process (reading a run directory starts nothing): what it prints is in the
    # test's captured output should it fail
    assert cli.main(["baseline", "save", str(run_dir), "--to", str(file)]) == 0
    return file


def test_an_unchanged_rerun_passes_the_gate(baseline, tmp_path, capsys):
    run_dir = bench(experiment(tmp_path / "again", slowed=False), tmp_path / "reports")

    result = run_cli(capsys, "gate", str(run_dir), "--baseline", str(baseline))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS" in (run_dir / "gate" / "gate.md").read_text()


def test_a_real_slowdown_fails_the_gate_naming_the_metric(baseline, tmp_path, capsys):
    # one run is enough for a 30 ms slowdown: with fewer than 3 repeats the tolerance decides
    run_dir = bench(experiment(tmp_path / "slowed", slowed=True), tmp_path / "reports", repeat=1)

    result = run_cli(capsys, "gate", str(run_dir), "--baseline", str(baseline))

    assert result.returncode == 1, result.stdout + result.stderr
    junit = (run_dir / "gate" / "junit.xml").read_text()
    assert "designs.async.signup.overall.latency_ms.p50" in junit
    failures = [
        line
        for line in (run_dir / "gate" / "gate.md").read_text().splitlines()
        if line.startswith("- ❌") and "latency_ms" in line
    ]
    assert failures, "gate.md lists no failing latency metric"
