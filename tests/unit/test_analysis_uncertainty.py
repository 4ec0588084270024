"""95 % intervals and the support rule: what a reader may conclude from a sample."""

from __future__ import annotations

import numpy as np

from offload.analysis.summary import latency_block
from offload.analysis.uncertainty import bootstrap_percentiles, min_count, supported, wilson


def test_a_percentile_needs_ten_requests_beyond_it():
    assert [min_count(p) for p in (50, 95, 99, 99.9)] == [20, 200, 1_000, 10_000]
    assert supported(200, 95) and not supported(199, 95)
    assert not supported(606, 99)


def test_bootstrap_intervals_are_reproducible_and_hold_the_true_percentile():
    rng = np.random.default_rng(7)
    values = rng.exponential(10.0, size=2_000)  # true p95 = 10 × ln 20 ≈ 29.96
    first = bootstrap_percentiles(values, {"p50": 50, "p95": 95})
    assert first == bootstrap_percentiles(values, {"p50": 50, "p95": 95})
    low, high = first["p95"]
    assert low < 10 * np.log(20) < high
    assert high - low < 8  # 2,000 samples pin p95 to a few ms
    low50, high50 = first["p50"]
    assert low50 < 10 * np.log(2) < high50


def test_a_small_sample_gets_a_wide_interval():
    rng = np.random.default_rng(3)
    values = rng.exponential(10.0, size=150)
    low, high = bootstrap_percentiles(values, {"p95": 95})["p95"]
    many_low, many_high = bootstrap_percentiles(rng.exponential(10.0, size=15_000), {"p95": 95})[
        "p95"
    ]
    assert (high - low) > 3 * (many_high - many_low)


def test_no_failure_among_many_requests_is_below_a_small_share_not_exactly_zero():
    low, high = wilson(0, 600) or (None, None)
    assert low == 0.0 and 0.005 < high < 0.007
    low, high = wilson(270, 600) or (None, None)
    assert low < 0.45 < high and high - low < 0.09
    assert wilson(0, 0) is None


def test_latency_figures_carry_interval_support_and_timeout_flags():
    rng = np.random.default_rng(11)
    ok = rng.uniform(0.005, 0.010, size=330)
    timed_out = np.full(270, 5.002)  # 45 % of 600 requests hit the 5 s client timeout
    block = latency_block(np.concatenate([ok, timed_out]), timeout_s=5.0, timed_out_share=0.45)
    assert block.count == 600
    assert block.p50 is not None and block.p50 < 10  # more than half answered in time
    assert block.at_timeout == ["p90", "p95", "p99", "p99_9"]
    assert "p50" not in block.at_timeout
    assert set(block.unavailable) == {"p99", "p99_9"}
    assert block.unavailable["p99"] == "p99 needs ≥ 1,000 requests, 600 measured"
    interval = block.ci["p50"]
    assert interval.low <= block.p50 <= interval.high
