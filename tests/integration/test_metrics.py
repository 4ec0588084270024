"""The components' Prometheus metrics, scraped during a real run, agree with the raw records.

One short run of the sync and the async design: the API's 2xx count for ``POST /users`` in
``metrics.csv`` is the number of signups ``requests.csv`` has answered with a 2xx, and the
provider's ``delivered`` count is the ledger's delivered emails. Every declared endpoint was
scraped (API, both workers, provider), and the report's server-vs-client table has a row per
design whose server count is the API's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from offload.analysis.comparison import analyse_scenario
from offload.analysis.records import requests as read_requests
from offload.analysis.server_latency import route_buckets
from offload.run.stack import RunningProvider, RunningTarget, Stack
from offload.rundir.metrics_csv import UP, MetricSample, read_samples
from tests.factories.processes import TEST_CONFIG, launch, run_bench
from tests.factories.validity import assert_measured

SCENARIO = """\
name: metrics-agree
description: a short healthy run of sync and async, to check the scraped counters
targets: [sync, async]
load: {rate: 20/s, duration: 6s, warmup: 1s, bystander_rate: 5/s}
designs: {server_processes: 2, workers: 2, metrics: true}
drain: {timeout: 20s}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    tmp_path = tmp_path_factory.mktemp("metrics")
    scenario = tmp_path / "metrics-agree.yaml"
    scenario.write_text(SCENARIO)
    result = run_bench(scenario, tmp_path / "reports")
    folder = (tmp_path / "reports" / "latest").resolve() / "metrics-agree"
    summary_file = folder / "summary.json"
    assert summary_file.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(summary_file.read_text()), folder


def _last(samples: list[MetricSample], component: str, name: str, **labels: str) -> float:
    """The value at the component's last scrape, summed over the other labels."""
    mine = [s for s in samples if s.component == component and s.name == name]
    assert mine, f"{component} never exposed {name}"
    last_t = max(s.t for s in mine)
    return sum(
        s.value
        for s in mine
        if s.t == last_t and all(s.labels.get(k) == v for k, v in labels.items())
    )


@pytest.mark.parametrize("design", ["sync", "async"])
def test_scraped_counters_agree_with_the_raw_records(run, design):
    summary, folder = run
    assert_measured(summary)
    samples = list(read_samples(folder / design / "metrics.csv"))
    components = {s.component for s in samples}
    expected = {"api", "provider"} | ({"worker-1", "worker-2"} if design == "async" else set())
    assert components == expected
    for component in expected:  # every endpoint answered, at least most of the time
        ups = [s.value for s in samples if s.component == component and s.name == UP]
        assert sum(ups) >= 0.8 * len(ups) and len(ups) >= 5, (component, ups)

    requests = read_requests(folder / design)
    signups = requests[requests["stream"] == "signup"]
    answered_2xx = int(((signups["status"] >= 200) & (signups["status"] < 300)).sum())
    assert answered_2xx > 100
    server_2xx = route_buckets(samples, start=0, status_prefix="2")
    assert server_2xx is not None
    assert int(server_2xx[-1][1]) == answered_2xx

    ledger = summary["designs"][design]["emails"]
    assert ledger["duplicates"] == 0 and ledger["delivered"] == ledger["owed"] > 100
    delivered = _last(samples, "provider", "offload_provider_requests_total", outcome="delivered")
    assert int(delivered) == ledger["delivered"]
    if design == "async":
        jobs = sum(
            _last(samples, w, "offload_jobs_total", outcome="delivered")
            for w in ("worker-1", "worker-2")
        )
        assert int(jobs) == ledger["delivered"]
        confirmed = _last(samples, "api", "offload_publishes_total", outcome="confirmed")
        assert int(confirmed) == answered_2xx


def test_the_report_compares_server_and_client_latency(run):
    _, folder = run
    table: pd.DataFrame = analyse_scenario(folder).tables["server_latency"]
    assert set(table["design"]) == {"sync", "async"}
    for row in table.to_dict("records"):
        # the measured part only: fewer than the whole run's, about the client's answers
        assert 0 < row["server_requests"] <= row["client_answers"] + 25, row
        assert 0 < row["server_p50_ms"] <= row["server_p99_ms"], row
        assert row["client_p50_ms"] > 0, row


@pytest.fixture(scope="module")
def sync_target(stack: Stack, module_provider: RunningProvider) -> RunningTarget:
    """The sync design with its metrics on (they are off by default)."""
    return launch(stack, "sync", config=TEST_CONFIG.model_copy(update={"metrics": True}))


def test_metrics_endpoint_is_served_but_not_documented(sync_target: RunningTarget):
    """``GET /metrics`` answers the exposition on the API's own port, and is in no OpenAPI
    document (so the fuzzer never takes it for an endpoint of the API)."""
    response = httpx.get(f"{sync_target.url}/metrics", timeout=10)
    assert response.status_code == 200
    assert "offload_http_request_duration_seconds_bucket" in response.text
    document = httpx.get(f"{sync_target.url}/openapi.json", timeout=10).json()
    assert "/metrics" not in document["paths"]
    assert set(sync_target.metrics_endpoints) == {"api"}
