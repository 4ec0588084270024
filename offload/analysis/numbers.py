"""How figures are written in verdicts, tables and charts: one place, so they always agree."""

from __future__ import annotations

import math

DASH = "–"


def ms(value: float | None) -> str:
    """``5,005 ms``, ``72 ms``, ``7.1 ms``, ``0.84 ms``."""
    if value is None or not math.isfinite(value):
        return DASH
    if value >= 100:
        return f"{value:,.0f} ms"
    if value >= 10:
        return f"{value:.0f} ms"
    if value >= 1:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def pct(value: float | None) -> str:
    """A fraction as a percentage: ``49.7%``, ``0.3%``, ``0%``."""
    if value is None or not math.isfinite(value):
        return DASH
    if value == 0:
        return "0%"
    if value * 100 < 0.1:
        return f"{value * 100:.2f}%"
    return f"{value * 100:.1f}%"


def count(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value:,.0f}"


def seconds(value: float | None) -> str:
    """CPU or wall seconds: ``12.3 s``, ``0.84 s``."""
    if value is None or not math.isfinite(value):
        return DASH
    if value >= 100:
        return f"{value:,.0f} s"
    if value >= 1:
        return f"{value:.1f} s"
    return f"{value:.2f} s"


def rate(value: float | None) -> str:
    """Per-second rates: ``20.2/s``."""
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value:,.1f}/s" if value < 100 else f"{value:,.0f}/s"


def factor(ratio: float) -> str:
    """``1.8×``, ``12×``, ``715×``, ``1,203×``."""
    if not math.isfinite(ratio):
        return "∞"
    if ratio < 10:
        return f"{ratio:.1f}×"
    return f"{ratio:,.0f}×"


def value(number: float | None, unit: str) -> str:
    """A figure in its unit (``ms``, ``%`` for a fraction, ``s``, ``/s``, or a count)."""
    if unit == "ms":
        return ms(number)
    if unit == "%":
        return pct(number)
    if unit == "s":
        return seconds(number)
    if unit == "/s":
        return rate(number)
    return count(number)


def interval(low: float | None, high: float | None, unit: str) -> str:
    """The two ends of a 95 % interval, the unit written once: ``6.1–8.2 ms``, ``41–49%``."""
    if low is None or high is None:
        return DASH
    ends = [value(low, unit), value(high, unit)]
    suffix = {"ms": " ms", "%": "%", "s": " s", "/s": "/s"}.get(unit, "")
    if suffix and all(end.endswith(suffix) for end in ends):
        ends = [end[: -len(suffix)] for end in ends]
    return f"{ends[0]}–{ends[1]}{suffix}"


def timeout_bound(timeout_s: float | None) -> str:
    """A percentile that reached the client timeout: ``≥ 5 s (timeout)``."""
    patience = f"{timeout_s:g} s" if timeout_s else "the client timeout"
    return f"≥ {patience} (timeout)"
