"""Scenario files: a load profile, a fault timeline and expectations, validated by pydantic.

A scenario is the unit users write and share, so a malformed one must fail with one message
that names the file, the field and what was expected — never a traceback. The schema is
documented for users in ``scenarios/README.md``; keep the two in step.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from offload.design_config import DesignConfig
from offload.errors import ScenarioError
from offload.units import Duration, Rate, format_duration

SCENARIOS_DIR = Path(__file__).resolve().parent.parent / "scenarios"
RESERVED_PHASES = {"overall", "warmup", "drain"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


PhaseName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]


class LoadStep(_Strict):
    """From ``at``, move the signup rate to ``rate`` (over ``ramp``; 0 is a step)."""

    at: Duration = Field(ge=0)
    rate: Rate = Field(ge=0)
    ramp: Duration = Field(0.0, ge=0)
    #: start a new reporting phase here (e.g. "spike")
    phase: PhaseName | None = None


class Load(_Strict):
    mode: Literal["open", "closed"] = "open"
    arrivals: Literal["poisson", "constant"] = "poisson"
    #: signups per second at the start of the measured part
    rate: Rate = Field(gt=0)
    steps: list[LoadStep] = Field(default_factory=list)
    duration: Duration = Field(gt=0, le=3600)
    warmup: Duration = Field(5.0, ge=0, le=600)
    #: GET /users/{id} and GET /healthz per second, on the same servers
    bystander_rate: Rate = Field(0.0, ge=0)
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


class Client(_Strict):
    #: the load generator's timeout for every request (connect + read)
    timeout: Duration = Field(5.0, gt=0, le=300)


class ProviderProfile(_Strict):
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


class ProviderChange(_Strict):
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


class WorkerFault(_Strict):
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


BrokerAction = Literal["down", "up", "blocked", "unblocked"]


class FaultEvent(_Strict):
    """At ``at`` seconds into the measured part, change the provider, the broker or the
    workers (a new phase starts).

    ``downstream: healthy`` (an empty change) returns the provider to the scenario's baseline;
    ``broker: up`` / ``unblocked`` end a broker fault.
    """

    at: Duration = Field(ge=0)
    phase: PhaseName | None = None
    downstream: ProviderChange | None = None
    broker: BrokerAction | None = None
    workers: WorkerFault | None = None

    @field_validator("downstream", mode="before")
    @classmethod
    def _expand(cls, value: object) -> object:
        return _shorthand(value)

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        if self.downstream is None and self.broker is None and self.workers is None:
            raise ValueError("give at least one of downstream, broker or workers")
        return self

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
        return "; ".join(parts)


class Designs(_Strict):
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


class DesignOverrides(_Strict):
    """Per-variant changes to the shared design knobs (e.g. ``workers: 8``)."""

    server_processes: int | None = Field(None, ge=1, le=64)
    workers: int | None = Field(None, ge=0, le=64)
    prefetch: int | None = Field(None, ge=1, le=10_000)
    provider_timeout: Duration | None = Field(None, gt=0, le=120)
    publish_timeout: Duration | None = Field(None, gt=0, le=60)
    max_attempts: int | None = Field(None, ge=1, le=100)
    retry_delays: list[Duration] | None = Field(None, min_length=1)


class TargetSpec(_Strict):
    """One design to run: a target (built-in name or directory) under a name of its own,
    with its own knobs — ``{target: async, name: async-w8, designs: {workers: 8}}``."""

    target: str
    name: str | None = Field(None, pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    designs: DesignOverrides = Field(default_factory=DesignOverrides)


class Variant(_Strict):
    """A design as the bench runs it: which target, under which name, with which knobs."""

    target: str
    #: None: the target manifest's own name
    name: str | None
    config: DesignConfig


class Drain(_Strict):
    #: how long the async design may take to finish its backlog after the load stops
    timeout: Duration = Field(60.0, ge=0, le=3600)


class Quick(_Strict):
    #: QUICK=1 multiplies every time offset and duration (not latencies) by this
    time_scale: float = Field(0.3, gt=0, le=1)


class Phase(_Strict):
    """A stretch of the measured part with one provider profile and load level."""

    name: str
    start_s: float
    end_s: float
    provider: str

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class Scenario(_Strict):
    name: str
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    #: designs to run: a target name or directory, or a TargetSpec with a name and knobs
    targets: list[str | TargetSpec] = Field(default_factory=lambda: ["sync", "async"], min_length=1)
    load: Load
    client: Client = Field(default_factory=Client)
    #: the provider's normal behaviour; ``healthy`` in the timeline returns to it
    provider: ProviderProfile = Field(default_factory=ProviderProfile)
    designs: Designs = Field(default_factory=Designs)
    faults: list[FaultEvent] = Field(default_factory=list)
    drain: Drain = Field(default_factory=Drain)
    expect: list[str] = Field(default_factory=list)
    quick: Quick = Field(default_factory=Quick)

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be lowercase letters, digits and dashes, e.g. slow-downstream")
        return value

    @field_validator("targets")
    @classmethod
    def _names_unique(cls, value: list[str | TargetSpec]) -> list[str | TargetSpec]:
        names = [t if isinstance(t, str) else (t.name or t.target) for t in value]
        if len(set(names)) != len(names):
            raise ValueError(f"design names must be unique (got {names}); give each a name:")
        return value

    def variants(self) -> list[Variant]:
        """Every design of the scenario with its own knobs (shared ones, then its overrides)."""
        shared = self.designs.model_dump()
        variants = []
        for entry in self.targets:
            spec = TargetSpec(target=entry) if isinstance(entry, str) else entry
            knobs = {**shared, **spec.designs.model_dump(exclude_none=True)}
            variants.append(
                Variant(target=spec.target, name=spec.name, config=Designs(**knobs).config())
            )
        return variants

    @field_validator("expect")
    @classmethod
    def _expectations_parse(cls, value: list[str]) -> list[str]:
        """Reject a malformed expectation now rather than at the end of a long run."""
        from offload.gate.expressions import parse_expectation

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
        """What a phase starting at ``t`` looks like: provider, broker and workers."""
        label = self.provider_at(t).describe()
        broker = self.broker_at(t)
        if broker != "up":
            label += f"; broker {broker}"
        workers = [f.workers for f in self.faults if f.at <= t and f.workers is not None]
        if workers and workers[-1] is not None:
            label += f"; {workers[-1].describe()}"
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
        faults = [f.model_copy(update={"at": f.at * k}) for f in self.faults]
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


def load_scenario(path: Path | str) -> Scenario:
    """Read and validate one scenario file; every problem becomes one :class:`ScenarioError`."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario file ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"{path}: not valid YAML{where}: {problem}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{path}: expected a mapping of scenario fields (name, load, faults, ...), "
            f"got {type(data).__name__}"
        )
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(describe_validation_error(path, exc)) from exc


