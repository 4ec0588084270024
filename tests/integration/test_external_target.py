"""An external target: the reference async design started by hand (the harness's Stack, as
``offload up --provider-url`` does), then ``offload verify`` and a short ``offload bench``
against a ``kind = "external"`` manifest pointing at it. offload starts only its provider (on
the address the design calls) and the generator; the ledger is read from the design's
database, read only, from the design's ledger endpoint (``GET /ledger``), or not at all
(``ledger = "none"``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from offload.ports import free_port
from offload.provisioning.broker import Broker
from offload.report import render_run
from offload.run.external_ledger import export_run_rows
from offload.run.stack import RunningTarget, Stack
from offload.target.manifest import resolve_target
from tests.factories.cli import run_cli
from tests.factories.processes import TEST_CONFIG, run_bench
from tests.factories.validity import assert_measured

pytestmark = pytest.mark.integration

SCENARIO = """
name: external
load: {{rate: 8/s, arrivals: poisson, duration: 8s, warmup: 1s, bystander_rate: 2/s,
       broker_probe_rate: 5/s}}
client: {{timeout: 5s}}
provider: {{latency: 20ms}}
faults:
  - {{at: 3s, phase: slow, downstream: {{latency: 200ms}}}}
  - {{at: 6s, phase: recovery, downstream: healthy}}
