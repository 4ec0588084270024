"""The fault timeline: provider, broker, worker and API-process changes at offsets of the
measured part."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from offload.scenario.base import PhaseName, StrictModel
from offload.scenario.provider import ProviderChange, ProviderProfile, _shorthand
from offload.units import Duration, format_duration


class WorkerFault(StrictModel):
    """Crash or resize the queue workers (designs with workers only)."""

    #: SIGKILL this many worker processes (the newest first)
    kill: int | None = Field(None, ge=1, le=64)
    #: restart the killed workers after this long (omit: they stay down)
    restart_after: Duration | None = Field(None, ge=0)
    #: scale the worker pool to this many processes (SIGTERM the extra ones gracefully)
    scale: int | None = Field(None, ge=0, le=64)

    @model_validator(mode="after")
    def _one_action(self) -> Self:
        if (self.kill is None) == (self.scale is None):
            raise ValueError("give exactly one of kill: N or scale: N")
        if self.restart_after is not None and self.kill is None:
            raise ValueError("restart_after goes with kill")
        return self

    def describe(self) -> str:
        if self.kill is not None:
            again = (
                f", restarted after {format_duration(self.restart_after)}"
                if self.restart_after is not None
                else ""
            )
            return f"{self.kill} worker(s) killed{again}"
        return f"workers scaled to {self.scale}"


#: how long a single-process server stays down after ``api: {kill: 1}`` when the scenario
#: gives no ``restart_after`` (nothing else would restart it)
SINGLE_PROCESS_RESTART_S = 5.0


class ApiFault(StrictModel):
    """The API dies: SIGKILL server worker processes (every design has a server).

    The server's own supervisor (gunicorn's arbiter, uvicorn's process manager) restarts them,
    as in production; ``restart_after`` holds that supervisor (SIGSTOP) for so long first, a
    slow restart. A server that runs as one process is itself killed and restarted by the
    harness after ``restart_after`` (default :data:`SINGLE_PROCESS_RESTART_S`).
    """

    #: SIGKILL this many server worker processes (the newest first); at most the design's
    #: server_processes (checked against each design before the bench starts)
    kill: int = Field(ge=1, le=64)
    #: keep the killed capacity down this long before the server's supervisor restarts it
    #: (omit: it restarts them at once)
    restart_after: Duration | None = Field(None, ge=0)

    def describe(self) -> str:
        again = (
            f", restarted after {format_duration(self.restart_after)}"
            if self.restart_after is not None
            else ", restarted by the server"
        )
        return f"{self.kill} API process(es) killed{again}"


BrokerAction = Literal["down", "up", "blocked", "unblocked"]


class FaultEvent(StrictModel):
    """At ``at`` seconds into the measured part, change the provider, the broker or the
    workers, or kill API processes (a new phase starts).

    ``downstream: healthy`` (an empty change) returns the provider to the scenario's baseline;
    ``broker: up`` / ``unblocked`` end a broker fault.
    """

    at: Duration = Field(ge=0)
    phase: PhaseName | None = None
    downstream: ProviderChange | None = None
    broker: BrokerAction | None = None
    workers: WorkerFault | None = None
    api: ApiFault | None = None

    @model_serializer(mode="wrap")
    def _no_null_api(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave ``api`` out unless set: a recorded scenario (the gate's identity of an
        experiment, stored in baselines) must not change for a fault it never had."""
        data: dict[str, Any] = handler(self)
        if data.get("api", ...) is None:
            del data["api"]
        return data

    @field_validator("downstream", mode="before")
    @classmethod
    def _expand(cls, value: object) -> object:
        return _shorthand(value)

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        if (
            self.downstream is None
            and self.broker is None
            and self.workers is None
            and self.api is None
        ):
            raise ValueError("give at least one of downstream, broker, workers or api")
        return self

    def scaled(self, k: float) -> FaultEvent:
        """The event with its offset and its restart delays multiplied by ``k`` (QUICK=1, a
        set's time_scale): a restart must keep its place in the shortened timeline."""
        update: dict[str, Any] = {"at": self.at * k}
        for name in ("workers", "api"):
            fault = getattr(self, name)
            if fault is not None and fault.restart_after is not None:
                update[name] = fault.model_copy(update={"restart_after": fault.restart_after * k})
        return self.model_copy(update=update)

    def profile(self, baseline: ProviderProfile) -> ProviderProfile:
        """The provider's profile this event sets (``baseline`` when it leaves the provider
        alone — prefer :meth:`Scenario.provider_at`, which knows the earlier changes)."""
        return self.downstream.applied_to(baseline) if self.downstream else baseline

    def default_phase_name(self, baseline: ProviderProfile) -> str:
        if self.broker is not None:
            return {"down": "broker-down", "blocked": "broker-blocked"}.get(self.broker, "recovery")
        if self.workers is not None:
            if self.workers.kill is not None:
                return "worker-crash"
            return f"workers-{self.workers.scale}"
        if self.api is not None:
            return "api-crash"
        profile = self.downstream.applied_to(baseline) if self.downstream else baseline
        if profile == baseline:
            return "recovery"
        if profile.outage:
            return "outage"
        if profile.timeout_rate:
            return "timeouts"
        if profile.reset_rate:
            return "resets"
        if profile.error_rate:
            return "errors"
        if profile.rate_limit is not None:
            return "rate-limited"
        return "slow"

    def describe(self, baseline: ProviderProfile) -> str:
        parts = []
        if self.downstream is not None:
            parts.append(f"provider: {self.downstream.applied_to(baseline).describe()}")
        if self.broker is not None:
            parts.append(f"broker {self.broker}")
        if self.workers is not None:
            parts.append(self.workers.describe())
        if self.api is not None:
            parts.append(self.api.describe())
        return "; ".join(parts)
