"""``offload probe stack``: a design's own server with a bare app, under the real generator.

What a user notices: every signup sent is answered, the server's CPU per signup is there and
plausible, the server that ran is the design's (its process count, its threads), and nothing
of it is left running afterwards.
"""

from __future__ import annotations

import json

import psutil
import pytest

from offload.analysis.cost import stack_shares
from offload.report import render_run
from offload.rundir.stack_floor import StackFloor
from offload.rundir.summary import Summary
from tests.factories.cli import run_cli
from tests.factories.processes import run_bench

pytestmark = pytest.mark.integration


def _stack_floor_processes() -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any("targets.stack_floor" in arg for arg in process.info["cmdline"] or []):
            found.append(process)
    return found


def test_each_server_answers_every_signup_and_is_gone_afterwards(capsys):
    result = run_cli(
        capsys,
        "probe", "stack", "--design", "async", "--design", "sync-threads",
        "--rate", "20", "--duration", "2", "--bystander-rate", "10",
        "--processes", "2", "--threads", "3", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    floors = [StackFloor.model_validate(item) for item in json.loads(result.stdout)]
    assert [(f.design, f.server, f.framework) for f in floors] == [
        ("async", "uvicorn", "FastAPI"),
        ("sync-threads", "gunicorn", "Flask"),
    ]
    for floor in floors:
        # 1 s of warm-up and 2 s measured at 20/s, every one answered, and every read beside
        assert (floor.answered, floor.failed, floor.bystander_rate) == (60, 0, 10)
        assert floor.server_processes == 2
        # a request costs a server some CPU, and far less than a second
        assert floor.cpu_ms_per_signup is not None
        assert 0 < floor.cpu_ms_per_signup < 100
        assert floor.latency_from_sent.p50_ms is not None
    assert floors[0].server_threads is None  # uvicorn runs no request threads
    assert floors[1].server_threads == 3
    assert _stack_floor_processes() == []


def test_the_table_names_each_design_with_its_figure_and_ends_with_the_spread(capsys):
    result = run_cli(
        capsys,
        "probe", "stack", "--design", "sync", "--rate", "20", "--duration", "1",
        "--processes", "1", "--app", "none", "--repeat", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    heading, first, second = lines[1:4]
    assert heading.split()[:3] == ["design", "server", "app"]
    for row in (first, second):
        assert row.split()[:5] == ["sync", "gunicorn", "none", "1", "40"]
    figures = sorted(float(row.split()[5]) for row in (first, second))
    spread = lines[-1]
    assert spread.startswith("  sync (none): ") and spread.endswith(", 2 runs")
    assert f"{figures[0]:.2f}–{figures[1]:.2f}" in spread


def test_a_design_it_cannot_start_alone_is_refused_by_name(capsys):
    result = run_cli(
        capsys, "probe", "stack", "--design", "targets/examples/external-async", "--rate", "5"
    )
    assert result.returncode == 1
    assert "external target" in result.stdout
    assert _stack_floor_processes() == []


def test_an_impossible_process_count_is_refused_before_anything_starts(capsys):
    result = run_cli(capsys, "probe", "stack", "--processes", "500")
    assert result.returncode == 2
    assert "--processes" in result.stdout
    assert "64" in result.stdout


BENCH = """
name: stack-floor
load: {rate: 10/s, arrivals: constant, duration: 3s, warmup: 1s, bystander_rate: 5/s,
       stack_floor: true}
provider: {latency: 10ms}
targets: [sync]
"""


def test_a_bench_that_asks_states_the_servers_cpu_beside_its_stack_alone(tmp_path):
    scenario = tmp_path / "stack-floor.yaml"
    scenario.write_text(BENCH)
    reports = tmp_path / "reports"
    result = run_bench(scenario, reports, "--quick")  # the stack's floor: 3 s instead of 5
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = (reports / "latest").resolve()
    summary = Summary.in_folder(run_dir / "stack-floor")
    floor = summary.stack_floors["sync"]
    # measured before the design, at the scenario's signup rate, on the design's own command
    assert (floor.server, floor.framework, floor.component) == ("gunicorn", "Flask", "sync-api")
    # at the scenario's rates: its signups, and its bystander reads beside them
    assert (floor.rate, floor.bystander_rate, floor.failed) == (10, 5, 0)
    assert floor.answered > 0
    assert (run_dir / "stack-floor" / "stack-floor" / "sync" / "server.log").exists()
    (share,) = stack_shares(summary)
    assert share.server_ms is not None and share.beyond_stack_ms is not None
    # the closing line and the report's Cost section state the same two figures
    assert (
        f"stack-floor · sync: server CPU {share.server_ms:.2f} ms per signup; its stack alone "
        f"(gunicorn, 4 processes, Flask, a bare app on the same command) {share.stack_ms:.2f} "
        "ms per signup"
    ) in " ".join(result.stdout.split())
    rendered = render_run(run_dir, pdf=False)
    assert not rendered.failures, rendered.failures
    report = (run_dir / "stack-floor" / "report.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| sync | gunicorn, 4 pro"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[2:] == [
        f"{share.stack_ms:.2f} ms",
        f"{share.server_ms:.2f} ms",
        f"{share.beyond_stack_ms:+.2f} ms",
    ]
