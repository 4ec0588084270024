"""``offload gate --json``: a CI step reads the verdict from stdout, the table goes to stderr.

A script must get one document on stdout whatever happened: the checks with their verdicts
when the gate ran, and an ERROR document with the reason when it was refused.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.factories.cli import CliResult, run_cli

pytestmark = pytest.mark.unit

V1 = Path(__file__).resolve().parents[1] / "data" / "rundir-v1"


def test_a_passing_gate_prints_its_checks_as_json_and_the_table_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    run_dir = tmp_path / "reports" / "runs" / "20261201T202524Z"
    shutil.copytree(V1, run_dir)
    baseline = tmp_path / "baseline.json"
    saved = run_cli(capsys, "baseline", "save", str(run_dir), "--to", str(baseline))
    assert saved.returncode == 0, saved.stdout + saved.stderr

    result = run_cli(capsys, "gate", str(run_dir), "--baseline", str(baseline), "--json")

    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["status"] == "PASS" and document["exit_code"] == 0
    checks = {check["name"]: check for check in document["checks"]}
    assert checks["async.emails.lost == 0"]["verdict"] == "pass"
    assert checks["async.emails.lost == 0"]["scenario"] == "rundir-v1"
    assert any(check["kind"] == "baseline" for check in document["checks"])
    assert "async.emails.lost == 0" in result.stderr  # the human table, off stdout


def test_a_refused_gate_prints_an_error_document_with_the_reason(
    capsys: pytest.CaptureFixture[str],
):
    result: CliResult = run_cli(capsys, "gate", "--json")
    assert result.returncode == 2
    document = json.loads(result.stdout)
    assert document == {
        "status": "ERROR",
        "exit_code": 2,
        "error": "give a run directory (RUN_DIR --baseline FILE) or a base (--base REF)",
    }


def test_an_interrupted_gate_still_prints_a_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    """Ctrl-C during the gate's runs: the script reading stdout gets an ERROR document, and
    the command exits 130 as an interrupted bench does."""
    from offload.commands import gate

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(gate, "_gate", interrupted)
    result = run_cli(
        capsys, "gate", str(tmp_path), "--baseline", str(tmp_path / "b.json"), "--json"
    )
    assert result.returncode == 130
    document = json.loads(result.stdout)
    assert document == {"status": "ERROR", "exit_code": 130, "error": "interrupted"}
