"""``gate-run.json``: one ``offload gate --base`` invocation — what it compared, and how.

Why a file of its own: ``offload spread`` re-reads gate runs long after they ran, and what it
must know about each (whether the pairs ran side by side, each pair's order, which attempt of
a re-run pair the gate judged) was otherwise guessed from folder names and start times. The
gate writes this record when it starts, again when it learns something (a base too old for
side-by-side benches, a pair judged) and when it ends.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from offload.rundir.files import Record, RunFile
from offload.rundir.run_info import RunStatus

#: AB: the base's bench started first (one at a time: ran first); BA: the candidate's
PairOrder = Literal["AB", "BA"]


class GateRevision(Record):
    """A side's commit: what the user wrote (``HEAD~1``, a branch) and the commit it named."""

    ref: str
    sha: str


class JudgedPair(Record):
    """A pair the gate judged, and the folder of the attempt it judged (a pair with an invalid
    run is run again, in ``pair-K-rerun-1``)."""

    number: int
    order: PairOrder
    folder: str


class GateRunRecord(RunFile):
    """``gate-run.json`` at the top of an A/B gate's records (``reports/gate/runs/<time>/``)."""

    FILE_NAME: ClassVar[str] = "gate-run.json"
    WHAT: ClassVar[str] = "gate-run.json (an A/B gate run)"

    base: GateRevision
    #: the working tree's HEAD (the gate refuses a tree with uncommitted changes)
    candidate: GateRevision
    scenarios: list[str]
    quick: bool
    pairs: int
    seed: int
    #: the planned order of each pair, AB or BA
    orders: list[PairOrder]
    #: both benches of a pair ran at once; False: one after the other (asked, or a base too
    #: old for it)
    side_by_side: bool
    alpha: float
    started_at: float
    status: RunStatus
    ended_at: float | None = None
    judged: list[JudgedPair] = Field(default_factory=list)