def describe_validation_error(path: Path, exc: ValidationError) -> str:
    """``file: field 'a.b[2].c': what was expected`` — one line per problem."""
    lines = []
    for error in exc.errors(include_url=False):
        where = _field_path(error["loc"])
        lines.append(f"{path}: field '{where}': {_expected(error)}")
    return "\n".join(lines)


def _field_path(loc: Iterable[Any]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in (
            "ProviderChange",
            "function-before[_expand(), union[ProviderChange,literal['healthy']]]",
        ) or (
            isinstance(part, str) and (part.startswith("literal[") or part.startswith("function-"))
        ):
            continue
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _expected(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field (check the spelling; see scenarios/README.md for the schema)"
    if kind == "missing":
        return "field required"
    message = str(error["msg"]).removeprefix("Value error, ")
    if "input" in error and kind not in ("value_error",):
        message += f" (got {error['input']!r})"
    return message


def scenario_path(name_or_path: str) -> Path:
    """A shipped scenario by name (``slow-downstream``) or any YAML file path."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        return candidate
    shipped = SCENARIOS_DIR / f"{name_or_path}.yaml"
    if shipped.exists():
        return shipped
    known = ", ".join(sorted(p.stem for p in SCENARIOS_DIR.glob("*.yaml")))
    raise ScenarioError(
        f"no scenario named {name_or_path!r} (shipped: {known}; or give a file path)"
    )


def shipped_scenarios(tag: str | None = None) -> list[Path]:
    """Shipped scenario files, optionally only those tagged ``tag`` (e.g. default, gate)."""
    paths = sorted(SCENARIOS_DIR.glob("*.yaml"))
    if tag is None:
        return paths
    return [p for p in paths if tag in load_scenario(p).tags]
