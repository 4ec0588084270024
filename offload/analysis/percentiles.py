"""Latency percentiles from HDR histograms of the raw records.

HdrHistogram keeps 3 significant digits over 1 µs … 1 h, so percentiles are exact to 0.1 %
whatever the spread — unlike Locust's own stats, which round response times into buckets.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from hdrh.histogram import HdrHistogram

from offload.rundir.floor import Quantiles

#: the percentiles every latency block reports, by summary.json key
PERCENTILES: dict[str, float] = {"p50": 50, "p90": 90, "p95": 95, "p99": 99, "p99_9": 99.9}
#: the "nines" spectrum for charts
SPECTRUM = (50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99)

_LOWEST_US = 1
_HIGHEST_US = 3_600_000_000  # one hour
_DIGITS = 3


def histogram(seconds: Iterable[float]) -> HdrHistogram:
    """An HDR histogram of durations given in seconds (recorded in microseconds)."""
    hist = HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)
    values = np.asarray(
        list(seconds) if not isinstance(seconds, np.ndarray) else seconds, dtype=float
    )
    micros = np.clip(np.rint(values[np.isfinite(values)] * 1e6), _LOWEST_US, _HIGHEST_US)
    for value in micros.astype(np.int64):
        hist.record_value(int(value))
    return hist


def percentiles_ms(seconds: Iterable[float]) -> dict[str, float | None]:
    """``{p50, p90, p95, p99, p99_9, max}`` in milliseconds; all None when there is no data."""
    hist = histogram(seconds)
    if hist.get_total_count() == 0:
        return {**dict.fromkeys(PERCENTILES), "max": None}
    result: dict[str, float | None] = {
        key: round(hist.get_value_at_percentile(p) / 1000, 3) for key, p in PERCENTILES.items()
    }
    result["max"] = round(hist.get_max_value() / 1000, 3)
    return result


def quantiles_ms(seconds: Iterable[float]) -> Quantiles:
    """The median, p99 and slowest of durations in seconds, in ms: what the floors record."""
    figures = percentiles_ms(seconds)
    return Quantiles(p50_ms=figures["p50"], p99_ms=figures["p99"], max_ms=figures["max"])


def spectrum_ms(seconds: Iterable[float], points: Iterable[float] = SPECTRUM) -> dict[float, float]:
    """Latency at each percentile of ``points`` (ms), for the percentile-spectrum chart."""
    hist = histogram(seconds)
    if hist.get_total_count() == 0:
        return {}
    return {p: hist.get_value_at_percentile(p) / 1000 for p in points}
