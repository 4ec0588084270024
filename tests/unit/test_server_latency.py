"""The server's latency quantiles estimated from its Prometheus buckets, and the histogram
of one route taken over the measured part of a run from ``metrics.csv`` samples."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from offload.analysis.server_latency import HISTOGRAM, bucket_quantile, route_buckets
from offload.run.metrics_scraper import parse_exposition
from offload.rundir.metrics_csv import MetricSample, read_samples, writer

INF = math.inf


def test_quantile_interpolates_inside_the_bucket() -> None:
    # 100 requests: 40 ≤ 10 ms, 50 in (10, 20] ms, 10 in (20, 50] ms
    buckets = [(0.01, 40.0), (0.02, 90.0), (0.05, 100.0), (INF, 100.0)]
    assert bucket_quantile(buckets, 0.5) == pytest.approx(0.012)  # 10 of 50 into (10, 20]
    assert bucket_quantile(buckets, 0.2) == pytest.approx(0.005)  # from 0 in the first bucket
    assert bucket_quantile(buckets, 0.99) == pytest.approx(0.047)  # 9 of 10 into (20, 50]
    assert bucket_quantile(buckets, 1.0) == pytest.approx(0.05)


def test_quantile_in_the_inf_bucket_is_the_highest_bound_and_empty_is_none() -> None:
    assert bucket_quantile([(0.1, 5.0), (INF, 10.0)], 0.99) == 0.1
    assert bucket_quantile([(0.1, 0.0), (INF, 0.0)], 0.5) is None
    with pytest.raises(ValueError, match="Inf"):
        bucket_quantile([(0.1, 3.0)], 0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        bucket_quantile([(INF, 3.0)], 1.5)


def test_quantile_skips_empty_buckets_below_the_rank() -> None:
    buckets = [(0.001, 0.0), (0.002, 0.0), (0.005, 10.0), (INF, 10.0)]
    assert bucket_quantile(buckets, 0.5) == pytest.approx(0.0035)


def _scrape(t: float, component: str, counts: dict[str, tuple[float, float]]) -> str:
    """Exposition text of a POST /users histogram: status → (count ≤ 10 ms, total)."""
    lines = []
    for status, (fast, total) in counts.items():
        labels = f'method="POST",route="/users",status="{status}"'
        lines += [
            f'{HISTOGRAM}{{le="0.01",{labels}}} {fast}',
            f'{HISTOGRAM}{{le="+Inf",{labels}}} {total}',
        ]
    lines.append(f'{HISTOGRAM}{{le="+Inf",method="GET",route="/healthz",status="200"}} 99')
    return "\n".join(lines) + "\n"


def test_route_buckets_over_the_measured_part_via_metrics_csv(tmp_path: Path) -> None:
    texts = [
        (100.0, "api", {"201": (3.0, 5.0)}),  # warm-up: before start, subtracted
        (101.0, "api", {"201": (10.0, 20.0), "503": (0.0, 2.0)}),
        (102.0, "api", {"201": (30.0, 50.0), "503": (0.0, 4.0)}),
    ]
    path = tmp_path / "metrics.csv"
    with path.open("w", newline="") as file:
        rows = writer(file)
        for t, component, counts in texts:
            for sample in parse_exposition(_scrape(t, component, counts), t=t, component=component):
                rows.writerow(sample.row())
    samples = list(read_samples(path))
    assert all(isinstance(s, MetricSample) for s in samples)
    buckets = route_buckets(samples, start=100.5)
    assert buckets == [(0.01, 27.0), (INF, 49.0)]  # (30-3), (50+4) - 5
    only_2xx = route_buckets(samples, start=100.5, status_prefix="2")
    assert only_2xx == [(0.01, 27.0), (INF, 45.0)]
    assert route_buckets(samples, start=100.5, route="/jobs/{job_id}") is None
