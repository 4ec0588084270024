"""Turn a scenario's load section into the open-loop generator's plan (``loadtests.plan``).

The signup rate is piecewise linear: constant at ``rate``, then each step either jumps
(``ramp: 0``) or ramps linearly to its new rate. Bystander traffic keeps its own constant
rate throughout, so its latency shows the servers' state, not a change in its own load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadtests.plan import Arrivals, LoadPlan, Segment, Stream
from offload.scenario import Load, Scenario


def signup_segments(load: Load) -> list[Segment]:
    segments: list[Segment] = []
    start, rate = 0.0, load.rate
    for step in load.steps:
        if step.at > start:
            segments.append(Segment(start_s=start, end_s=step.at, rate_from=rate, rate_to=rate))
        if step.ramp > 0:
            segments.append(
                Segment(
                    start_s=step.at, end_s=step.at + step.ramp, rate_from=rate, rate_to=step.rate
                )
            )
        start, rate = step.at + step.ramp, step.rate
    if load.duration > start:
        segments.append(Segment(start_s=start, end_s=load.duration, rate_from=rate, rate_to=rate))
    return segments


def build_plan(
    scenario: Scenario,
    *,
    records_path: Path,
    t0_epoch: float | None = None,
    worker_count: int = 1,
    health_path: str = "/healthz",
) -> LoadPlan:
    load = scenario.load
    arrivals = Arrivals(load.arrivals)
    streams = [
        Stream(name="signup", arrivals=arrivals, seed=load.seed, segments=signup_segments(load))
    ]
    if load.bystander_rate > 0:
        streams.append(
            Stream(
                name="bystander",
                arrivals=arrivals,
                seed=load.seed + 1,
                segments=[
                    Segment(
                        start_s=0.0,
                        end_s=load.duration,
                        rate_from=load.bystander_rate,
                        rate_to=load.bystander_rate,
                    )
                ],
            )
        )
    extra: dict[str, Any] = {"t0_epoch": t0_epoch} if t0_epoch is not None else {}
    if load.mode == "closed":
        extra.update(mode="closed", users=load.users)
    return LoadPlan(
        streams=streams,
        warmup_s=load.warmup,
        duration_s=load.duration,
        timeout_s=scenario.client.timeout,
        max_in_flight=load.max_in_flight,
        # a request that cannot start within the client timeout would have failed anyway
        max_start_delay_s=scenario.client.timeout,
        poison_fraction=load.poison_fraction,
        records_path=records_path,
        worker_count=worker_count,
        health_path=health_path,
        **extra,
    )
