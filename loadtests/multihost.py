"""What a run spread over hosts shares, free of Locust: the clock-skew estimate, the chunked
transfer of a worker's records, and ``distributed.json`` (the master's account of its workers).

Kept apart from ``loadtests.distributed`` (the Locust hooks) so the harness can read these
models without importing Locust, which patches the standard library with gevent on import.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from loadtests.atomic import write_atomically

__all__ = [
    "CHUNK_BYTES",
    "CLOCK_SAMPLES",
    "RECEIVED_PLAN_FILE",
    "RUN_FILE",
    "START_LEAD_S",
    "ClockSample",
    "DistributedRun",
    "RecordsAssembler",
    "TransferError",
    "WorkerClock",
    "best_clock",
    "chunks",
    "clock_sample",
]

#: the file the master writes beside its records: t=0, each worker's clock, files received
RUN_FILE = "distributed.json"
#: the plan as a worker received it, in its records directory (``offload load-worker`` reads
#: it to know that the master answered and how long the run lasts)
RECEIVED_PLAN_FILE = "received-plan.json"
#: clock samples per worker at join; the one with the smallest round trip is kept
CLOCK_SAMPLES = 5
#: seconds between fixing t=0 and the start of the warm-up: the plan's trip to each worker
#: and the start of its user (milliseconds on a LAN; the rest is margin)
START_LEAD_S = 1.5
#: bytes of a file per message: Locust's messages are whole ZeroMQ frames held in memory on
#: both sides, so a large records file goes in pieces (1 MiB is ~10,000 records)
CHUNK_BYTES = 1 << 20

MSG_WORKER_READY = "offload_worker_ready"
MSG_WORKER_DONE = "offload_worker_done"
MSG_PLAN = "offload_plan"
MSG_CLOCK = "offload_clock"
MSG_CLOCK_REPLY = "offload_clock_reply"
MSG_RECORDS = "offload_records"

#: the only file names a worker may send: its records and its self-measurement
_RECORD_NAME = re.compile(r"^requests(\.w\d+)?(\.csv|\.generator\.json)$")


class TransferError(ValueError):
    """A records transfer that cannot be reassembled (a bad name, a missing or foreign chunk,
    a digest that does not match): the file is not written, and the run says so."""


# -- clock skew -------------------------------------------------------------------------


class ClockSample(BaseModel):
    """One NTP-style exchange: master send ``t1``, worker clock ``t2``, master receipt ``t3``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    t1: float
    t2: float
    t3: float

    @property
    def offset_s(self) -> float:
        """Worker clock minus master clock (positive: the worker's clock is ahead)."""
        return self.t2 - (self.t1 + self.t3) / 2

    @property
    def round_trip_s(self) -> float:
        return self.t3 - self.t1


def clock_sample(t1: float, t2: float, t3: float) -> ClockSample:
    """A sample, refusing one whose receipt precedes its send (not an exchange at all)."""
    if t3 < t1:
        raise ValueError(f"clock sample received ({t3}) before it was sent ({t1})")
    return ClockSample(t1=t1, t2=t2, t3=t3)


def best_clock(samples: list[ClockSample]) -> ClockSample:
    """The sample with the smallest round trip: its offset has the tightest bound
    (the true offset lies within half the round trip of it)."""
    if not samples:
        raise ValueError("no clock samples")
    return min(samples, key=lambda s: s.round_trip_s)


class WorkerClock(BaseModel):
    """One remote worker as the master saw it: which share it ran and how far its clock was."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0)
    #: Locust's id of the worker (its host name and a random suffix)
    client_id: str
    #: worker clock minus master clock, seconds (from the sample with the smallest round trip)
    offset_s: float | None = None
    #: that sample's round trip; the true offset lies within half of it of ``offset_s``
    round_trip_s: float | None = None
    samples: int = 0
    #: files that came back complete (digest checked) into the master's records folder
    records_received: list[str] = Field(default_factory=list)
    #: why a file did not come back whole
    transfer_errors: list[str] = Field(default_factory=list)


class DistributedRun(BaseModel):
    """``distributed.json``: what the master knows of a run spread over hosts."""

    model_config = ConfigDict(extra="forbid")

    t0_epoch: float
    worker_count: int = Field(ge=1)
    workers: list[WorkerClock] = Field(default_factory=list)
    #: True once the master wrote it at its exit (the workers' records are all in)
    complete: bool = False

    @classmethod
    def read(cls, path: Path) -> DistributedRun:
        return cls.model_validate_json(path.read_text())

    def write(self, path: Path) -> None:
        """Write atomically: the harness polls for this file while the master writes it."""
        write_atomically(path, self.model_dump_json(indent=2))


# -- records transfer -------------------------------------------------------------------


def chunks(name: str, data: bytes, size: int = CHUNK_BYTES) -> Iterator[dict[str, Any]]:
    """The messages that carry one file: at least one (an empty file is one empty chunk)."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1 byte, got {size}")
    digest = hashlib.sha256(data).hexdigest()
    parts = max(1, -(-len(data) // size))
    for part in range(parts):
        yield {
            "name": name,
            "part": part,
            "parts": parts,
            "sha256": digest,
            "data": data[part * size : (part + 1) * size],
        }


class RecordsAssembler:
    """Puts files back together from their chunks, one sender at a time per file name."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, str], dict[int, bytes]] = {}
        self._shape: dict[tuple[str, str], tuple[int, str]] = {}

    def add(self, sender: str, chunk: dict[str, Any]) -> tuple[str, bytes] | None:
        """Take one chunk; the file's name and bytes once its last chunk is in, else None."""
        try:
            name, part, parts = str(chunk["name"]), int(chunk["part"]), int(chunk["parts"])
            digest, data = str(chunk["sha256"]), bytes(chunk["data"])
        except (KeyError, TypeError, ValueError) as exc:
            raise TransferError(f"malformed records chunk from {sender}: {exc!r}") from exc
        if not _RECORD_NAME.match(name):
            raise TransferError(
                f"{sender} sent {name!r}: only requests[.w<i>].csv and its .generator.json "
                "may come back"
            )
        key = (sender, name)
        shape = self._shape.setdefault(key, (parts, digest))
        if shape != (parts, digest) or not 0 <= part < parts:
            self._drop(key)
            raise TransferError(f"{name} from {sender}: chunk {part} of {parts} does not fit")
        received = self._pending.setdefault(key, {})
        received[part] = data
        if len(received) < parts:
            return None
        self._drop(key)
        whole = b"".join(received[i] for i in range(parts))
        if hashlib.sha256(whole).hexdigest() != digest:
            raise TransferError(f"{name} from {sender}: SHA-256 does not match after reassembly")
        return name, whole

    def incomplete(self) -> list[tuple[str, str]]:
        """(sender, name) of files some of whose chunks never arrived."""
        return list(self._pending)

    def _drop(self, key: tuple[str, str]) -> None:
        self._pending.pop(key, None)
        self._shape.pop(key, None)
