"""The sweep file: which designs, rates and provider latencies a sweep crosses, how long each
cell runs, the SLO, and the bounds of the search for each design's maximum sustainable rate.

A sweep file is written and shared like a scenario, so it is refused the same way: before
anything starts, one line per problem naming the file, the field and what was expected. A cell
is an ordinary scenario (:meth:`SweepFile.cell_scenario`), so whatever a scenario refuses a
sweep refuses too — the designs' knobs are the scenario's ``designs:`` section, unchanged.
"""

from __future__ import annotations

import itertools
import re
from typing import Annotated, Literal, Self

from pydantic import BeforeValidator, Field, field_validator, model_validator

from offload.scenario import Designs, Scenario
from offload.scenario.base import StrictModel
from offload.scenario.designs import TargetEntry, TargetSpec
from offload.units import Duration, Rate, format_duration, parse_share

#: a share of requests, 0 … 1 (``0.1%`` or ``0.001``)
Share = Annotated[float, BeforeValidator(parse_share), Field(ge=0, le=1)]


class Slo(StrictModel):
    """What "sustainable" means: a cell meets the SLO when its generator kept its schedule
    (the cell is valid), its signup p99 is at most ``p99`` and its failed share at most
    ``errors``."""

    p99: Duration = Field(gt=0, le=300)
    errors: Share


class Cell(StrictModel):
    """How long one (design, rate, latency) run lasts; the same for every cell."""

    #: the measured part: at 10 signups/s a 10 s cell has 100 signups (p90 supported, p99
    #: not: the page then says which percentile it used)
    duration: Duration = Field(gt=0, le=600)
    warmup: Duration = Field(2.0, ge=0, le=60)
    arrivals: Literal["poisson", "constant"] = "poisson"
    #: how long a queue-backed design may drain its backlog after the load stops; its
    #: end-to-end p95 counts only what was delivered by then (the page says when it was not)
    drain: Duration = Field(5.0, ge=0, le=600)
    #: the client's timeout: a sync design past its capacity answers at it
    client_timeout: Duration = Field(5.0, gt=0, le=300)
    #: publishes/s of the bare publish-with-confirm probe beside each queue-backed cell's load
    #: (the scenario's ``load.broker_probe_rate``; 0 = none): each such cell's reference, on
    #: the machine as that cell's load leaves it. Its publishes reach the broker, whose CPU is
    #: counted as the design's, so it is off unless asked for
    broker_probe_rate: Rate = Field(0.0, ge=0, le=200, exclude_if=lambda rate: rate == 0)


class Search(StrictModel):
    """The bounded search for a design's maximum rate under the SLO, per provider latency.

    Doubling from the highest grid rate that met the SLO until a rate fails, then bisection
    between the last rate that met it and the first that did not, until their ratio is at
    most ``resolution`` — or ``max_runs`` runs or ``max_time`` have been spent.
    """

    #: which of the sweep's provider latencies get a search (default: every one)
    latencies: list[Duration] | None = None
    #: the doubling never goes beyond this rate (the generator's and machine's reach)
    max_rate: Rate = Field(gt=0, le=100_000)
    #: extra runs per design and latency, beyond the grid's (0: the grid alone brackets)
    max_runs: int = Field(3, ge=0, le=20)
    #: wall time per design and latency; a run is not started past it
    max_time: Duration = Field(120.0, gt=0, le=7200)
    #: stop bisecting when the first failing rate is within this factor of the last passing
    resolution: float = Field(1.25, gt=1, le=4)


class QuickSweep(StrictModel):
    """``--quick``: what the CI-sized sweep changes (every field left out is kept)."""

    designs: list[TargetEntry] | None = Field(None, min_length=1)
    rates: list[Rate] | None = Field(None, min_length=1)
    provider_latencies: list[Duration] | None = Field(None, min_length=1)
    cell: Cell | None = None
    search: Search | None = None


_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_BOTH: tuple[TargetEntry, ...] = ("sync", "async")


