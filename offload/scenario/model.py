"""The scenario itself: its parts, the phases its timeline cuts, its design variants, and
the shortened form QUICK=1 runs."""

from __future__ import annotations

import re
from typing import Annotated, Self

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from offload.scenario.base import RESERVED_PHASES, StrictModel
from offload.scenario.designs import Designs, TargetEntry, TargetSpec, Variant
from offload.scenario.events import FaultEvent
from offload.scenario.gate import GateSettings
from offload.scenario.load import Client, Load
from offload.scenario.provider import ProviderProfile
from offload.units import Duration


class Drain(StrictModel):
    #: how long the async design may take to finish its backlog after the load stops
    timeout: Duration = Field(60.0, ge=0, le=3600)


#: a factor on every time offset and duration of a scenario (not on latencies)
TimeScale = Annotated[float, Field(gt=0, le=1)]


class Quick(StrictModel):
    #: QUICK=1 multiplies every time offset and duration (not latencies) by this
    time_scale: TimeScale = 0.3


class Phase(StrictModel):
    """A stretch of the measured part with one provider profile and load level."""

    name: str
    start_s: float
    end_s: float
    provider: str

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


#: the designs a scenario runs unless it names its own
_BOTH_DESIGNS: list[TargetEntry] = ["sync", "async"]


def unique_design_names(value: list[TargetEntry]) -> list[TargetEntry]:
    """Refuse two designs under one name (their records would share a folder)."""
    names = [t if isinstance(t, str) else (t.name or t.target) for t in value]
    if len(set(names)) != len(names):
        raise ValueError(f"design names must be unique (got {names}); give each a name:")
    return value


