"""How sure a figure is: 95 % confidence intervals and which percentiles a sample can support.

Percentiles get a bootstrap interval over the requests of their window (the requests are
resampled with replacement, the percentile recomputed on each resample); shares of failed
requests get a Wilson score interval, which — unlike a bootstrap of a share — stays honest at
0 %: no failure among 600 requests is "below 0.6 %", not "exactly 0". The resampling is
seeded, so a report rendered twice from the same records shows the same intervals.

The definitions (and the support rule) are documented in ``docs/report.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

#: the confidence of every interval
CONFIDENCE = 0.95
#: bootstrap resamples per window: the interval's ends move by well under 1 % between seeds
RESAMPLES = 1000
#: a fixed seed: the same records always give the same intervals
SEED = 20261201
#: a percentile is supported when at least this many requests lie beyond it
TAIL_SAMPLES = 10
#: bound on resampled values held in memory at once (resamples × requests)
_CHUNK_VALUES = 4_000_000
#: the normal quantile of the two-sided interval
_Z = 1.959963984540054


def min_count(percentile: float) -> int:
    """Requests a window needs before ``percentile`` rests on :data:`TAIL_SAMPLES` requests
    beyond it: 20 for p50, 200 for p95, 1,000 for p99, 10,000 for p99.9."""
    tail = 1 - percentile / 100
    if tail <= 0:
        raise ValueError(f"p{percentile:g} is not a percentile a sample can support")
    return math.ceil(round(TAIL_SAMPLES / tail, 6))


def supported(count: int, percentile: float) -> bool:
    """Whether a window of ``count`` requests can support ``percentile``."""
    return count >= min_count(percentile)


def unsupported_reason(count: int, percentile: float) -> str:
    """Why a percentile is not available: ``p99 needs ≥ 1,000 requests, 606 measured``."""
    return f"p{percentile:g} needs ≥ {min_count(percentile):,} requests, {count:,} measured"


def bootstrap_percentiles(
    values: NDArray[np.float64], percentiles: Mapping[str, float]
) -> dict[str, tuple[float, float]]:
    """A 95 % bootstrap interval (percentile method) for each named percentile of ``values``.

    Vectorised: the resamples are drawn as one index matrix (in chunks, so memory stays
    bounded whatever the window's size) and every percentile is read from each resample at
    once. An empty window has no interval.
    """
    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    if data.size == 0 or not percentiles:
        return {}
    rng = np.random.default_rng(SEED)
    points = np.asarray(list(percentiles.values()), dtype=float)
    chunk = max(1, min(RESAMPLES, _CHUNK_VALUES // data.size))
    estimates: list[NDArray[np.float64]] = []
    done = 0
    while done < RESAMPLES:
        size = min(chunk, RESAMPLES - done)
        picks = data[rng.integers(0, data.size, size=(size, data.size))]
        estimates.append(np.percentile(picks, points, axis=1, method="inverted_cdf"))
        done += size
    spread = np.concatenate(estimates, axis=1)  # (percentiles, resamples)
    alpha = (1 - CONFIDENCE) / 2
    low = np.quantile(spread, alpha, axis=1)
    high = np.quantile(spread, 1 - alpha, axis=1)
    return {key: (float(low[i]), float(high[i])) for i, key in enumerate(percentiles.keys())}


def wilson(successes: int, trials: int) -> tuple[float, float] | None:
    """The 95 % Wilson score interval of a share ``successes / trials`` (None when empty)."""
    if trials <= 0:
        return None
    share = successes / trials
    z2 = _Z * _Z
    centre = (share + z2 / (2 * trials)) / (1 + z2 / trials)
    half = (_Z / (1 + z2 / trials)) * math.sqrt(
        share * (1 - share) / trials + z2 / (4 * trials * trials)
    )
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


def mean_interval(values: list[float]) -> tuple[float, float] | None:
    """A 95 % interval of the mean of repeated measurements (Student's t; needs two)."""
    if len(values) < 2:
        return None
    data = np.asarray(values, dtype=float)
    mean = float(data.mean())
    sem = float(data.std(ddof=1) / math.sqrt(data.size))
    if sem == 0:
        return mean, mean
    # imported here: scipy.stats costs ~0.5 s, which every `offload` process paid at start
    # (each bench the gate or a test starts) although only repeated runs need Student's t
    from scipy import stats

    half = float(stats.t.ppf(1 - (1 - CONFIDENCE) / 2, data.size - 1)) * sem
    return mean - half, mean + half
