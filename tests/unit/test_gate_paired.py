"""The A/B gate's paired decision on synthetic pairs, and the pairs' order."""

from __future__ import annotations

import random

import pytest

from offload.gate.paired import Pair, compare_pairs, sign_flip_p_value
from offload.gate.policy import MetricPolicy
from offload.gate.schedule import pair_orders

pytestmark = pytest.mark.unit

P50 = MetricPolicy(
    metric="designs.async.signup.overall.latency_ms.p50",
    direction="lower",
    kind="relative",
    tolerance=0.20,
    min_delta=2.0,
)
GOODPUT = MetricPolicy(
    metric="designs.async.signup.overall.goodput",
    direction="higher",
    kind="relative",
    tolerance=0.10,
)
LOST = MetricPolicy(
    metric="designs.async.emails.lost",
    direction="lower",
    kind="absolute",
    tolerance=0.0,
    statistic="worst",
)


def pairs(base: list[float], candidate: list[float]) -> list[Pair]:
    return [
        Pair(i + 1, "AB" if i % 2 == 0 else "BA", b, c)
        for i, (b, c) in enumerate(zip(base, candidate, strict=True))
    ]


def noisy_pairs(seed: int, n: int, *, shift: float, level: float = 10.0, noise: float = 0.05):
    """Each pair shares a machine state (the pair's level); the candidate adds ``shift``."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        machine = level * rng.lognormvariate(0, 0.10)
        base = machine * rng.lognormvariate(0, noise)
        candidate = (machine + shift) * rng.lognormvariate(0, noise)
        out.append(Pair(i + 1, "AB", base, candidate))
    return out


def test_no_change_passes():
    result = compare_pairs(P50, pairs([10.0, 11.0, 9.5], [10.2, 10.8, 9.6]))
    assert not result.regressed
    assert not result.beyond_tolerance


def test_a_consistent_shift_beyond_the_floor_is_a_regression():
    result = compare_pairs(P50, pairs([10.0, 11.0, 9.5], [14.0, 15.5, 13.0]))
    assert result.regressed
    assert result.p_value == pytest.approx(1 / 8)
    assert result.reason.startswith("regression: ")
    assert "+40" in result.change_text("relative")


def test_a_consistent_shift_below_the_floor_passes():
    # +10 % every time: consistent (p = 1/8), but under the 20 % tolerance
    result = compare_pairs(P50, pairs([10.0, 11.0, 9.5], [11.0, 12.1, 10.45]))
    assert result.p_value == pytest.approx(1 / 8)
    assert not result.beyond_tolerance
    assert not result.regressed


def test_a_relative_shift_below_min_delta_passes():
    # +50 % of 2 ms is 1 ms, under the 2 ms floor that a few-ms median moves by
    result = compare_pairs(P50, pairs([2.0, 2.1, 1.9], [3.0, 3.15, 2.85]))
    assert not result.regressed


def test_a_large_shift_one_pair_contradicts_is_within_noise():
    result = compare_pairs(P50, pairs([10.0, 11.0, 20.0], [15.0, 16.0, 12.0]))
    assert result.beyond_tolerance
    assert result.p_value is not None and result.p_value > 0.125
    assert not result.regressed
    assert result.reason.startswith("within noise: ")


def test_higher_is_better_metrics_regress_downwards():
    assert compare_pairs(GOODPUT, pairs([20.0, 20.0, 19.8], [15.0, 14.8, 15.2])).regressed
    assert not compare_pairs(GOODPUT, pairs([20.0, 20.0, 19.8], [25.0, 24.8, 25.2])).regressed


def test_worst_metrics_are_facts_not_noise():
    assert compare_pairs(LOST, pairs([0, 0, 0], [0, 1, 0])).regressed
    assert not compare_pairs(LOST, pairs([0, 0, 0], [0, 0, 0])).regressed


def test_the_sign_flip_p_value_is_exact():
    assert sign_flip_p_value([1.0, 2.0, 3.0]) == pytest.approx(1 / 8)
    assert sign_flip_p_value([1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx(1 / 32)
    # one small negative difference among large positive ones: {+-1} x {2,3 positive} at least
    assert sign_flip_p_value([-1.0, 2.0, 3.0]) == pytest.approx(2 / 8)
    assert sign_flip_p_value([0.0, 0.0, 0.0]) == 1.0


def test_synthetic_aa_pairs_rarely_fail_and_a_large_shift_is_caught():
    """5 % run noise over a 10 % machine drift that both sides of a pair share."""
    trials = 400
    aa = sum(compare_pairs(P50, noisy_pairs(s, 3, shift=0.0)).regressed for s in range(trials))
    slowed = sum(compare_pairs(P50, noisy_pairs(s, 3, shift=4.0)).regressed for s in range(trials))
    assert aa / trials <= 0.01
    assert slowed / trials >= 0.95


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7])
def test_pair_orders_are_balanced_and_seeded(n: int):
    orders = pair_orders(n, seed=42)
    assert len(orders) == n
    assert abs(orders.count("AB") - orders.count("BA")) <= 1
    assert pair_orders(n, seed=42) == orders


def test_different_seeds_give_different_orders():
    assert len({tuple(pair_orders(6, seed)) for seed in range(20)}) > 1
