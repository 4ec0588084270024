"""The email provider's behaviour: the baseline profile, and the changes a fault makes."""

from __future__ import annotations

from typing import Any

from pydantic import (
    Field,
)

from offload.scenario.base import StrictModel
from offload.units import Duration, Rate, format_duration


class ProviderProfile(StrictModel):
    """The email provider's behaviour (named after Toxiproxy's toxics where they match)."""

    latency: Duration = Field(0.0, ge=0, le=600)
    jitter: Duration = Field(0.0, ge=0, le=600)
    error_rate: float = Field(0.0, ge=0, le=1)
    error_status: int = Field(503, ge=500, le=599)
    #: accepted emails per second before 429 + Retry-After
    rate_limit: Rate | None = Field(None, gt=0)
    retry_after: Duration = Field(1.0, ge=0)
    #: fraction of requests accepted and never answered
    timeout_rate: float = Field(0.0, ge=0, le=1)
    #: fraction of connections reset without an answer
    reset_rate: float = Field(0.0, ge=0, le=1)
    #: the port refuses connections
    outage: bool = False

    def admin_payload(self) -> dict[str, Any]:
        """The provider's admin API profile (``PUT /admin/profile``)."""
        payload: dict[str, Any] = {
            "latency_ms": round(self.latency * 1000, 3),
            "jitter_ms": round(self.jitter * 1000, 3),
            "error_rate": self.error_rate,
            "error_status": self.error_status,
            "retry_after_s": self.retry_after,
            "timeout_rate": self.timeout_rate,
            "reset_rate": self.reset_rate,
            "outage": self.outage,
        }
        if self.rate_limit is not None:
            payload["rate_limit_per_s"] = self.rate_limit
        return payload

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


_SHORTHANDS = {
    "healthy": {},
    "outage": {"outage": True},
    "timeout": {"timeout_rate": 1.0},
    "reset": {"reset_rate": 1.0},
}


class ProviderChange(StrictModel):
    """Fields of the provider's profile to change; unset fields keep the baseline's value."""

    latency: Duration | None = Field(None, ge=0, le=600)
    jitter: Duration | None = Field(None, ge=0, le=600)
    error_rate: float | None = Field(None, ge=0, le=1)
    error_status: int | None = Field(None, ge=500, le=599)
    rate_limit: Rate | None = Field(None, gt=0)
    retry_after: Duration | None = Field(None, ge=0)
    timeout_rate: float | None = Field(None, ge=0, le=1)
    reset_rate: float | None = Field(None, ge=0, le=1)
    outage: bool | None = None

    def applied_to(self, baseline: ProviderProfile) -> ProviderProfile:
        return baseline.model_copy(update=self.model_dump(exclude_none=True))


def _shorthand(value: object) -> object:
    if isinstance(value, str):
        if value not in _SHORTHANDS:
            raise ValueError(
                f"expected one of {', '.join(_SHORTHANDS)} or a mapping of provider settings, "
                f"got {value!r}"
            )
        return _SHORTHANDS[value]
    return value
