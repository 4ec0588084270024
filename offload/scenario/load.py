"""The load section: how many signups per second, for how long, open or closed loop."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import (
    Field,
    model_validator,
)

from offload.scenario.base import PhaseName, StrictModel
from offload.units import Duration, Rate


class LoadStep(StrictModel):
    """From ``at``, move the signup rate to ``rate`` (over ``ramp``; 0 is a step)."""

    at: Duration = Field(ge=0)
    rate: Rate = Field(ge=0)
    ramp: Duration = Field(0.0, ge=0)
    #: start a new reporting phase here (e.g. "spike")
    phase: PhaseName | None = None


class Load(StrictModel):
    mode: Literal["open", "closed"] = "open"
    arrivals: Literal["poisson", "constant"] = "poisson"
    #: signups per second at the start of the measured part
    rate: Rate = Field(gt=0)
    steps: list[LoadStep] = Field(default_factory=list)
    duration: Duration = Field(gt=0, le=3600)
    warmup: Duration = Field(5.0, ge=0, le=600)
    #: GET /users/{id} and GET /healthz per second, on the same servers
    bystander_rate: Rate = Field(0.0, ge=0)
    #: publishes/s of a bare publish-with-confirm probe on the design's broker, paced through
    #: the measured part beside the load: the accept path's reference under the same load
    #: (queue-backed designs only; 0 = none). One publish in flight: at most ~200/s is sane.
    #: Left out of the stored scenario at 0, so that scenarios (and the baselines whose
    #: identity is their digest) stored before the knob existed stay the same experiment
    broker_probe_rate: Rate = Field(0.0, ge=0, le=200, exclude_if=lambda rate: rate == 0)
    #: before the designs run, measure each one's server command with a bare app at ``rate``
    #: (``offload probe stack``): the CPU its server and framework cost per request before the
    #: design does anything, stated beside the design's own. Off by default (~10 s per design);
    #: left out of the stored scenario when off, like ``broker_probe_rate``
    stack_floor: bool = Field(False, exclude_if=lambda on: not on)
    #: requests the generator keeps in flight at most (a hung target must not exhaust it)
    max_in_flight: int = Field(2000, ge=1, le=20_000)
    #: closed mode only: concurrent users, each waiting for its answer before the next
    users: int | None = Field(None, ge=1, le=10_000)
    #: fraction of signups with an address the provider always refuses (poison messages)
    poison_fraction: float = Field(0.0, ge=0, le=1)
    seed: int = 1

    @model_validator(mode="after")
    def _steps_ordered(self) -> Self:
        previous = -1.0
        for i, step in enumerate(self.steps):
            if step.at <= previous:
                raise ValueError(f"steps[{i}].at must be later than the step before it")
            if step.at + step.ramp > self.duration:
                raise ValueError(f"steps[{i}] ends after the load's duration")
            previous = step.at
        if self.mode == "closed" and self.users is None:
            raise ValueError("mode: closed needs users: N (concurrent users)")
        return self


class Client(StrictModel):
    #: the load generator's timeout for every request (connect + read)
    timeout: Duration = Field(5.0, gt=0, le=300)
