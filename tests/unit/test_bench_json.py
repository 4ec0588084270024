"""``offload bench --json``: a script reads the bench's outcome from stdout.

The document carries each scenario's and design's headline figures exactly as summary.json
(and the report's cost definition) has them, and a bench refused before it ran still prints a
document with the reason and the exit code. The end-to-end check of a real run's stdout is in
tests/e2e/test_bench_ci_output.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from offload.analysis.cost import cost_figures
from offload.run.bench_result import BenchDesignResult, BenchResult
from offload.rundir.summary import Summary

pytestmark = pytest.mark.unit

V1 = Path(__file__).resolve().parents[1] / "data" / "rundir-v1"


def test_the_document_carries_the_summarys_headline_figures():
    folder = V1 / "rundir-v1"
    summary = Summary.in_folder(folder)
    result = BenchResult.of_run(V1, [(folder, summary)], [], 0)

    document = json.loads(result.to_json())
    assert document["schema_version"] == 1 and document["exit_code"] == 0
    assert document["run_dir"] == str(V1) and document["error"] is None
    [scenario] = document["scenarios"]
    assert scenario["scenario"] == "rundir-v1" and scenario["valid"] is True
    assert scenario["folder"] == str(folder)
    assert set(scenario["designs"]) == {"sync", "async"}
    for name, figures in scenario["designs"].items():
        design = summary.designs[name]
        signup = design.signup.overall
        assert figures["signups"] == signup.count and figures["signups_ok"] == signup.ok
        assert figures["signup_p50_ms"] == signup.latency_ms.p50
        assert figures["signup_p99_ms"] == signup.latency_ms.p99
        assert figures["signup_errors"] == signup.errors
        assert figures["signup_timeouts"] == signup.timeouts
        assert design.emails is not None
        assert figures["emails_lost"] == design.emails.lost
        assert figures["emails_duplicates"] == design.emails.duplicates
        cpu = cost_figures(design).cpu_per_1000_signups
        assert cpu is not None and figures["cpu_per_1000_signups_s"] == cpu
    # the document reads back into the same model: a consumer in Python can use it as is
    assert BenchResult.model_validate_json(result.to_json()) == result


def test_a_figure_the_run_has_no_value_for_is_null_not_zero():
    summary = Summary.in_folder(V1 / "rundir-v1")
    design = summary.designs["async"].model_copy(update={"emails": None})
    design.signup.overall.latency_ms.p99 = None
    figures = BenchDesignResult.of(design)
    assert figures.emails_lost is None and figures.emails_duplicates is None
    assert figures.signup_p99_ms is None


def test_an_unknown_field_or_version_is_refused():
    document = json.loads(BenchResult.refused("x", 2).to_json())
    with pytest.raises(ValidationError):
        BenchResult.model_validate({**document, "schema_version": 2})
    with pytest.raises(ValidationError):
        BenchResult.model_validate({**document, "surprise": 1})


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "offload", "bench", "--json", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("--repeat", "0"), "--repeat must be at least 1"),
        (("--scenario", "no-such-scenario"), "no scenario named 'no-such-scenario'"),
    ],
)
def test_a_refused_bench_prints_an_error_document_and_keeps_its_exit_code(args, reason):
    result = _bench(*args)
    assert result.returncode == 2, result.stderr
    document = json.loads(result.stdout)
    assert document["exit_code"] == 2 and document["run_dir"] is None
    assert document["error"].startswith(reason) and document["scenarios"] == []
    assert reason in result.stderr  # the person watching still reads why
