"""Helpers for tests that run real parts: the test knobs, polling, starting a design on a
test's stack, running ``offload bench`` as a user does, reading the provider's log."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from offload.provisioning.broker import Broker
from offload.provisioning.database import Database
from offload.run.stack import RunningProvider, RunningTarget, Stack
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


def design_target(request: pytest.FixtureRequest, design: str) -> RunningTarget:
    """The module's running target of a design, by the design's name: the fixture
    ``sync_threads_target`` (tests/conftest.py) for ``sync-threads``."""
    target: RunningTarget = request.getfixturevalue(f"{design.replace('-', '_')}_target")
    return target


SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "scenarios"
E2E_SCENARIO = SCENARIOS / "e2e-slow.yaml"


def run_bench(
    scenario: Path | str,
    reports: Path,
    *extra: str,
    env: dict | None = None,
    floor: bool = False,
) -> subprocess.CompletedProcess:
    """``offload bench`` as a user runs it (a subprocess), without rendering the report;
    a bare file name is one of ``tests/data/scenarios``. Without ``floor`` it skips the
    measurement floor (``--no-floor``, ~10 s a scenario): the shared e2e run measures it."""
    path = scenario if isinstance(scenario, Path) else SCENARIOS / scenario
    if not floor:
        extra = ("--no-floor", *extra)
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


def provider_records(provider: RunningProvider, **match: Any) -> list[dict[str, Any]]:
    """The provider's log lines whose fields equal ``match`` (e.g. ``user_id=...``)."""
    return [
        record
        for record in read_log(provider.log_path)
        if all(record.get(key) == value for key, value in match.items())
    ]
