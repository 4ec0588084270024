"""The provider's delivery log: the ground truth of the delivery ledger.

One JSON line per request, written at the request's final outcome and flushed at once, so
that a provider killed mid-run keeps every line it wrote. An email counts as delivered if and
only if a ``delivered`` line exists: the line is written before the response is sent, which
is exactly the ambiguity a real provider creates (accepted, but the answer lost).

Reopening an existing log rebuilds the delivered keys, so deduplication survives a restart.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO


class DeliveryLogError(ValueError):
    """A file that is not a delivery log (a corrupt line before the last one)."""


class Outcome(StrEnum):
    """Final outcome of one request, as the provider saw it."""

    DELIVERED = "delivered"
    #: a repeat of an Idempotency-Key already delivered: answered, but no second email
    DUPLICATE = "duplicate"
    ERROR = "error"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    RESET = "reset"
    REJECTED = "rejected"
    BAD_REQUEST = "bad_request"


#: every line has exactly these keys, in this order
FIELDS = (
    "ts",
    "done_ts",
    "key",
    "job_id",
    "user_id",
    "email",
    "correlation_id",
    "attempt",
    "outcome",
    "status",
    "profile_version",
    "message_id",
)


class DeliveryLog:
    """Append-only JSONL writer that also remembers which idempotency keys were delivered."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        #: Idempotency-Key → message_id of its one delivered email
        self.delivered: dict[str, str] = {}
        self.counts: Counter[str] = Counter({outcome.value: 0 for outcome in Outcome})
        self._file: TextIO | None = None

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> DeliveryLog:
        """Open ``path`` for appending, after replaying what an earlier provider wrote."""
        log = cls(Path(path))
        log.path.parent.mkdir(parents=True, exist_ok=True)
        if log.path.exists():
            _drop_torn_tail(log.path)
            for record in read_log(log.path):
                log._remember(record)
        log._file = open(log.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        return log

    def _remember(self, record: dict[str, Any]) -> None:
        self.counts[record["outcome"]] += 1
        key = record.get("key")
        if record["outcome"] == Outcome.DELIVERED and key is not None:
            self.delivered.setdefault(key, record.get("message_id") or "")

    def append(self, record: dict[str, Any]) -> None:
        """Write one line and flush it; synchronous, so no other request runs in between."""
        if self._file is None:
            raise RuntimeError("delivery log is closed")
        line = {name: record.get(name) for name in FIELDS}
        self._file.write(json.dumps(line, separators=(",", ":")) + "\n")
        self._file.flush()
        self._remember(line)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    @property
    def closed(self) -> bool:
        return self._file is None


def read_log(path: str | os.PathLike[str], since: float | None = None) -> list[dict[str, Any]]:
    """Every record of a delivery log, oldest first (``since``: only records with ts >= since).

    A torn last line (the provider was killed while writing it) is skipped; a corrupt line
    anywhere else means the file is not a delivery log, and raises :class:`DeliveryLogError`.
    """
    path = Path(path)
    records: list[dict[str, Any]] = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = fh.read().split("\n")
    # a complete file ends with "\n", so its last element is ""; anything else is torn
    complete = lines[:-1]
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DeliveryLogError(f"{path}:{number}: not a delivery-log line ({exc.msg})") from exc
        if not isinstance(record, dict) or "outcome" not in record:
            raise DeliveryLogError(f"{path}:{number}: not a delivery-log record")
        if since is None or record.get("ts", 0) >= since:
            records.append(record)
    return records


def _drop_torn_tail(path: Path) -> None:
    """Cut a half-written last line, so the next line does not get glued onto it."""
    with open(path, "rb+") as fh:
        data = fh.read()
        if data and not data.endswith(b"\n"):
            fh.truncate(data.rfind(b"\n") + 1)
