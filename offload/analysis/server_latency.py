"""Server-side against client-side latency of ``POST /users``: how long a request waited
before the server saw it.

The server's figure comes from its own histogram (``offload_http_request_duration_seconds``
in ``metrics.csv``): the buckets' counts at the design's last successful scrape minus those at
the last scrape before the measured part began, summed over server processes and statuses,
and a quantile estimated from the buckets as Prometheus's ``histogram_quantile`` does
(linear within a bucket). So it is only as fine as the buckets (see
``targets/common/metrics.py``). The client's is the load generator's, from ``requests.csv``:
sent → answer of the measured signups that got an answer. What separates them is the time a
request spent before the application was handed it — in the listen backlog of a server whose
processes are all busy, in the kernel, on the wire — which no client-only tool can show.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from offload.analysis.scenario_data import DesignData, ScenarioData
from offload.rundir.metrics_csv import FILE_NAME, UP, MetricSample, read_samples

HISTOGRAM = "offload_http_request_duration_seconds_bucket"
#: the columns of the ``server_latency`` table (``tables/server_latency.csv``)
COLUMNS = [
    "design", "client_answers", "server_requests",
    "server_p50_ms", "client_p50_ms", "gap_p50_ms",
    "server_p99_ms", "client_p99_ms", "gap_p99_ms",
]  # fmt: skip
SIGNUP = ("POST", "/users")


def bucket_quantile(buckets: Sequence[tuple[float, float]], q: float) -> float | None:
    """The ``q`` quantile (0–1) of a cumulative histogram ``[(upper bound, count), ...]``.

    Linear interpolation inside the bucket the rank falls in, from its lower bound (0 for the
    first). A rank in the ``+Inf`` bucket gets the highest finite bound: a lower bound, as in
    Prometheus. None for an empty histogram.
    """
    if not 0 <= q <= 1:
        raise ValueError(f"a quantile is between 0 and 1, got {q}")
    ordered = sorted(buckets)
    if not ordered or not math.isinf(ordered[-1][0]):
        raise ValueError("a histogram's buckets end with +Inf")
    total = ordered[-1][1]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, cumulative in ordered:
        if cumulative >= rank and cumulative > below:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / (cumulative - below)
        lower, below = bound, cumulative
    return lower  # pragma: no cover - the +Inf bucket holds the total


def route_buckets(
    samples: Iterable[MetricSample],
    *,
    start: float,
    method: str = SIGNUP[0],
    route: str = SIGNUP[1],
    status_prefix: str = "",
) -> list[tuple[float, float]] | None:
    """The histogram of one route after ``start`` (epoch): the last scrape of each server
    component minus its last scrape at or before ``start``. None when never scraped."""
    # component → scrape time → upper bound → count (summed over statuses)
    scrapes: dict[str, dict[float, dict[float, float]]] = defaultdict(lambda: defaultdict(dict))
    for s in samples:
        if s.name != HISTOGRAM or s.labels.get("method") != method:
            continue
        if s.labels.get("route") != route or not s.labels.get("status", "").startswith(
            status_prefix
        ):
            continue
        bound = float(s.labels["le"])
        at = scrapes[s.component][s.t]
        at[bound] = at.get(bound, 0.0) + s.value
    if not scrapes:
        return None
    total: dict[float, float] = defaultdict(float)
    for by_time in scrapes.values():
        times = sorted(by_time)
        last = by_time[times[-1]]
        before = [t for t in times if t <= start]
        first = by_time[before[-1]] if before else {}
        for bound, count in last.items():
            total[bound] += count - first.get(bound, 0.0)
    return sorted(total.items())


def load_samples(design: DesignData) -> list[MetricSample]:
    """The design's scraped samples (empty when it ran without metrics)."""
    path: Path = design.directory / FILE_NAME
    return list(read_samples(path)) if path.is_file() else []


def server_client_table(data: ScenarioData) -> pd.DataFrame:
    """Per design: p50 and p99 of ``POST /users`` as the server measured it and as the
    client did, in ms, over the measured part; designs without metrics are left out."""
    rows = []
    for name, design in data.designs.items():
        samples = [s for s in load_samples(design) if s.name in (HISTOGRAM, UP)]
        buckets = route_buckets(samples, start=design.t0)
        if buckets is None:
            continue
        signups = design.stream("signup")
        answered = signups[signups["status"].notna()]
        client_s = (answered["ended"] - answered["sent"]).to_numpy(dtype=float)
        row: dict[str, object] = {
            "design": name,
            "client_answers": len(client_s),
            "server_requests": int(buckets[-1][1]),
        }
        for q in (0.5, 0.99):
            server = bucket_quantile(buckets, q)
            client = float(np.quantile(client_s, q)) if len(client_s) else None
            label = f"p{round(q * 100)}"
            row[f"server_{label}_ms"] = None if server is None else server * 1000
            row[f"client_{label}_ms"] = None if client is None else client * 1000
            row[f"gap_{label}_ms"] = (
                None if server is None or client is None else (client - server) * 1000
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)
