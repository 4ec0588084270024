"""The designs' knobs as a scenario writes them, and the design variants a scenario runs.

The knobs are declared once, by the reference designs (:mod:`targets.common.knobs`); a
scenario spells a knob in seconds without its ``_s`` and writes it as a duration
(``provider_timeout: 3s``, ``retry_delays: [500ms, 1s]``), and is refused at load time for any
value a design would refuse at start.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Discriminator, Field, Tag, ValidationInfo, field_validator

from offload.scenario.base import OnlySetFields, StrictModel
from offload.units import parse_duration
from targets.common.knobs import DesignKnobs

#: the unit suffix of a knob in seconds, which a scenario leaves out
SECONDS = "_s"


def scenario_spelling(knob: str) -> str:
    """``provider_timeout_s`` → ``provider_timeout``: a scenario writes the unit in the value."""
    return knob.removesuffix(SECONDS)


class Designs(DesignKnobs):
    """The knobs every design of a scenario shares (``designs:``)."""

    model_config = ConfigDict(alias_generator=scenario_spelling, serialize_by_alias=True)

    @field_validator("*", mode="before")
    @classmethod
    def _durations(cls, value: Any, info: ValidationInfo) -> Any:
        """``3s``, ``500ms`` → seconds, for the knobs in seconds (and each item of a list)."""
        if not (info.field_name or "").endswith(SECONDS):
            return value
        if not isinstance(value, list | tuple):
            return parse_duration(value)
        seconds = []
        for index, item in enumerate(value):
            try:
                seconds.append(parse_duration(item))
            except ValueError as exc:
                raise ValueError(f"item {index}: {exc}") from None
        return seconds

    def config(self, variant: DesignOverrides | None = None) -> DesignKnobs:
        """The knobs as the harness passes them to a design, with a variant's changes."""
        values = {name: getattr(self, name) for name in DesignKnobs.model_fields}
        if variant is not None:
            values.update(variant.changes())
        return DesignKnobs(**values)


class DesignOverrides(OnlySetFields, Designs):
    """One variant's changes to the shared knobs (``designs: {workers: 8}``)."""


class TargetSpec(StrictModel):
    """One design to run: a target (built-in name or directory) under a name of its own,
    with its own knobs — ``{target: async, name: async-w8, designs: {workers: 8}}``."""

    target: str
    name: str | None = Field(None, pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    designs: DesignOverrides = Field(default_factory=DesignOverrides)


def _entry_kind(entry: Any) -> str:
    return "str" if isinstance(entry, str) else "TargetSpec"


#: an entry of ``targets:``: a target's name, or a TargetSpec (errors name only the one meant)
TargetEntry = Annotated[
    Annotated[str, Tag("str")] | Annotated[TargetSpec, Tag("TargetSpec")],
    Discriminator(_entry_kind),
]


class Variant(StrictModel):
    """A design as the bench runs it: which target, under which name, with which knobs."""

    target: str
    #: None: the target manifest's own name
    name: str | None
    config: DesignKnobs
