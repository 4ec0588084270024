"""The email provider's behaviour as a scenario writes it: the baseline, and a fault's changes.

The profile is declared once, by the provider (:class:`targets.downstream.profile.FaultProfile`,
what its admin API takes). A scenario spells each field without its unit suffix and writes
the unit in the value — ``latency: 2s`` is the provider's ``latency_ms: 2000``,
``rate_limit: 40/s`` its ``rate_limit_per_s`` — and takes its defaults from the provider's.
Every value is checked by the provider's own model when the scenario is loaded, so a
scenario the provider would refuse (``retry_after: 1500ms``: the provider's Retry-After is
whole seconds) never starts.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from offload.scenario.base import OnlySetFields, StrictModel
from offload.units import Duration, Rate, format_duration
from targets.downstream.profile import FaultProfile

#: the provider's unit suffixes, and how many provider units one scenario unit is (a scenario
#: writes durations in seconds and rates per second)
_UNITS = {"_ms": 1000.0, "_per_s": 1.0, "_s": 1.0}
#: profile fields that are the run's business, not a scenario's
_NOT_IN_SCENARIOS = ("reject_domains", "seed")


def _scenario_fields() -> dict[str, tuple[str, float]]:
    """Scenario name → (the provider's name, provider units per scenario unit)."""
    fields: dict[str, tuple[str, float]] = {}
    for name in FaultProfile.model_fields:
        if name in _NOT_IN_SCENARIOS:
            continue
        suffix = next((s for s in _UNITS if name.endswith(s)), "")
        fields[name.removesuffix(suffix)] = (name, _UNITS.get(suffix, 1.0))
    return fields


#: every provider setting a scenario can write
ON_THE_PROVIDER = _scenario_fields()


def to_provider(name: str, value: Any) -> tuple[str, Any]:
    """A scenario's ``name: value`` as the provider's field and value (``latency`` 0.05 →
    ``latency_ms`` 50.0)."""
    field, scale = ON_THE_PROVIDER[name]
    if scale != 1.0 and isinstance(value, int | float) and not isinstance(value, bool):
        return field, round(value * scale, 3)
    return field, value


def _default(name: str) -> Any:
    """The provider's default for a scenario's ``name``, in the scenario's unit."""
    field, scale = ON_THE_PROVIDER[name]
    default = FaultProfile.model_fields[field].default
    return default / scale if scale != 1.0 else default


class ProviderProfile(StrictModel):
    """The email provider's behaviour (named after Toxiproxy's toxics where they match)."""

    # defaults are validated too: the provider's whole seconds become the scenario's floats
    model_config = ConfigDict(validate_default=True)

    latency: Duration = _default("latency")
    #: uniform ± around the latency
    jitter: Duration = _default("jitter")
    #: share of requests answered with error_status
    error_rate: float = _default("error_rate")
    error_status: int = _default("error_status")
    #: accepted emails per second before 429 + Retry-After
    rate_limit: Rate | None = _default("rate_limit")
    retry_after: Duration = _default("retry_after")
    #: fraction of requests accepted and never answered
    timeout_rate: float = _default("timeout_rate")
    #: fraction of connections reset without an answer
    reset_rate: float = _default("reset_rate")
    #: the port refuses connections
    outage: bool = _default("outage")

    @field_validator("*")
    @classmethod
    def _accepted_by_the_provider(cls, value: Any, info: ValidationInfo) -> Any:
        """Ask the provider's own model now, rather than hear its refusal mid-run."""
        name = info.field_name or ""
        field, provided = to_provider(name, value)
        try:
            FaultProfile.model_validate({field: provided})
        except ValidationError as exc:
            reason = exc.errors(include_url=False)[0]["msg"]
            if field != name:
                reason = f"the provider refuses {field}={provided!r}: {reason}"
            raise PydanticCustomError(
                "refused_by_provider", "{reason}", {"reason": reason}
            ) from None
        return value

    def admin_payload(self) -> dict[str, Any]:
        """The provider's admin API profile (``PUT /admin/profile``); an unset optional field
        (no rate limit) is left to the provider's default."""
        return dict(
            to_provider(name, getattr(self, name))
            for name in ON_THE_PROVIDER
            if getattr(self, name) is not None
        )

    def describe(self) -> str:
        """A short human label: ``latency 2s ±200ms``, ``30% 503``, ``outage``, ``healthy``."""
        parts = []
        if self.outage:
            return "outage: connection refused"
        if self.timeout_rate >= 1:
            return "never answers"
        if self.reset_rate >= 1:
            return "resets every connection"
        if self.latency or self.jitter:
            jitter = f" ±{format_duration(self.jitter)}" if self.jitter else ""
            parts.append(f"latency {format_duration(self.latency)}{jitter}")
        if self.error_rate:
            parts.append(f"{self.error_rate:.0%} {self.error_status}")
        if self.rate_limit is not None:
            parts.append(f"rate limit {self.rate_limit:g}/s")
        if self.timeout_rate:
            parts.append(f"{self.timeout_rate:.0%} never answered")
        if self.reset_rate:
            parts.append(f"{self.reset_rate:.0%} connection resets")
        return ", ".join(parts) or "healthy"


_SHORTHANDS: dict[str, dict[str, Any]] = {
    "healthy": {},
    "outage": {"outage": True},
    "timeout": {"timeout_rate": 1.0},
    "reset": {"reset_rate": 1.0},
}


class ProviderChange(OnlySetFields, ProviderProfile):
    """Fields of the provider's profile to change; unset fields keep the baseline's value."""

    def applied_to(self, baseline: ProviderProfile) -> ProviderProfile:
        return baseline.model_copy(update=self.changes())


def _shorthand(value: object) -> object:
    if isinstance(value, str):
        if value not in _SHORTHANDS:
            raise ValueError(
                f"expected one of {', '.join(_SHORTHANDS)} or a mapping of provider settings, "
                f"got {value!r}"
            )
        return _SHORTHANDS[value]
    return value
