"""``offload probe broker``: the bare publish-with-confirm figures, from a real broker.

It publishes to a queue of its own on whatever broker a bench would use, so what a user
notices is that the figures add up (every scheduled publish confirmed, at the asked rate) and
that their broker is left as it was (the probe's queue is gone afterwards).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest

from offload.rundir.broker_probe import BrokerProbe
from tests.factories.cli import CliResult, run_cli

pytestmark = pytest.mark.integration


@pytest.fixture
def probe(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """``offload probe broker ARGS`` in this process (tests/factories/cli.py): it publishes
    from its own thread, as the command does, without a new interpreter's imports."""

    def run(*args: str) -> CliResult:
        return run_cli(capsys, "probe", "broker", *args)

    return run


def _probe_queues() -> list[str]:
    """Queues named like the probe's on the local broker, from the broker's own list."""
    result = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "name"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"rabbitmqctl cannot list queues here: {result.stderr.strip()[:200]}")
    return [line for line in result.stdout.split() if line.startswith("offload.probe.")]


def test_the_probe_confirms_every_scheduled_publish_and_leaves_no_queue_behind(
    probe: Callable[..., CliResult],
):
    before = _probe_queues()
    result = probe("--rate", "50", "--duration", "1", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    [probe] = [BrokerProbe.model_validate(doc) for doc in json.loads(result.stdout)]
    assert probe.paced.confirmed == 50
    # one publish in flight confirms within a few ms on loopback: 50/s is well inside it
    assert probe.paced.achieved_rate == pytest.approx(50, rel=0.2)
    p50, p99 = probe.paced.confirm.p50_ms, probe.paced.confirm.p99_ms
    assert p50 is not None and p99 is not None and 0 < p50 <= p99
    # back to back is one publisher's ceiling: more than the 50/s it was paced at
    assert probe.back_to_back.confirmed > 50
    assert probe.back_to_back.rate > probe.paced.achieved_rate
    assert probe.rabbitmq_version
    assert _probe_queues() == before


def test_the_table_names_the_broker_and_prints_one_line_per_repeat(
    probe: Callable[..., CliResult],
):
    result = probe("--rate", "20", "--duration", "0.5", "--repeat", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("broker: amqp://guest:***@")
    assert lines[2].split()[:2] == ["paced/s", "achieved/s"]
    assert [line.split()[0] for line in lines[3:]] == ["20", "20"]


def test_a_rate_of_zero_is_refused_with_the_reason(probe: Callable[..., CliResult]):
    result = probe("--rate", "0")
    assert result.returncode == 2
    assert "must be > 0, got 0" in result.stderr
