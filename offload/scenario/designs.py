"""The designs' knobs, shared by every design of a scenario, and per-variant overrides."""

from __future__ import annotations

from pydantic import (
    Field,
)

from offload.scenario.base import StrictModel
from offload.target.design_config import DesignConfig
from offload.units import Duration


class Designs(StrictModel):
    """The designs' knobs; the server process count and timeouts are shared by both."""

    server_processes: int = Field(4, ge=1, le=64)
    workers: int = Field(2, ge=0, le=64)
    prefetch: int = Field(50, ge=1, le=10_000)
    provider_timeout: Duration = Field(3.0, gt=0, le=120)
    publish_timeout: Duration = Field(1.0, gt=0, le=60)
    max_attempts: int = Field(6, ge=1, le=100)
    retry_delays: list[Duration] = Field(
        default_factory=lambda: [0.5, 1.0, 2.0, 4.0, 8.0], min_length=1
    )

    def config(self) -> DesignConfig:
        return DesignConfig(
            server_processes=self.server_processes,
            workers=self.workers,
            prefetch=self.prefetch,
            provider_timeout_s=self.provider_timeout,
            publish_timeout_s=self.publish_timeout,
            max_attempts=self.max_attempts,
            retry_delays_s=tuple(self.retry_delays),
        )


class DesignOverrides(StrictModel):
    """Per-variant changes to the shared design knobs (e.g. ``workers: 8``)."""

    server_processes: int | None = Field(None, ge=1, le=64)
    workers: int | None = Field(None, ge=0, le=64)
    prefetch: int | None = Field(None, ge=1, le=10_000)
    provider_timeout: Duration | None = Field(None, gt=0, le=120)
    publish_timeout: Duration | None = Field(None, gt=0, le=60)
    max_attempts: int | None = Field(None, ge=1, le=100)
    retry_delays: list[Duration] | None = Field(None, min_length=1)


class TargetSpec(StrictModel):
    """One design to run: a target (built-in name or directory) under a name of its own,
    with its own knobs — ``{target: async, name: async-w8, designs: {workers: 8}}``."""

    target: str
    name: str | None = Field(None, pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    designs: DesignOverrides = Field(default_factory=DesignOverrides)


class Variant(StrictModel):
    """A design as the bench runs it: which target, under which name, with which knobs."""

    target: str
    #: None: the target manifest's own name
    name: str | None
    config: DesignConfig
