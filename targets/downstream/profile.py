"""The provider's fault profile: what the harness can switch on, and nothing it cannot.

This is the one declaration of the profile — each field's type, unit, limits and default. A
field's unit is the suffix of its name (``_ms`` milliseconds, ``_s`` seconds, ``_per_s`` per
second). The admin API takes it as JSON; a scenario's ``provider:`` section and its fault
timeline are derived from it (``offload/scenario/provider.py``), so that a value the provider
would refuse is refused when the scenario is loaded. The model forbids unknown fields so that
a typo (``latncy_ms``) fails loudly instead of silently running a healthy provider. The
version is not part of the model: the provider assigns it each time a profile is installed,
so the delivery log can say which phase a request saw.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

#: recipient domain used for "poison" signups that the provider always refuses
POISON_DOMAIN = "bounce.invalid"


class FaultProfile(BaseModel):
    """One fault setting of the provider; all defaults together mean healthy.

    Applied to each request in this order: outage (listener closed) → reset → timeout →
    latency sleep → reject_domains → error_rate → rate limit → accept.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: added to every response (at most 10 minutes)
    latency_ms: float = Field(0.0, ge=0, le=600_000)
    #: uniform +/- jitter around latency_ms (the result is clamped at 0)
    jitter_ms: float = Field(0.0, ge=0, le=600_000)
    #: fraction of requests answered with error_status
    error_rate: float = Field(0.0, ge=0, le=1)
    error_status: int = Field(503, ge=500, le=599)
    #: token-bucket rate (burst = one second's worth); None means unlimited
    rate_limit_per_s: float | None = Field(None, gt=0)
    #: value of the Retry-After header on 429 answers, in whole seconds (RFC 9110)
    retry_after_s: int = Field(1, ge=0)
    #: fraction of requests accepted and never answered
    timeout_rate: float = Field(0.0, ge=0, le=1)
    #: fraction of requests whose TCP connection is reset (RST, no HTTP response)
    reset_rate: float = Field(0.0, ge=0, le=1)
    #: public listener closed: clients get "connection refused"
    outage: bool = False
    #: recipient domains always answered with a permanent 422
    reject_domains: tuple[str, ...] = (POISON_DOMAIN,)
    #: seed for the per-request dice, for reproducible runs
    seed: int | None = None

    @field_validator("reject_domains")
    @classmethod
    def _lower_domains(cls, domains: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(d.strip().lower() for d in domains)

    @property
    def healthy(self) -> bool:
        return self == FaultProfile()


def parse_profile(data: Any) -> FaultProfile:
    """Validate untrusted profile data (a PUT body, a scenario entry, a CLI argument).

    Raises ``ValueError`` whose message names each offending field, so that callers can show
    it as is. A ``version`` key is ignored: it is server-assigned, and a client that GETs the
    profile, changes one field and PUTs it back should not be refused for it.
    """
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k != "version"}
    try:
        return FaultProfile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(validation_problems(exc)) from exc


class ProfileError(ValueError):
    """An invalid fault profile; ``problems`` maps each field to what is wrong with it."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        super().__init__(
            "invalid fault profile: " + "; ".join(f"{k}: {v}" for k, v in problems.items())
        )


def validation_problems(exc: ValidationError) -> dict[str, str]:
    """pydantic's errors as ``{"field.path": "message"}`` (``"(body)"`` for the whole input)."""
    problems: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"]) or "(body)"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown field (allowed: " + ", ".join(FaultProfile.model_fields) + ")"
        problems[field] = message
    return problems