drain: {{timeout: 30s}}
targets: [{target}]
"""


@pytest.fixture(scope="module")
def provider_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def by_hand(
    tmp_path_factory: pytest.TempPathFactory, broker: Broker, provider_port: int
) -> Iterator[RunningTarget]:
    """The async design, started without offload's provider: it calls the one a bench or a
    verify starts on ``provider_port``."""
    with Stack(tmp_path_factory.mktemp("by-hand")) as stack:
        yield stack.start_target(
            resolve_target("async"),
            config=TEST_CONFIG,
            queue_prefix=f"offload.test.external.{uuid.uuid4().hex[:8]}",
            database=stack.provision_database(f"external-{uuid.uuid4().hex[:6]}"),
            broker=broker,
            provider_url=f"http://127.0.0.1:{provider_port}",
        )


def _external(
    directory: Path,
    target: RunningTarget,
    provider_port: int,
    *,
    ledger: bool = True,
    http_ledger: bool = False,
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        'name = "ext"',
        'kind = "external"',
        'jobs_path = "/jobs/{job_id}"',
        "[external]",
        'design = "async"',
        f'url = "{target.url}"',
        'provider = "offload"',
        f'provider_listen = "127.0.0.1:{provider_port}"',
        f'ledger = "{target.database.url if ledger else "none"}"'
        if not http_ledger
        else f'ledger = "{target.url}/ledger"',
    ]
    if ledger and not http_ledger and target.database.schema:
        lines.append(f'ledger_schema = "{target.database.schema}"')
    (directory / "target.toml").write_text("\n".join(lines) + "\n")
    return directory


#: a few seconds of load, no faults: enough signups and jobs to compare two ledgers
SHORT_SCENARIO = """
name: external
load: {{rate: 8/s, arrivals: poisson, duration: 3s, warmup: 1s, bystander_rate: 2/s}}
client: {{timeout: 5s}}
drain: {{timeout: 30s}}
targets: [{target}]
"""


def _bench(tmp_path: Path, manifest_dir: Path, scenario_text: str = SCENARIO) -> tuple[Path, dict]:
    scenario = tmp_path / "external.yaml"
    scenario.write_text(scenario_text.format(target=manifest_dir))
    reports = tmp_path / "reports"
    result = run_bench(scenario, reports)
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = (reports / "latest").resolve()
    return run_dir, json.loads((run_dir / "external" / "summary.json").read_text())


def test_verify_checks_the_contract_of_an_external_target(tmp_path, by_hand, provider_port, capsys):
    manifest_dir = _external(tmp_path / "ext", by_hand, provider_port)
    result = run_cli(capsys, "verify", str(manifest_dir))  # in-process, as in test_verify.py
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ext honours the target contract" in result.stdout
    assert "✓ email" in result.stdout and "✓ jobs table" in result.stdout


def test_a_bench_against_an_external_target_is_valid_and_its_ledger_reconciles(
    tmp_path, by_hand, provider_port
):
    run_dir, summary = _bench(tmp_path, _external(tmp_path / "ext", by_hand, provider_port))
    assert_measured(summary)
    design = summary["designs"]["ext"]
    emails = design["emails"]
    assert emails is not None
    # only this run's users (the database also holds the verify test's): every one is owed
    # an email, and every one got exactly one
    assert emails["owed"] > 0
    assert emails["owed"] == emails["delivered"]
    assert emails["lost"] == emails["duplicates"] == emails["pending"] == 0
    assert emails["owed"] - emails["owed_warmup"] == design["signup"]["overall"]["ok"]
    assert design["consistency"]["acknowledged_but_missing"] == 0
    manifest = json.loads((run_dir / "external" / "manifest.json").read_text())
    entry = manifest["designs"]["ext"]
    assert entry["url"] == by_hand.url and entry["drained"] is True
    assert entry.get("processes", {}) == {}  # offload started none of the target's processes
    faults = [json.loads(line) for line in (run_dir / "external/ext/faults.jsonl").open()]
    assert [f["kind"] for f in faults] == ["downstream", "downstream"]
    # the scenario asks for the broker probe beside the load, which offload cannot run on an
    # external target's broker: the run says so rather than leave a row out in silence
    assert "ext: no broker probe beside its load" in " ".join(summary["warnings"])
    assert "broker_probe" not in design


def test_without_a_ledger_the_email_figures_are_null_and_the_report_says_not_measured(
    tmp_path, by_hand, provider_port
):
    manifest_dir = _external(tmp_path / "ext", by_hand, provider_port, ledger=False)
    run_dir, summary = _bench(tmp_path, manifest_dir)
    design = summary["designs"]["ext"]
    assert design["emails"] is None and design["consistency"] is None
    assert "not measured" in design["tables_missing"]
    assert_measured(summary)  # not measuring the ledger is chosen, not a failure
    assert any("not measured" in w for w in summary["warnings"])
    rendered = render_run(run_dir, pdf=False)
    assert not rendered.failures, rendered.failures
    report = (run_dir / "external" / "report.md").read_text()
    assert "the email figures were not measured" in report


def test_verify_reads_the_ledger_from_the_endpoint(tmp_path, by_hand, provider_port, capsys):
    manifest_dir = _external(tmp_path / "ext", by_hand, provider_port, http_ledger=True)
    result = run_cli(capsys, "verify", str(manifest_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✓ stored" in result.stdout and "✓ jobs table" in result.stdout


def test_an_http_ledger_gives_the_figures_the_database_gives_for_the_same_run(
    tmp_path, by_hand, provider_port
):
    """The run's ledger read from ``GET /ledger`` (and its drain polled there) against the
    same run's rows read from the database: the same users, jobs and transitions."""
    manifest_dir = _external(tmp_path / "ext", by_hand, provider_port, http_ledger=True)
    run_dir, summary = _bench(tmp_path, manifest_dir, SHORT_SCENARIO)
    assert_measured(summary)
    emails = summary["designs"]["ext"]["emails"]
    assert emails["owed"] > 0 and emails["owed"] == emails["delivered"]
    assert emails["lost"] == emails["duplicates"] == emails["pending"] == 0
    entry = json.loads((run_dir / "external" / "manifest.json").read_text())["designs"]["ext"]
    assert entry["drained"] is True and entry["database"]["kind"] == "http ledger endpoint"
    design_dir = run_dir / "external" / "ext"
    queues = pd.read_csv(design_dir / "queues.csv")
    assert (queues["role"] == "backlog").any()  # the sampler read the endpoint's backlog too
    from_database = tmp_path / "from-database"
    from_database.mkdir()
    counts = export_run_rows(
        by_hand.database.url, by_hand.database.schema, from_database, entry["started_at"]
    )
    assert entry["tables"] == counts
    for table, key, columns in [
        ("users", "id", ["id", "correlation_id", "created_at"]),
        ("jobs", "id", ["id", "user_id", "state", "attempts"]),
        ("job_events", "seq", ["seq", "job_id", "state", "attempt", "at"]),
    ]:
        http = pd.read_csv(design_dir / f"{table}.csv").sort_values(key)[columns]
        database = pd.read_csv(from_database / f"{table}.csv").sort_values(key)[columns]
        pd.testing.assert_frame_equal(http.reset_index(drop=True), database.reset_index(drop=True))
