"""The load plan: what the open-loop generator is asked to send, as one validated value.

The harness converts a scenario into a JSON load plan; a human can pass plain Locust
options instead and get the same model (see ``loadtests.signup``). Rates are piecewise
linear in time, so a plan can express steps (adjacent constant segments) and ramps
(``rate_from != rate_to``) alike. Offsets are seconds from t=0, the start of the measured
part; the warm-up runs before it at negative offsets.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = ["Arrivals", "LoadPlan", "PlanError", "Segment", "Stream", "load_plan"]


class PlanError(ValueError):
    """The load to send is unusable (a plan file, or options that do not make a plan); the
    message says why, and the locustfile refuses to start with it (exit code 2)."""


class Arrivals(StrEnum):
    """How arrivals are spread at a given rate."""

    #: evenly spaced at the instantaneous rate (deterministic)
    CONSTANT = "constant"
    #: a (non-homogeneous) Poisson process, seeded so every worker computes the same one
    POISSON = "poisson"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Segment(_Strict):
    """A stretch of time over which the rate moves linearly from ``rate_from`` to ``rate_to``."""

    start_s: float = Field(ge=0)
    end_s: float
    rate_from: float = Field(ge=0, description="requests/s at start_s")
    rate_to: float = Field(ge=0, description="requests/s at end_s")

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if self.end_s <= self.start_s:
            raise ValueError(f"segment ends ({self.end_s}) before it starts ({self.start_s})")
        return self

    def expected_count(self) -> float:
        """The integral of the rate over the segment: how many requests it should produce."""
        return (self.rate_from + self.rate_to) / 2 * (self.end_s - self.start_s)


class Stream(_Strict):
    """One named kind of traffic (``signup``, ``bystander``) with its own rate profile."""

    name: str = Field(min_length=1)
    arrivals: Arrivals = Arrivals.POISSON
    #: Poisson seed; None derives one from the name so that streams differ but runs repeat
    seed: int | None = None
    segments: list[Segment] = Field(min_length=1)

    @model_validator(mode="after")
    def _segments_ordered(self) -> Self:
        for before, after in zip(self.segments, self.segments[1:], strict=False):
            if after.start_s < before.end_s:
                raise ValueError(
                    f"stream {self.name!r}: segments overlap or are out of order "
                    f"({before.start_s}-{before.end_s} then {after.start_s}-{after.end_s})"
                )
        return self

    def expected_count(self, warmup_s: float = 0.0) -> float:
        """Requests the measured part (plus ``warmup_s`` at the first rate) should produce."""
        return warmup_s * self.segments[0].rate_from + sum(
            s.expected_count() for s in self.segments
        )


class LoadPlan(_Strict):
    """Everything the generator needs; nothing about the target except what it sends."""

    streams: list[Stream] = Field(min_length=1)
    warmup_s: float = Field(default=0.0, ge=0)
    duration_s: float = Field(gt=0)
    timeout_s: float = Field(default=5.0, gt=0, description="connect and per-read timeout")
    max_in_flight: int = Field(default=1000, ge=1)
    max_start_delay_s: float = Field(default=5.0, ge=0)
    poison_fraction: float = Field(default=0.0, ge=0, le=1)
    records_path: Path = Path("requests.csv")
    worker_index: int = Field(default=0, ge=0)
    worker_count: int = Field(default=1, ge=1)
    #: wall-clock time (epoch seconds) of t=0, when a harness must know it in advance (to
    #: apply faults on the same clock, or to start several generator processes together);
    #: None: the generator fixes t=0 once it is ready (``openloop.START_LEAD_S`` ahead of the
    #: warm-up) and announces it in ``<records>.start.json`` (``selfmeasure.GeneratorStart``)
    t0_epoch: float | None = None
    #: "open" (the default): requests start on the schedule; "closed": ``users`` users each
    #: wait for an answer before the next request (Locust's usual model, for comparison)
    mode: str = Field(default="open", pattern="^(open|closed)$")
    #: the target's health path, read by the bystander stream (from its manifest)
    health_path: str = Field(default="/healthz", pattern="^/")
    users: int | None = Field(default=None, ge=1)
    #: hosts other than loopback this plan may send to: set only by a harness the user told
    #: to (``offload bench --allow-remote``); empty, the generator refuses every other host
    allowed_remote_hosts: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [s.name for s in self.streams]
        if len(set(names)) != len(names):
            raise ValueError(f"stream names must be unique, got {names}")
        for stream in self.streams:
            if stream.segments[-1].end_s > self.duration_s + 1e-9:
                raise ValueError(
                    f"stream {stream.name!r} has a segment ending at "
                    f"{stream.segments[-1].end_s}s, after duration_s={self.duration_s}"
                )
        if self.mode == "closed" and self.users is None:
            raise ValueError("a closed-loop plan needs users")
        if self.worker_index >= self.worker_count:
            raise ValueError(
                f"worker_index {self.worker_index} >= worker_count {self.worker_count}"
            )
        return self

    def stream(self, name: str) -> Stream:
        """The stream called ``name`` (KeyError if the plan has none)."""
        for s in self.streams:
            if s.name == name:
                return s
        raise KeyError(name)


def load_plan(path: str | Path) -> LoadPlan:
    """Read and validate a JSON load plan, naming the file in any error."""
    path = Path(path)
    try:
        return LoadPlan.model_validate(json.loads(path.read_text()))
    except OSError as exc:
        raise PlanError(f"cannot read load plan {path}: {exc}") from exc
    except (ValueError, ValidationError) as exc:
        raise PlanError(f"invalid load plan {path}: {exc}") from exc
