"""``offload export --format openmetrics``: the report's figures as text Prometheus ingests.

What a user would notice: the exported numbers are the summary's (seconds, not ms), labelled
so that a query can find them; a figure the run could not measure is absent, never a zero; and
a folder that is not a run is refused with the reason.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from offload.report.openmetrics import openmetrics_text
from offload.rundir.summary import Summary
from tests.factories.cli import run_cli

pytestmark = pytest.mark.unit

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "rundir-v1"


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset({"scenario": "rundir-v1", "repeat": "1", **labels}.items())


def _run(tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    shutil.copytree(FIXTURE, run_dir)
    return run_dir


def _edit_summary(run_dir: Path, edit) -> None:
    path = run_dir / "rundir-v1" / "summary.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_the_exported_figures_are_the_summarys_in_seconds_with_their_labels(tmp_path: Path):
    summary = Summary.in_folder(FIXTURE / "rundir-v1")
    samples = _samples(openmetrics_text([summary]))

    signup = summary.designs["async"].signup
    where = {"design": "async", "endpoint": "signup", "phase": "overall"}
    latency = samples[_key("offload_request_latency_seconds", **where, percentile="0.99")]
    assert latency == pytest.approx(signup.overall.latency_ms.p99 / 1000)
    assert samples[_key("offload_requests_total", **where, outcome="ok")] == signup.overall.ok
    slow = {**where, "phase": "slow"}
    assert samples[_key("offload_requests_total", **slow, outcome="ok")] == (
        signup.phases["slow"].ok
    )
    emails = summary.designs["async"].emails
    assert emails is not None
    assert samples[_key("offload_emails", design="async", state="owed")] == emails.owed
    cpu = samples[_key("offload_cpu_seconds_total", design="async", component="async-api")]
    assert cpu == summary.designs["async"].resources["async-api"].cpu_s
    assert samples[_key("offload_run_valid")] == 1.0


def test_what_the_run_could_not_measure_is_absent_not_zero(tmp_path: Path):
    run_dir = _run(tmp_path)

    def unmeasured(data: dict) -> None:
        sync = data["designs"]["sync"]
        sync["emails"] = None  # the tables could not be exported
        sync["signup"]["overall"]["latency_ms"]["unavailable"] = {"p99": "p99 needs ≥ 1,000"}

    _edit_summary(run_dir, unmeasured)
    samples = _samples(openmetrics_text([Summary.in_folder(run_dir / "rundir-v1")]))

    names = {(name, dict(labels).get("design")) for name, labels in samples}
    assert ("offload_emails", "sync") not in names
    assert ("offload_emails", "async") in names
    where = {"design": "sync", "endpoint": "signup", "phase": "overall"}
    assert _key("offload_request_latency_seconds", **where, percentile="0.99") not in samples
    assert _key("offload_request_latency_seconds", **where, percentile="0.5") in samples


def test_the_command_writes_the_file_and_refuses_a_folder_that_is_not_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "run.om"
    result = run_cli(capsys, "export", str(FIXTURE), "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_text().endswith("# EOF\n")

    refused = run_cli(capsys, "export", str(tmp_path))
    assert refused.returncode == 2
    assert "no scenario folder with a manifest.json" in refused.stderr
