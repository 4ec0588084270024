"""``<scenario>/manifest.json``: what one scenario run was — the scenario as run, its phases,
the versions and the machine, and one :class:`DesignEntry` per design (its target, its knobs
and its timing). Written by ``offload bench`` as the run goes, so that an interrupted run
still says how far it got."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import ConfigDict, Field, JsonValue

from loadtests.multihost import WorkerClock
from offload.rundir.files import Record, RunFile
from offload.rundir.floor import GeneratorFloor
from offload.rundir.run_info import GitInfo, MachineInfo
from offload.rundir.stack_floor import StackFloor


class PhaseRecord(Record):
    """One stretch of the measured part with one provider profile and load level."""

    name: str
    start_s: float
    end_s: float
    provider: str = ""

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class LoadRecord(Record):
    """The scenario's ``load`` block as run (figures the analysis and the report read)."""

    mode: Literal["open", "closed"] = "open"
    arrivals: str | None = None
    rate: float
    steps: list[JsonValue] | None = None
    duration: float
    warmup: float | None = None
    bystander_rate: float | None = None
    max_in_flight: int | None = None
    users: int | None = None
    poison_fraction: float | None = None
    seed: int | None = None


class ClientRecord(Record):
    timeout: float


class QuickRecord(Record):
    time_scale: float


class TargetChoice(Record):
    """A ``targets:`` entry that names a design of its own (``{target: async, name: ...}``)."""

    target: str
    name: str | None = None


class GateRecord(Record):
    """The scenario's ``gate`` section: ``{"sync.signup.p50": 0.1}``, fractions."""

    tolerances: dict[str, float] = Field(default_factory=dict)


class ScenarioRecord(Record):
    """The scenario exactly as it ran (already shortened by ``--quick``).

    Its full schema is the scenario file's (``offload/scenario``); the fields typed here are
    the ones the run directory's readers use. Every other field is kept as recorded, so the
    gate's identity of an experiment is computed from what the file says.
    """

    name: str
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    targets: list[str | TargetChoice] | None = None
    load: LoadRecord
    client: ClientRecord | None = None
    provider: dict[str, JsonValue] | None = None
    designs: dict[str, JsonValue] | None = None
    faults: list[JsonValue] | None = None
    drain: dict[str, JsonValue] | None = None
    expect: list[str] = Field(default_factory=list)
    #: the tolerances the scenario gives the gate (absent in runs recorded before it could)
    gate: GateRecord | None = None
    quick: QuickRecord | None = None

    @property
    def gate_tolerances(self) -> dict[str, float]:
        """The scenario's own gate tolerances by ``<design>.<metric>`` (none: the defaults)."""
        return dict(self.gate.tolerances) if self.gate is not None else {}

    @property
    def target_names(self) -> list[str]:
        """The designs the scenario lists, by the name each runs under."""
        return [t if isinstance(t, str) else (t.name or t.target) for t in (self.targets or [])]


class TargetRecord(Record):
    """What a design's target is (from its manifest, ``offload/target``)."""

    name: str
    kind: str
    #: how its server bounds concurrency (``processes``, ``threads``, ``event-loop``);
    #: absent from runs recorded before the manifest declared it
    concurrency: str | None = None
    description: str = ""
    metadata: dict[str, JsonValue] = Field(default_factory=dict)
    #: where the target was checked out (differs per machine; not part of its identity)
    directory: str | None = None


class DesignKnobs(Record):
    """The knobs a design ran with, as recorded (declared in ``offload/target/design_config``).

    Every field is optional: a target that takes no such knob has none recorded.
    """

    server_processes: int | None = None
    server_threads: int | None = None
    workers: int | None = None
    prefetch: int | None = None
    provider_timeout_s: float | None = None
    publish_timeout_s: float | None = None
    max_attempts: int | None = None
    retry_delays_s: list[float] | None = None


