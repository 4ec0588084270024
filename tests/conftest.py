"""Shared fixtures: a real broker, the real provider and real design processes on free ports.

Module-scoped where starting is slow (servers take ~1-2 s), so a test module pays for its stack
once; tests that change the provider's fault profile restore it through ``provider``.
"""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from offload.provisioning.broker import Broker, provision_broker
from offload.run.stack import RunningProvider, RunningTarget, Stack
from offload.run.supervisor import Supervisor
from tests.factories.processes import E2E_SCENARIO, TEST_CONFIG, launch, run_bench

if TYPE_CHECKING:  # the report package imports matplotlib: only the tests that render pay it
    from offload.report import RenderedRun


def pytest_configure(config: pytest.Config) -> None:
    """Let Ctrl-C reach the processes the tests interrupt, however pytest was started.

    A shell without job control starts a background command (`make test &` in a script) with
    SIGINT ignored, every child inherits that, and Python leaves an ignored SIGINT ignored:
    the tests that press Ctrl-C on a bench, `offload up` or `offload verify` then wait for an
    interruption that never comes. A handler here makes each child start with the default.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


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


@pytest.fixture(scope="module")
def sync_target(stack: Stack, module_provider: RunningProvider) -> RunningTarget:
    return launch(stack, "sync")


@pytest.fixture(scope="module")
def async_target(stack: Stack, module_provider: RunningProvider, broker: Broker) -> RunningTarget:
    return launch(stack, "async", broker=broker)


@pytest.fixture(scope="module")
def sync_threads_target(stack: Stack, module_provider: RunningProvider) -> RunningTarget:
    return launch(stack, "sync-threads")


@pytest.fixture(scope="module")
def inline_async_target(stack: Stack, module_provider: RunningProvider) -> RunningTarget:
    return launch(stack, "inline-async")


@pytest.fixture(scope="module")
def background_target(stack: Stack, module_provider: RunningProvider) -> RunningTarget:
    return launch(stack, "background")


@pytest.fixture(scope="module")
def outbox_target(stack: Stack, module_provider: RunningProvider, broker: Broker) -> RunningTarget:
    return launch(stack, "outbox", broker=broker)


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


@pytest.fixture(scope="session")
def e2e_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real ``offload bench`` of both designs (~55 s, the measurement floor included),
    shared by every test that reads a run directory: ``tests/data/scenarios/e2e-slow.yaml``."""
    reports = tmp_path_factory.mktemp("reports")
    result = run_bench(E2E_SCENARIO, reports, floor=True)
    assert result.returncode == 0, result.stdout + result.stderr
    latest = reports / "latest"
    assert latest.is_symlink()
    return latest.resolve()


@pytest.fixture(scope="session")
def e2e_rendered(e2e_run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> RenderedRun:
    """A copy of the shared real run (``reports/runs/<stamp>``), rendered once, PDFs included
    (~15 s): read, never changed, by the report tests and the browser tests alike."""
    from offload.report import render_run

    run_dir = tmp_path_factory.mktemp("rendered") / "reports" / "runs" / e2e_run_dir.name
    shutil.copytree(e2e_run_dir, run_dir)
    return render_run(run_dir)


_TIERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test by the tier folder it lives in, so ``-m unit`` (``make test-fast``)
    and ``-m "not e2e"`` select without a marker on each test."""
    for item in items:
        tier = next((t for t in _TIERS if f"/tests/{t}/" in str(item.path)), None)
        if tier is not None:
            item.add_marker(getattr(pytest.mark, tier))
