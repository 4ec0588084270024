"""The stack stops what it started in the reverse order, and leaves nothing behind even when
the block around it is interrupted."""

from __future__ import annotations

import sys

import pika
import pika.exceptions
import psutil
import pytest

from offload.errors import TargetNotReady
from offload.run.stack import Stack
from offload.run.supervisor import ProcessSpec, Supervised
from offload.target.manifest import resolve_target
from tests.factories.processes import TEST_CONFIG, launch


def test_leaving_a_stack_stops_the_load_first_then_the_server_then_workers_then_provider(
    tmp_path, broker, monkeypatch
):
    stopped: list[str] = []
    stop = Supervised.stop

    def recording_stop(self: Supervised, timeout: float | None = None) -> int | None:
        if self.alive:
            stopped.append(self.name)
        return stop(self, timeout)

    monkeypatch.setattr(Supervised, "stop", recording_stop)
    with Stack(tmp_path) as stack:
        stack.start_provider()
        launch(stack, "async", broker=broker)
        sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
        stack.supervisor.start(ProcessSpec(name="load-generator", argv=sleeper))

    assert stopped == ["load-generator", "async-api", "async-worker-1", "provider"]


def test_an_interrupted_stack_leaves_no_process_and_no_queue(tmp_path, broker):
    with pytest.raises(KeyboardInterrupt), Stack(tmp_path) as stack:
        stack.start_provider()
        target = launch(stack, "async", broker=broker)
        started = [psutil.Process(c.pid) for c in stack.supervisor]
        started += [child for p in started for child in p.children(recursive=True)]
        raise KeyboardInterrupt

    _, alive = psutil.wait_procs(started, timeout=5)
    assert not alive, f"left running: {alive}"
    assert target.queues, "the async design reports its queues"
    with pika.BlockingConnection(pika.URLParameters(broker.url)) as connection:
        for queue, _role in target.queues:
            with pytest.raises(pika.exceptions.ChannelClosedByBroker, match="NOT_FOUND"):
                connection.channel().queue_declare(queue, passive=True)


def test_a_target_that_never_gets_healthy_is_stopped_before_the_error_reaches_the_caller(
    tmp_path,
):
    # the sync design, asked for a health path it does not serve: it runs, but is never healthy
    manifest = resolve_target("sync").model_copy(update={"health_path": "/nowhere"})
    with Stack(tmp_path) as stack:
        stack.start_provider()
        with pytest.raises(TargetNotReady, match="not healthy"):
            stack.start_target(manifest, config=TEST_CONFIG, ready_timeout=2)

        assert [c.name for c in stack.supervisor if c.alive] == ["provider"]