class DatabaseRecord(Record):
    """The database a design's run used; ``schema`` on PostgreSQL (one per run)."""

    model_config = ConfigDict(
        extra="allow", validate_assignment=True, validate_by_name=True, serialize_by_alias=True
    )

    kind: str
    #: ``schema`` in the file (the name would shadow a pydantic method)
    schema_name: str | None = Field(None, alias="schema")


class BrokerAccessRecord(Record):
    """The run's own vhost and per-role users on the broker (least privilege)."""

    vhost: str | None = None
    least_privilege: bool = False
    users: dict[str, str] = Field(default_factory=dict)
    note: str = ""


class BrokerRecord(Record):
    source: str
    owned: bool


class DesignEntry(Record):
    """One design's run, filled in as it goes: an entry with no ``t0_epoch`` never got as
    far as the load, one with no ``ended_at`` was cut short."""

    target: TargetRecord
    kind: str
    config: DesignKnobs
    #: the prefix of every queue of this design's run (designs with a broker)
    queue_prefix: str | None = None
    started_at: float | None = None
    database: DatabaseRecord | None = None
    broker_access: BrokerAccessRecord | None = None
    url: str | None = None
    #: processes started per process entry of the target's manifest
    processes: dict[str, int] = Field(default_factory=dict)
    #: CPUs each process entry was pinned to (its manifest's ``cpus``); absent = unpinned
    placement: dict[str, list[int]] = Field(default_factory=dict)
    #: epoch seconds of t=0 (start of the measured part) and of the end of the load
    t0_epoch: float | None = None
    load_end_epoch: float | None = None
    locust_exit_code: int | None = None
    #: epoch seconds when the drain ended (right after the load for a design without a queue)
    drain_end_epoch: float | None = None
    drained: bool | None = None
    unfinished_after_drain: int | None = None
    timeline_errors: list[str] = Field(default_factory=list)
    ended_at: float | None = None
    #: rows exported per database table
    tables: dict[str, int] = Field(default_factory=dict)
    #: why the database tables could not be exported after the run: the figures built on
    #: them (the email ledger, consistency, retries) then have no value and the run is invalid
    tables_error: str | None = None
    #: why the email figures were not measured by choice (an external target without a
    #: ledger): they have no value, and the run is not invalid for it
    ledger_not_measured: str | None = None
    #: ``--master-bind``: each Locust worker on another host, its share and its clock offset
    #: from the master's, measured at join (the analysis judges it against MAX_CLOCK_SKEW_S)
    remote_workers: list[WorkerClock] = Field(default_factory=list)


class ScenarioManifest(RunFile):
    """``<scenario>/manifest.json``: one scenario run (one repeat)."""

    FILE_NAME: ClassVar[str] = "manifest.json"
    WHAT: ClassVar[str] = "scenario manifest"

    scenario_file: str | None = None
    scenario: ScenarioRecord
    repeat: int = Field(1, ge=1)
    quick: bool = False
    phases: list[PhaseRecord]
    git: GitInfo | None = None
    #: package versions (python, offload, locust, ..., rabbitmq when a broker was used)
    versions: dict[str, str | None] = Field(default_factory=dict)
    machine: MachineInfo | None = None
    broker: BrokerRecord | None = None
    breaks_the_broker: bool = False
    started_at: float | None = None
    #: the generator's floor, measured before the designs ran (absent in older runs)
    floor: GeneratorFloor | None = None
    #: why ``floor`` is null: skipped (``--no-floor``), not applicable, or what failed
    floor_not_measured: str | None = None
    #: each design's server and framework alone, by design (``load.stack_floor``; absent
    #: without it)
    stack_floors: dict[str, StackFloor] = Field(default_factory=dict)
    designs: dict[str, DesignEntry] = Field(default_factory=dict)
    invalid_reasons: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    #: design -> why it did not run this scenario although its set names it
    skipped_designs: dict[str, str] = Field(default_factory=dict)
    ended_at: float | None = None