class Scenario(StrictModel):
    name: str
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    #: designs to run: a target name or directory, or a TargetSpec with a name and knobs
    targets: list[TargetEntry] = Field(default_factory=lambda: _BOTH_DESIGNS[:], min_length=1)
    load: Load
    client: Client = Field(default_factory=Client)
    #: the provider's normal behaviour; ``healthy`` in the timeline returns to it
    provider: ProviderProfile = Field(default_factory=ProviderProfile)
    designs: Designs = Field(default_factory=Designs)
    faults: list[FaultEvent] = Field(default_factory=list)
    drain: Drain = Field(default_factory=Drain)
    expect: list[str] = Field(default_factory=list)
    #: what the regression gate reads besides the figures (tolerances from A/A evidence)
    gate: GateSettings = Field(default_factory=GateSettings)
    quick: Quick = Field(default_factory=Quick)

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be lowercase letters, digits and dashes, e.g. slow-downstream")
        return value

    @field_validator("targets")
    @classmethod
    def _names_unique(cls, value: list[TargetEntry]) -> list[TargetEntry]:
        return unique_design_names(value)

    def variants(self) -> list[Variant]:
        """Every design of the scenario with its own knobs (shared ones, then its overrides)."""
        variants = []
        for entry in self.targets:
            spec = TargetSpec(target=entry) if isinstance(entry, str) else entry
            config = self.designs.config(spec.designs)
            variants.append(Variant(target=spec.target, name=spec.name, config=config))
        return variants

    @field_validator("expect")
    @classmethod
    def _expectations_parse(cls, value: list[str]) -> list[str]:
        """Reject a malformed expectation now rather than at the end of a long run."""
        from offload.expect.expressions import parse_expectation

        for text in value:
            parse_expectation(text)
        return value

    @field_validator("faults")
    @classmethod
    def _timeline(cls, faults: list[FaultEvent], info: ValidationInfo) -> list[FaultEvent]:
        load = info.data.get("load")
        previous = -1.0
        for i, fault in enumerate(faults):
            if fault.at <= previous:
                raise ValueError(f"item {i}: at ({fault.at:g}s) must be later than the one before")
            if load is not None and fault.at >= load.duration:
                raise ValueError(
                    f"item {i}: at ({fault.at:g}s) is not inside the load's duration "
                    f"({load.duration:g}s)"
                )
            if load is not None and load.broker_probe_rate and fault.broker is not None:
                raise ValueError(
                    f"item {i}: broker {fault.broker} cannot run beside load.broker_probe_rate: "
                    "the probe would time the fault, not the broker, and fail the run "
                    "(set broker_probe_rate: 0 or drop the broker fault)"
                )
            previous = fault.at
        return faults

    @model_validator(mode="after")
    def _phase_names(self) -> Self:
        clash = RESERVED_PHASES.intersection(phase.name for phase in self.phases())
        if clash:
            raise ValueError(f"phase name(s) {sorted(clash)} are reserved")
        return self

    def phases(self) -> list[Phase]:
        """The measured part cut at every fault and every named load step."""
        cuts: list[tuple[float, str | None, str]] = []
        for fault in self.faults:
            name = fault.phase or fault.default_phase_name(self.provider)
            cuts.append((fault.at, name, "provider"))
        for step in self.load.steps:
            if step.phase:
                cuts.append((step.at, step.phase, "load"))
        cuts.sort(key=lambda cut: cut[0])
        phases: list[Phase] = []
        start, name = 0.0, "healthy"
        provider_at = self._provider_label_at
        for at, cut_name, _kind in cuts:
            if at > start:
                phases.append(
                    Phase(name=name, start_s=start, end_s=at, provider=provider_at(start))
                )
            start, name = at, cut_name or name
        phases.append(
            Phase(name=name, start_s=start, end_s=self.load.duration, provider=provider_at(start))
        )
        return _unique_names(phases)

    def provider_at(self, t: float) -> ProviderProfile:
        """The provider's profile in force at ``t`` (the latest downstream change before it)."""
        profile = self.provider
        for fault in self.faults:
            if fault.at <= t and fault.downstream is not None:
                profile = fault.downstream.applied_to(self.provider)
        return profile

    def broker_at(self, t: float) -> str:
        state = "up"
        for fault in self.faults:
            if fault.at <= t and fault.broker is not None:
                state = {"unblocked": "up"}.get(fault.broker, fault.broker)
        return state

    def _provider_label_at(self, t: float) -> str:
        """What a phase starting at ``t`` looks like: provider, broker, workers, API."""
        label = self.provider_at(t).describe()
        broker = self.broker_at(t)
        if broker != "up":
            label += f"; broker {broker}"
        workers = [f.workers for f in self.faults if f.at <= t and f.workers is not None]
        if workers and workers[-1] is not None:
            label += f"; {workers[-1].describe()}"
        api = [f.api for f in self.faults if f.at <= t and f.api is not None]
        if api:
            label += f"; {api[-1].describe()}"
        return label

    @property
    def breaks_the_broker(self) -> bool:
        """True when the timeline stops or blocks the broker (it must be one offload owns)."""
        return any(f.broker is not None for f in self.faults)

    def quickened(self, scale: float | None = None) -> Scenario:
        """The same scenario with every time offset and duration multiplied by ``scale``."""
        k = self.quick.time_scale if scale is None else scale
        load = self.load.model_copy(
            update={
                "duration": self.load.duration * k,
                "warmup": min(self.load.warmup, max(2.0, self.load.warmup * k)),
                "steps": [
                    s.model_copy(update={"at": s.at * k, "ramp": s.ramp * k})
                    for s in self.load.steps
                ],
            }
        )
        faults = [f.scaled(k) for f in self.faults]
        return self.model_copy(update={"load": load, "faults": faults})


def _unique_names(phases: list[Phase]) -> list[Phase]:
    seen: dict[str, int] = {}
    unique = []
    for phase in phases:
        count = seen.get(phase.name, 0) + 1
        seen[phase.name] = count
        unique.append(
            phase if count == 1 else phase.model_copy(update={"name": f"{phase.name}-{count}"})
        )
    return unique


# -- loading -------------------------------------------------------------------------------
