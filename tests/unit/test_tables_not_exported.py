"""A run whose database tables could not be exported has no email ledger: without the users
table nothing says who was owed an email. Its summary says so (null, not zero), the run is
invalid, and no expectation on the ledger can pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offload.analysis.comparison import analyse_scenario
from offload.analysis.summary import write_summary
from offload.errors import GateFailed
from offload.gate import GateOptions, MissingValue, Verdict, evaluate_expectation, evaluate_run
from offload.report.sections import ledger_table
from offload.run.stack import Stack
from tests.factories.records import build_run

EXPORT_ERROR = "OperationalError: connection to server at 127.0.0.1 refused"


def _without_tables(tmp_path: Path) -> Path:
    """The synthetic run, as if the async design's tables could not be exported."""
    run_dir = build_run(tmp_path, scenario_name="synthetic")
    folder = run_dir / "synthetic"
    for table in ("users", "jobs", "job_events"):
        (folder / "async" / f"{table}.csv").unlink(missing_ok=True)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["designs"]["async"]["tables_error"] = EXPORT_ERROR
    manifest["scenario"]["expect"] = ["async.emails.lost == 0"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    write_summary(folder)
    return run_dir


def test_the_ledger_is_null_and_the_run_invalid(tmp_path):
    run_dir = _without_tables(tmp_path)
    written = json.loads((run_dir / "synthetic" / "summary.json").read_text())
    figures = written["designs"]["async"]

    assert figures["emails"] is None
    assert figures["consistency"] is None
    assert figures["retries"] is None and figures["dead_lettered"] is None
    assert written["valid"] is False
    assert any(
        "async: the database tables could not be exported" in reason and EXPORT_ERROR in reason
        for reason in written["invalid_reasons"]
    )
    assert written["designs"]["sync"]["emails"]["owed"] > 0  # the other design keeps its own


def test_an_expectation_on_the_missing_ledger_never_passes(tmp_path):
    run_dir = _without_tables(tmp_path)
    summary = json.loads((run_dir / "synthetic" / "summary.json").read_text())

    with pytest.raises(MissingValue, match=r"no value for async\.emails\.lost"):
        evaluate_expectation("async.emails.lost == 0", summary)
    with pytest.raises(MissingValue):
        evaluate_expectation("not (async.emails.lost > 0)", summary)

    with pytest.raises(GateFailed, match="tables could not be exported"):
        evaluate_run(run_dir)  # an invalid run is refused
    report = evaluate_run(run_dir, GateOptions(allow_invalid=True))
    [check] = [c for c in report.checks if "emails.lost" in c.name]
    assert check.verdict is not Verdict.PASS
    assert report.exit_code != 0


def test_a_load_that_ran_without_leaving_a_users_table_has_no_ledger_either(tmp_path):
    run_dir = build_run(tmp_path)
    folder = run_dir / "synthetic"
    (folder / "sync" / "users.csv").unlink()

    summary = write_summary(folder)

    assert summary.designs["sync"].emails is None
    assert not summary.valid


def test_the_report_says_n_a_and_why(tmp_path):
    run_dir = _without_tables(tmp_path)

    table = ledger_table(analyse_scenario(run_dir / "synthetic"))

    async_column = [row[2] for row in table.rows]
    assert async_column[0] == f"n/a — tables could not be exported: {EXPORT_ERROR}"
    assert set(async_column[1:]) == {"n/a"}


def test_the_stack_records_why_the_tables_could_not_be_exported(tmp_path, monkeypatch):
    def refuse(database_url: str, schema: str | None, out_dir: Path) -> dict[str, int]:
        raise RuntimeError("the database went away")

    monkeypatch.delenv("DATABASE_URL", raising=False)  # an SQLite file in tmp_path
    monkeypatch.setattr("offload.run.stack.export_tables", refuse)
    with Stack(tmp_path / "work") as stack:
        database = stack.provision_database("async", keep_tables_in=tmp_path)

    assert stack.tables_not_kept[database] == "RuntimeError: the database went away"
    assert database not in stack.kept_tables
