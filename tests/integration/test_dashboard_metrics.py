"""The Grafana dashboard reads only metric names the real components expose.

Every component of the reference designs runs here with its metrics on — the sync API, the
async API and its worker, the outbox API, relay and worker, and the email provider — and
serves a few real signups, so that the series that only exist once something happened
(a publish's outcome, a job's, the provider's answer) are there too. The names the
dashboard's queries read (docs/grafana/offload-reference-designs.json) are then looked up in
what ``GET /metrics`` of each component answers. A name that is misspelled, renamed in
targets/common/metrics.py, or written without the suffix Prometheus stores (``_total``,
``_bucket``) fails this test; tests/unit/test_dashboard_queries.py shows that it would.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from offload.provisioning.broker import Broker
from offload.run.stack import RunningProvider, RunningTarget, Stack
from tests.factories.grafana import SHIPPED_DASHBOARD, exposed_names, missing_metrics
from tests.factories.processes import TEST_CONFIG, launch
from tests.integration.test_async_design import signup, wait_for_state

METERED = TEST_CONFIG.model_copy(update={"metrics": True})
SIGNUPS = 3


@pytest.fixture(scope="module")
def metered_provider(stack: Stack) -> RunningProvider:
    return stack.start_provider(metrics=True)


@pytest.fixture(scope="module")
def designs(stack: Stack, metered_provider: RunningProvider, broker: Broker) -> list[RunningTarget]:
    """Sync, async and outbox with their metrics on, each having delivered a few emails."""
    targets = [
        launch(stack, "sync", config=METERED),
        launch(stack, "async", broker=broker, config=METERED),
        launch(stack, "outbox", broker=broker, config=METERED),
    ]
    for target in targets:
        for _ in range(SIGNUPS):
            response = signup(target.url)
            assert response.status_code in (201, 202), response.text
            if response.status_code == 202:
                wait_for_state(target, response.json()["job_id"], "delivered")
    return targets


def _endpoints(designs: list[RunningTarget], provider: RunningProvider) -> dict[str, str]:
    endpoints = {
        f"{target.name}/{component}": url
        for target in designs
        for component, url in target.metrics_endpoints.items()
    }
    assert provider.metrics_url is not None
    endpoints["provider"] = provider.metrics_url
    return endpoints


def _scrape(endpoints: dict[str, str]) -> set[str]:
    names: set[str] = set()
    for component, url in endpoints.items():
        response = httpx.get(url, timeout=10)
        assert response.status_code == 200, (component, response.status_code)
        names |= exposed_names(response.text)
    return names


def test_every_metric_the_dashboard_reads_is_exposed_by_a_running_component(
    designs: list[RunningTarget], metered_provider: RunningProvider
):
    dashboard = json.loads(SHIPPED_DASHBOARD.read_text())
    endpoints = _endpoints(designs, metered_provider)
    # every process that serves metrics: 3 APIs, 2 workers, the relay, the provider
    assert sorted(endpoints) == [
        "async/api",
        "async/worker-1",
        "outbox/api",
        "outbox/relay",
        "outbox/worker-1",
        "provider",
        "sync/api",
    ]
    # a worker counts a job just after the job's state says delivered: give it a moment
    deadline = time.monotonic() + 10
    while True:
        missing = missing_metrics(dashboard, _scrape(endpoints))
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert missing == {}, f"the dashboard reads names no component exposes: {missing}"
