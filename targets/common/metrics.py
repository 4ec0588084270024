"""Prometheus metrics of the reference designs: one definition of every metric they expose.

Metrics are on when ``PROMETHEUS_MULTIPROC_DIR`` names a directory (the harness gives every
process that serves metrics a fresh one, shared by a server's gunicorn or uvicorn workers):
prometheus_client then keeps each process's values in files there, so that whichever server
process answers ``GET /metrics`` reports the sum over all of them, and a worker killed and
restarted keeps its counters. Without the variable nothing is recorded and no endpoint is
served: the designs cost what they did before metrics existed (the overhead knob).

Names and labels are documented in docs/observability.md; the harness's scraper and the
report read them by these names.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

#: where prometheus_client keeps the values of a multi-process server (see the module doc)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: the port a process without an HTTP API (worker, relay) serves ``/metrics`` on
PORT_ENV = "OFFLOAD_METRICS_PORT"
#: the address it listens on; loopback unless told otherwise
HOST_ENV = "OFFLOAD_METRICS_HOST"
#: the path of the metrics endpoint on the APIs (never part of the load)
METRICS_PATH = "/metrics"

ENABLED = bool(os.environ.get(MULTIPROC_ENV))

# prometheus_client picks its multi-process value store when it is first imported, from the
# variable above: import it only after the environment is final (it is, at process start).
from prometheus_client import (  # noqa: E402
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

#: seconds; fine below 100 ms where healthy signups are, coarse up to the client timeout
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1,
    0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 30.0,
)  # fmt: skip

# -- both kinds of API (targets/common/edge.py, targets/sync_api/app.py) ----------------------
HTTP_DURATION = Histogram(
    "offload_http_request_duration_seconds",
    "Time from the server reading a request to it sending the answer, per route template",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
HTTP_IN_FLIGHT = Gauge(
    "offload_http_requests_in_flight",
    "Requests the server is working on now",
    ["method", "route"],
    multiprocess_mode="livesum",
)

# -- async API: publishing the job (targets/async_api/app.py) ----------------------------------
PUBLISHES = Counter(
    "offload_publishes",
    "Jobs published to the broker, by result: confirmed, or why not (nack, timeout, ...)",
    ["outcome"],
)
PUBLISH_DURATION = Histogram(
    "offload_publish_duration_seconds",
    "Time from publishing a job to the broker's confirm (or the failure)",
    ["outcome"],
    buckets=LATENCY_BUCKETS,
)

# -- outbox relay (targets/outbox/relay.py) ----------------------------------------------------
RELAY_PUBLISHED = Counter("offload_relay_published", "Outbox messages published and confirmed")
RELAY_FAILED = Counter(
    "offload_relay_failed", "Outbox messages whose publish failed (they stay in the outbox)"
)
RELAY_BACKLOG = Gauge(
    "offload_outbox_unpublished",
    "Messages in the outbox not yet published, as of the relay's last read",
    multiprocess_mode="livemax",
)

# -- queue worker (targets/async_api/worker.py) ------------------------------------------------
JOBS = Counter(
    "offload_jobs",
    "Messages the worker settled, by outcome (delivered, duplicate, retried, dead_lettered, "
    "requeued, skipped_undone, skipped_finished, malformed)",
    ["outcome"],
)
ATTEMPTS = Counter("offload_send_attempts", "Calls to the email provider")
RETRIES = Counter("offload_retries", "Jobs scheduled for another attempt after a transient failure")
DEAD_LETTERED = Counter("offload_dead_lettered", "Jobs sent to the dead-letter queue")
SEND_DURATION = Histogram(
    "offload_send_duration_seconds",
    "Time of one call to the email provider, by its outcome",
    ["outcome"],
    buckets=LATENCY_BUCKETS,
)

# -- the email provider (targets/downstream) ---------------------------------------------------
PROVIDER_REQUESTS = Counter(
    "offload_provider_requests",
    "Emails the provider answered, by outcome: delivered and duplicate are accepted, the rest "
    "failed (error, rate_limited, timeout, reset, rejected, bad_request)",
    ["outcome"],
)


def exposition() -> tuple[bytes, str]:
    """The body and content type of ``GET /metrics``: every process of this server summed."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


def serve_metrics_port() -> None:
    """Serve ``/metrics`` on ``OFFLOAD_METRICS_PORT`` from a daemon thread (worker, relay,
    provider), when metrics are on and a port is given; a port that cannot be opened is an
    error at start, never a silent lack of metrics."""
    port = os.environ.get(PORT_ENV)
    if not ENABLED or not port:
        return
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(int(port), addr=os.environ.get(HOST_ENV, "127.0.0.1"), registry=registry)


@contextmanager
def timed(histogram: Histogram, outcome: list[str]) -> Iterator[None]:
    """Observe the block's duration under the label ``outcome[0]``, which the block may set."""
    start = time.perf_counter()
    try:
        yield
    finally:
        if ENABLED:
            histogram.labels(outcome[0]).observe(time.perf_counter() - start)


def count(counter: Counter, *labels: str, amount: float = 1) -> None:
    """Add ``amount`` (one), when metrics are on."""
    if ENABLED and amount:
        (counter.labels(*labels) if labels else counter).inc(amount)


def set_gauge(gauge: Gauge, value: float) -> None:
    """Set a gauge without labels, when metrics are on."""
    if ENABLED:
        gauge.set(value)
