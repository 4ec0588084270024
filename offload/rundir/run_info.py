"""``run.json``: one ``offload bench`` invocation — what was asked, where, and how it ended."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from offload.rundir.files import Record, RunFile

#: ``running`` until the bench ends; a run killed outright (SIGKILL, power loss) stays so
RunStatus = Literal["running", "complete", "interrupted", "failed"]


class GitInfo(Record):
    """The commit the harness and the targets came from; ``dirty``: the tree had edits."""

    sha: str | None = None
    dirty: bool | None = None


class MachineInfo(Record):
    """The machine a run was measured on (``offload/run/metadata.py`` collects it)."""

    hostname: str | None = None
    platform: str | None = None
    cpus: int | None = None
    physical_cpus: int | None = None
    cpu_model: str | None = None
    cpu_mhz: int | None = None
    memory_gb: float | None = None
    load_average: list[float] | None = None
    python_executable: str | None = None


class RunInfo(RunFile):
    """``run.json`` at the top of a run directory."""

    FILE_NAME: ClassVar[str] = "run.json"
    WHAT: ClassVar[str] = "run.json (the bench invocation)"

    command: list[str]
    scenarios: list[str]
    quick: bool = False
    repeat: int = 1
    started_at: float
    git: GitInfo | None = None
    machine: MachineInfo | None = None
    status: RunStatus
    ended_at: float | None = None
    #: ``offload bench --set``: the set's name and the time scale it applied (None: none)
    scenario_set: str | None = None
    time_scale: float | None = None
    #: "scenario · design" -> why that design did not run that scenario (a set's design that
    #: uses no broker, under a scenario that breaks the broker)
    skipped: dict[str, str] = Field(default_factory=dict)
    #: scenario folder -> why its summary.json could not be computed at the end of the bench
    #: (its raw records are kept; ``offload report`` computes it again)
    summary_failures: dict[str, str] = Field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.status == "complete"
