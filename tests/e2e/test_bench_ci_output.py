"""What a CI log gets from a real ``offload bench --json``: plain lines, and one document.

A CI log is not a terminal. The live view must reach it only as the plain progress line every
10 s (with the running design's figures), never as a redrawn progress bar: no cursor
movements, no carriage returns, no more lines than the run's length allows. The bench runs
with ``FORCE_COLOR=1``, as many CI setups set it for coloured logs: rich then takes the pipe
for a terminal, and before offload.run.progress.draws_live the log got the bar redrawn twice
a second (56 KB of escape sequences for this run). Colours are fine; redrawing is not.
With ``--json`` those lines go to stderr and stdout holds exactly the result document, whose
figures are the run's summary.json. One short bench of the sync design (~25 s).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from offload.run.bench_result import BenchResult
from offload.rundir.manifest import ScenarioManifest
from offload.rundir.summary import Summary
from tests.factories.processes import run_bench

SCENARIO = """\
name: ci-log
description: a short run of the sync design, to read what a CI log gets
targets: [sync]
load: {rate: 10/s, duration: 14s, warmup: 1s, bystander_rate: 2/s}
designs: {server_processes: 2}
drain: {timeout: 20s}
"""
#: switches that say what the output is; the test sets FORCE_COLOR alone, as a CI does
_TERMINAL_OVERRIDES = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")
#: what redraws: cursor up/down/left/right, erase line or screen, hide or show the cursor
_REDRAW = re.compile(r"\x1b\[(?:\d*[ABCDEFGHJK]|\?25[lh])")
#: colours and bold (SGR), which a coloured CI log may have
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
PROGRESS = "[1/1] ci-log · sync: "


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, str, Path]:
    tmp_path = tmp_path_factory.mktemp("ci-log")
    scenario = tmp_path / "ci-log.yaml"
    scenario.write_text(SCENARIO)
    env = {k: v for k, v in os.environ.items() if k not in _TERMINAL_OVERRIDES}
    env["FORCE_COLOR"] = "1"
    result = run_bench(scenario, tmp_path / "reports", "--json", env=env)
    return result.returncode, result.stdout, result.stderr, tmp_path / "reports"


def test_stdout_is_the_result_document_with_the_summarys_figures(bench):
    returncode, stdout, stderr, reports = bench
    assert returncode == 0, stderr[-3000:]
    result = BenchResult.model_validate_json(stdout)  # the whole of stdout, nothing else
    assert result.exit_code == 0 and result.error is None and result.failures == []
    assert result.run_dir == (reports / "latest").resolve()
    [scenario] = result.scenarios
    summary = Summary.in_folder(scenario.folder)
    assert scenario.scenario == "ci-log" and scenario.valid is summary.valid is True
    figures = scenario.designs["sync"]
    signup = summary.designs["sync"].signup.overall
    assert figures.signups == signup.count > 100
    assert figures.signup_p50_ms == signup.latency_ms.p50 is not None
    assert figures.emails_lost == 0 and figures.cpu_per_1000_signups_s is not None


def test_the_ci_log_gets_plain_progress_lines_with_the_live_figures_and_nothing_else(bench):
    returncode, _, stderr, reports = bench
    assert returncode == 0, stderr[-3000:]
    redraws = _REDRAW.findall(stderr)
    assert not redraws, f"{len(redraws)} cursor movements: a live view was drawn into the log"
    assert "\r" not in stderr, "a carriage return: a line was redrawn in the log"
    lines = _COLOUR.sub("", stderr).splitlines()
    progress = [line for line in lines if line.startswith(PROGRESS)]
    assert progress[0].startswith(PROGRESS + "starting (")
    assert progress[-1] == PROGRESS + "done"
    periodic = progress[1:-1]
    manifest = ScenarioManifest.in_folder((reports / "latest" / "ci-log").resolve())
    entry = manifest.designs["sync"]
    assert entry.started_at is not None and entry.ended_at is not None
    # one line every 10 s at most, however often the view was refreshed (twice a second)
    assert 1 <= len(periodic) <= (entry.ended_at - entry.started_at) / 10 + 1, progress
    with_figures = [line for line in periodic if "/s answered" in line]
    assert with_figures, periodic
    assert all("(last 5 s)" in line and "errors" in line for line in with_figures)
