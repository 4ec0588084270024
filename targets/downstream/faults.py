"""The installed profile with its dice and its rate-limit bucket.

Every request rolls all its dice the moment it arrives, always in the same order, so that a
seeded profile gives the same fates to the same sequence of arrivals whichever branch each
request then takes. A request is governed by the profile in force when it arrived, even if
the harness switches the profile while it sleeps.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from targets.downstream.profile import FaultProfile


class TokenBucket:
    """Classic token bucket: ``rate`` tokens per second, a burst of one second's worth."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._tokens = self.capacity
        self._clock = clock
        self._last = clock()

    def take(self) -> bool:
        """Spend one token if there is one; False means the caller is over the limit."""
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


@dataclass(frozen=True, slots=True)
class Fate:
    """What the dice decided for one request."""

    reset: bool
    timeout: bool
    delay_s: float
    error: bool


class ActiveProfile:
    """A profile as installed: its server-assigned version, its dice and its bucket."""

    def __init__(self, profile: FaultProfile, version: int) -> None:
        self.profile = profile
        self.version = version
        self._rng = random.Random(profile.seed)
        self.bucket = (
            TokenBucket(profile.rate_limit_per_s) if profile.rate_limit_per_s is not None else None
        )

    def roll(self) -> Fate:
        """Decide a request's fate; four draws every time, whatever the outcome."""
        p = self.profile
        reset_draw, timeout_draw, jitter_draw, error_draw = (self._rng.random() for _ in range(4))
        jitter = (jitter_draw * 2.0 - 1.0) * p.jitter_ms
        return Fate(
            reset=reset_draw < p.reset_rate,
            timeout=timeout_draw < p.timeout_rate,
            delay_s=max(0.0, p.latency_ms + jitter) / 1000.0,
            error=error_draw < p.error_rate,
        )

    def within_rate_limit(self) -> bool:
        return self.bucket is None or self.bucket.take()

    def as_dict(self) -> dict[str, object]:
        """The profile as the admin API shows it: every field plus ``version``."""
        return {**self.profile.model_dump(mode="json"), "version": self.version}
