"""Durations, rates and shares as people write them in scenario files: ``150s``, ``200ms``,
``40/s``, ``10%``.

Plain numbers are seconds and requests per second. Values are parsed into floats once, at
load time, so everything downstream works in seconds and requests/s.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?\s*$")
_DURATION_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|sec|m|min))?\s*$")
_RATE_UNITS = {None: 1.0, "s": 1.0, "sec": 1.0, "m": 1 / 60, "min": 1 / 60}
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


def parse_duration(value: object) -> float:
    """Seconds from ``150s``, ``2m``, ``200ms``, ``1.5`` (seconds) or a number."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 500ms or 2m")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    raise ValueError(f"expected a duration such as 30s, 500ms or 2m, got {value!r}")


def parse_rate(value: object) -> float:
    """Requests per second from ``40/s``, ``2400/min`` or a number."""
    if isinstance(value, bool):
        raise ValueError("expected a rate such as 40/s or 600/min")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and (match := _RATE.match(value)):
        return float(match.group(1)) * _RATE_UNITS[match.group(2)]
    raise ValueError(f"expected a rate such as 40/s or 600/min, got {value!r}")


def parse_share(value: object) -> float:
    """A fraction from ``10%`` or a plain number (``0.1``)."""
    if isinstance(value, bool):
        raise ValueError("expected a share such as 10% or 0.1")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and (match := _PERCENT.match(value)):
        return float(match.group(1)) / 100
    raise ValueError(f"expected a share such as 10% or 0.1, got {value!r}")


Duration = Annotated[float, BeforeValidator(parse_duration)]
Rate = Annotated[float, BeforeValidator(parse_rate)]
Share = Annotated[float, BeforeValidator(parse_share)]


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"