class SweepFile(StrictModel):
    name: str
    description: str = ""
    #: designs to cross: built-in target names or directories, or {target, name, designs}
    designs: list[TargetEntry] = Field(default_factory=lambda: list(_BOTH), min_length=1)
    #: offered signup rates, increasing
    rates: list[Rate] = Field(min_length=1)
    #: the provider's latency in each column of the grid (no jitter unless ``jitter`` says)
    provider_latencies: list[Duration] = Field(min_length=1)
    jitter: Duration = Field(0.0, ge=0, le=60)
    #: the designs' shared knobs, as a scenario's ``designs:`` section writes them
    knobs: Designs = Field(default_factory=Designs)
    cell: Cell
    slo: Slo
    search: Search
    quick: QuickSweep = Field(default_factory=QuickSweep)

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be lowercase letters, digits and dashes, e.g. default")
        return value

    @field_validator("rates")
    @classmethod
    def _rates_increase(cls, value: list[float]) -> list[float]:
        for index, (before, after) in enumerate(itertools.pairwise(value)):
            if after <= before:
                raise ValueError(
                    f"item {index + 1} ({after:g}/s) must be higher than the one before "
                    f"({before:g}/s): rates are listed increasing"
                )
        if value and value[0] <= 0:
            raise ValueError("every rate must be above 0/s")
        return value

    @field_validator("provider_latencies")
    @classmethod
    def _latencies_distinct(cls, value: list[float]) -> list[float]:
        if len(set(value)) != len(value):
            raise ValueError(f"each latency once (got {[format_duration(v) for v in value]})")
        if any(v < 0 or v > 60 for v in value):
            raise ValueError("every latency between 0 and 60s")
        return value

    @field_validator("designs")
    @classmethod
    def _names_unique(cls, value: list[str | TargetSpec]) -> list[str | TargetSpec]:
        names = design_names(value)
        if len(set(names)) != len(names):
            raise ValueError(f"design names must be unique (got {names})")
        return value

    @model_validator(mode="after")
    def _search_latencies_in_grid(self) -> Self:
        for index, latency in enumerate(self.search.latencies or []):
            if latency not in self.provider_latencies:
                grid = ", ".join(map(format_duration, self.provider_latencies))
                raise ValueError(
                    f"search.latencies[{index}] ({format_duration(latency)}) is not one of "
                    f"provider_latencies ({grid})"
                )
        if self.search.max_rate < self.rates[-1]:
            raise ValueError(
                f"search.max_rate ({self.search.max_rate:g}/s) is below the highest rate "
                f"({self.rates[-1]:g}/s)"
            )
        # every cell must be a scenario the bench accepts: check one per design now
        for design in self.designs:
            self.cell_scenario(design, self.rates[-1], self.provider_latencies[0])
        return self

    @property
    def design_names(self) -> list[str]:
        return design_names(self.designs)

    @property
    def searched_latencies(self) -> list[float]:
        return list(self.search.latencies or self.provider_latencies)

    def design(self, name: str) -> str | TargetSpec:
        return self.designs[self.design_names.index(name)]

    def quickened(self) -> SweepFile:
        """The CI-sized sweep: the ``quick:`` section's fields replace the sweep's."""
        changes = {
            key: getattr(self.quick, key)
            for key in self.quick.model_fields_set
            if getattr(self.quick, key) is not None
        }
        data = self.model_dump(mode="python", by_alias=True, exclude={"quick"})
        data.update(changes)
        return SweepFile.model_validate(data)

    def cell_scenario(self, design: str | TargetSpec, rate: float, latency: float) -> Scenario:
        """The scenario of one cell: ``design`` alone at ``rate`` against a provider
        answering in ``latency``, open loop, no bystanders, no faults."""
        name = design if isinstance(design, str) else (design.name or design.target)
        return Scenario.model_validate(
            {
                "name": cell_name(name, rate, latency),
                "description": (
                    f"sweep {self.name}: {name} at {rate:g} signups/s, provider "
                    f"{format_duration(latency)}"
                ),
                "targets": [design],
                "load": {
                    "rate": rate,
                    "arrivals": self.cell.arrivals,
                    "duration": self.cell.duration,
                    "warmup": self.cell.warmup,
                    "broker_probe_rate": self.cell.broker_probe_rate,
                },
                "client": {"timeout": self.cell.client_timeout},
                "provider": {"latency": latency, "jitter": self.jitter},
                "designs": self.knobs.model_dump(mode="python", by_alias=True),
                "drain": {"timeout": self.cell.drain},
            }
        )


def design_names(entries: list[str | TargetSpec]) -> list[str]:
    return [e if isinstance(e, str) else (e.name or e.target) for e in entries]


def cell_name(design: str, rate: float, latency: float) -> str:
    """``async-160rps-100ms``: a folder and scenario name (digits, letters, dashes)."""
    rate_text = f"{rate:g}".replace(".", "p")
    latency_text = format_duration(latency).replace(".", "p")
    return f"{design.replace('_', '-')}-{rate_text}rps-{latency_text}"
