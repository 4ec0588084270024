"""Shared fixtures: a real broker, the real provider and real design processes on free ports.

Module-scoped where starting is slow (servers take ~1-2 s), so a test module pays for its stack
once; tests that change the provider's fault profile restore it through ``provider``.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from offload.provisioning.broker import Broker, provision_broker
from offload.provisioning.database import Database
from offload.run.stack import RunningProvider, RunningTarget, Stack
from offload.run.supervisor import Supervisor
from offload.target.design_config import DesignConfig
from offload.target.manifest import TargetManifest, resolve_target
from targets.downstream.log import read_log

#: fast retries so that retry and dead-letter tests take seconds
TEST_CONFIG = DesignConfig(
    server_processes=2,
    workers=1,
    prefetch=20,
    provider_timeout_s=2.0,
    publish_timeout_s=1.0,
    max_attempts=3,
    retry_delays_s=(0.2, 0.4),
)


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s: {predicate.__doc__ or predicate}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """The machine's broker (AMQP_URL or 127.0.0.1:5672), else a private node."""
    found = provision_broker(
        work_dir=tmp_path_factory.mktemp("broker"), allow=("env", "local", "private")
    )
    yield found
    found.close()


@pytest.fixture(scope="module")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="module")
def stack(stack_dir: Path) -> Iterator[Stack]:
    """The module's system under test: stopped, queues and databases removed, after its tests."""
    with Stack(stack_dir) as owned:
        yield owned


@pytest.fixture(scope="module")
def supervisor(stack: Stack) -> Supervisor:
    return stack.supervisor


@pytest.fixture(scope="module")
def module_provider(stack: Stack) -> RunningProvider:
    return stack.start_provider()


@pytest.fixture
def provider(module_provider: RunningProvider) -> Iterator[RunningProvider]:
    """The module's provider, healthy at the start of every test and after it."""
    module_provider.admin.healthy()
    yield module_provider
    module_provider.admin.healthy()


def launch(
    stack: Stack,
    manifest: TargetManifest | str,
    *,
    broker: Broker | None = None,
    config: DesignConfig = TEST_CONFIG,
    database: Database | None = None,
) -> RunningTarget:
    """A design on the module's stack (start ``module_provider`` first), with a database and
    queues of its own."""
    if isinstance(manifest, str):
        manifest = resolve_target(manifest)
    return stack.start_target(
        manifest,
        config=config,
        queue_prefix=f"offload.test.{uuid.uuid4().hex[:8]}",
        database=database or stack.provision_database(f"{manifest.name}-{uuid.uuid4().hex[:6]}"),
        broker=broker,
    )


@pytest.fixture(scope="module")
def sync_target(stack: Stack, module_provider: RunningProvider) -> RunningTarget:
    return launch(stack, "sync")


@pytest.fixture(scope="module")
def async_target(stack: Stack, module_provider: RunningProvider, broker: Broker) -> RunningTarget:
    return launch(stack, "async", broker=broker)


@pytest.fixture
def lone_worker_target(
    stack: Stack, module_provider: RunningProvider, broker: Broker
) -> Iterator[RunningTarget]:
    """A private async design with exactly one worker, for tests that stop or kill parts of it."""
    target = launch(
        stack,
        "async",
        broker=broker,
        config=TEST_CONFIG.model_copy(update={"workers": 1, "provider_timeout_s": 5.0}),
    )
    yield target
    stack.remove(target)


SCENARIOS = Path(__file__).parent / "data" / "scenarios"
E2E_SCENARIO = SCENARIOS / "e2e-slow.yaml"


def run_bench(
    scenario: Path | str, reports: Path, *extra: str, env: dict | None = None
) -> subprocess.CompletedProcess:
    """``offload bench`` as a user runs it (a subprocess), without rendering the report;
    a bare file name is one of ``tests/data/scenarios``."""
    path = scenario if isinstance(scenario, Path) else SCENARIOS / scenario
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "offload.cli",
            "bench",
            "--scenario",
            str(path),
            "--reports-dir",
            str(reports),
            "--no-report",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )


@pytest.fixture(scope="session")
def e2e_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real ``offload bench`` of both designs (~45 s), shared by every test that reads
    a run directory: ``tests/data/scenarios/e2e-slow.yaml``."""
    reports = tmp_path_factory.mktemp("reports")
    result = run_bench(E2E_SCENARIO, reports)
    assert result.returncode == 0, result.stdout + result.stderr
    latest = reports / "latest"
    assert latest.is_symlink()
    return latest.resolve()


def provider_records(provider: RunningProvider, **match: Any) -> list[dict[str, Any]]:
    """The provider's log lines whose fields equal ``match`` (e.g. ``user_id=...``)."""
    return [
        record
        for record in read_log(provider.log_path)
        if all(record.get(key) == value for key, value in match.items())
    ]
