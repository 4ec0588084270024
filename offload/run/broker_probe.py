"""Measure the broker alone: publish-with-confirm latency and one publisher's ceiling.

``offload probe broker`` publishes persistent messages to a quorum queue of its own, declared
for the probe and deleted after it, the way the async design's API publishes a job (direct,
persistent, mandatory, publisher confirms). Two parts, each ``duration_s`` long:

- **paced**: constant arrivals at ``rate``, one publish in flight. The confirm latency is what
  a signup of the async design waits for at least; lateness shows when confirms are slower
  than the interval, i.e. the rate is beyond one publisher.
- **back to back**: publish again as soon as the last confirm arrives. The rate is one
  publisher's ceiling with one publish in flight (the async API keeps several in flight per
  process, so it is a lower bound of the broker's, not its maximum).

Every figure comes from the probe's own timings, taken with ``time.perf_counter`` around each
blocking publish; nothing else runs on the connection.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator

import pika
from pika.adapters.blocking_connection import BlockingChannel

from offload.analysis.percentiles import quantiles_ms
from offload.errors import OffloadError
from offload.provisioning.amqp import blocking_connection
from offload.rundir.broker_probe import (
    BackToBackPublishes,
    BrokerProbe,
    BrokerProbeBesideLoad,
    PacedPublishes,
)

#: publishes before the measured parts, so that the queue's first write is not measured
WARMUP_PUBLISHES = 50
#: the async design's job bodies are a few hundred bytes of JSON
DEFAULT_MESSAGE_BYTES = 256
#: what a publish may wait for its confirm before the probe gives up
CONFIRM_TIMEOUT_S = 10.0


def measure_broker(
    url: str,
    *,
    source: str,
    rate: float,
    duration_s: float,
    message_bytes: int = DEFAULT_MESSAGE_BYTES,
    clock: Callable[[], float] = time.perf_counter,
) -> BrokerProbe:
    """Probe the broker at ``url`` (paced at ``rate``, then back to back) on a fresh queue."""
    with _probe_queue(url, message_bytes) as (publish, version):
        paced = _paced(publish, rate, duration_s, clock)
        back_to_back = _back_to_back(publish, duration_s, clock)
    return BrokerProbe(
        broker=source,
        rabbitmq_version=version,
        message_bytes=message_bytes,
        paced=paced,
        back_to_back=back_to_back,
        measured_at=time.time(),
    )


def measure_beside_load(
    url: str,
    *,
    rate: float,
    start_epoch: float,
    duration_s: float,
    message_bytes: int = DEFAULT_MESSAGE_BYTES,
) -> BrokerProbeBesideLoad:
    """The paced part alone, from ``start_epoch`` for ``duration_s``: run beside a design's
    load (its warm-up publishes before that), it measures the bare confirm on the machine as
    the load leaves it — the reference the accept path is compared with in the same run."""
    with _probe_queue(url, message_bytes) as (publish, version):
        time.sleep(max(0.0, start_epoch - time.time()))
        started = time.time()
        paced = _paced(publish, rate, duration_s, time.perf_counter)
    return BrokerProbeBesideLoad(
        rabbitmq_version=version,
        message_bytes=message_bytes,
        started_epoch=started,
        paced=paced,
    )


@contextlib.contextmanager
def _probe_queue(url: str, message_bytes: int) -> Iterator[tuple[Callable[[], None], str | None]]:
    """A publish function on a fresh quorum queue of the probe's own (deleted after), warmed
    up, and the broker's version; a broker error becomes an :class:`OffloadError`."""
    body = b"x" * message_bytes
    queue = f"offload.probe.{uuid.uuid4().hex[:12]}"
    try:
        with blocking_connection(url, timeout=CONFIRM_TIMEOUT_S) as connection:
            version = _version(connection)
            channel = connection.channel()
            channel.confirm_delivery()
            channel.queue_declare(
                queue, durable=True, arguments={"x-queue-type": "quorum"}, auto_delete=False
            )
            try:
                publish = _publisher(channel, queue, body)
                for _ in range(WARMUP_PUBLISHES):
                    publish()
                yield publish, version
            finally:
                channel.queue_delete(queue)
    except pika.exceptions.AMQPError as exc:
        raise OffloadError(f"the broker probe failed: {type(exc).__name__}: {exc}") from exc


def _version(connection: pika.BlockingConnection) -> str | None:
    version = connection._impl.server_properties.get("version")
    if version is None:
        return None
    return version.decode() if isinstance(version, bytes) else str(version)


def _publisher(channel: BlockingChannel, queue: str, body: bytes) -> Callable[[], None]:
    properties = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)

    def publish() -> None:
        # with confirms on, basic_publish returns once the broker confirmed the message and
        # raises when it nacked it or could not route it (mandatory)
        channel.basic_publish("", queue, body, properties=properties, mandatory=True)

    return publish


def _paced(
    publish: Callable[[], None], rate: float, duration_s: float, clock: Callable[[], float]
) -> PacedPublishes:
    interval = 1.0 / rate
    due_count = max(1, int(rate * duration_s))
    confirms: list[float] = []
    lateness: list[float] = []
    start = clock()
    for i in range(due_count):
        due = start + i * interval
        wait = due - clock()
        if wait > 0:
            time.sleep(wait)
        sent = clock()
        publish()
        confirms.append(clock() - sent)
        lateness.append(max(0.0, sent - due))
    elapsed = max(clock() - start, duration_s)
    return PacedPublishes(
        rate=rate,
        duration_s=duration_s,
        confirmed=len(confirms),
        achieved_rate=len(confirms) / elapsed,
        confirm=quantiles_ms(confirms),
        lateness=quantiles_ms(lateness),
    )


def _back_to_back(
    publish: Callable[[], None], duration_s: float, clock: Callable[[], float]
) -> BackToBackPublishes:
    confirms: list[float] = []
    start = clock()
    end = start + duration_s
    while (sent := clock()) < end:
        publish()
        confirms.append(clock() - sent)
    elapsed = clock() - start
    return BackToBackPublishes(
        duration_s=elapsed,
        confirmed=len(confirms),
        rate=len(confirms) / elapsed,
        confirm=quantiles_ms(confirms),
    )
