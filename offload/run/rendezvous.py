"""Benches that start their load together: one t=0 agreed through a shared folder.

The A/B gate measures the base and the candidate *side by side*: both revisions' benches run
at once on one machine, and before each design's load every bench waits here for the others,
so that their arrival schedules share one t=0. Whatever else the machine does then (a noisy
neighbour's steal, a busy core) lands on both sides within the same second, and cancels in the
pair's difference; run one after the other, it does not (docs/gate.md, "serving base and
candidate at once").

The folder is the only channel, so benches of different revisions (each its own interpreter
and code) can meet: each party writes its proposed t=0 into ``<folder>/<key>/<party>.json``
(atomically: a rename), waits until ``parties`` proposals for that key exist, and takes the
latest one, which still leaves every party its full lead. A party that gives up before it
proposes (its design did not start) writes ``<party>.abandoned``, so the others stop waiting at
once instead of at the timeout; whoever started the benches writes ``closed`` once one of
them has ended, so that no one waits for a bench that is gone.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from offload.errors import OffloadError

#: written into the folder by whoever started the benches once one of them has ended
CLOSED = "closed"
#: how long a party waits for the others before the design's run is given up
DEFAULT_TIMEOUT_S = 180.0
POLL_S = 0.02


class RendezvousFailed(OffloadError):
    """The other benches did not arrive: this design's run cannot be side by side."""


@dataclass
class Rendezvous:
    """Where the benches of one side-by-side run meet (``offload bench --rendezvous DIR``)."""

    directory: Path
    parties: int = 2
    timeout_s: float = DEFAULT_TIMEOUT_S
    #: this bench's name in the folder (unique per process)
    party: str = field(default_factory=lambda: f"{os.uname().nodename}-{os.getpid()}")
    #: keys this bench proposed a t=0 for (the others are abandoned when it gives up)
    joined: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.parties < 2:
            raise ValueError(f"a rendezvous needs at least 2 parties, got {self.parties}")

    def agree_t0(self, key: str, proposed_t0: float) -> float:
        """Propose ``proposed_t0`` for ``key``; return the t=0 all parties will use."""
        folder = self._folder(key)
        self._write(folder / f"{self.party}.json", {"t0_epoch": proposed_t0})
        self.joined.add(key)
        deadline = time.monotonic() + self.timeout_s
        while True:
            proposals = self._proposals(folder)
            if len(proposals) >= self.parties:
                return max(proposals.values())
            abandoned = sorted(p.stem for p in folder.glob("*.abandoned"))
            if abandoned:
                raise RendezvousFailed(
                    f"the other side of this side-by-side run gave up before its load started "
                    f"({', '.join(abandoned)}; see its log)"
                )
            if (self.directory / CLOSED).exists():
                raise RendezvousFailed(
                    "the other side's bench ended before this design's load could start with it"
                )
            if time.monotonic() > deadline:
                raise RendezvousFailed(
                    f"the other side of this side-by-side run did not reach its load within "
                    f"{self.timeout_s:.0f} s ({len(proposals)} of {self.parties} arrived; "
                    f"folder {folder})"
                )
            time.sleep(POLL_S)

    def abandon(self, key: str) -> None:
        """Tell the other parties not to wait for this bench at ``key`` (no-op once joined)."""
        if key in self.joined:
            return
        self._write(self._folder(key) / f"{self.party}.abandoned", {"at": time.time()})

    def _folder(self, key: str) -> Path:
        folder = self.directory / re.sub(r"[^A-Za-z0-9_.-]", "_", key)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @staticmethod
    def _write(path: Path, data: dict[str, float]) -> None:
        partial = path.with_name(f".{path.name}.partial")
        partial.write_text(json.dumps(data))
        os.replace(partial, path)

    @staticmethod
    def _proposals(folder: Path) -> dict[str, float]:
        proposals = {}
        for path in folder.glob("*.json"):
            proposals[path.stem] = float(json.loads(path.read_text())["t0_epoch"])
        return proposals
