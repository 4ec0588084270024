"""Per-request records: one CSV row per scheduled request, the raw material of every figure.

Latency from the scheduled time is ``ended - scheduled``; service time is ``ended - sent``.
Times are epoch seconds derived from one monotonic clock (``t0_epoch + elapsed``), so
differences between them are exact even if the wall clock is adjusted during a run.
Rows are appended as the run goes, so an interrupted run keeps what it had.
"""

from __future__ import annotations

import csv
import socket
import ssl
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path

import gevent

__all__ = ["FIELDS", "ErrorClass", "RecordWriter", "RequestRecord", "classify", "record_row"]


class ErrorClass(StrEnum):
    """Why a request failed; the empty string means it succeeded."""

    OK = ""
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    CONNECTION = "connection"
    TIMEOUT = "timeout"
    #: never sent: no free in-flight slot within max_start_delay_s of its schedule
    DROPPED = "dropped"


@dataclass(slots=True)
class RequestRecord:
    """What happened to one scheduled request."""

    stream: str
    name: str
    #: "warmup" (negative offset) or "measured"
    phase: str
    #: seconds from t=0 of the schedule
    offset: float
    scheduled: float
    sent: float | None
    ended: float
    status: int | None
    error_class: str
    #: the start was delayed because every in-flight slot was taken
    waited_for_slot: bool
    correlation_id: str
    user_id: str = ""
    job_id: str = ""
    bytes: int = 0
    #: the exception text for failures, to tell a reset from a refusal when debugging
    error_detail: str = ""


FIELDS = [f.name for f in fields(RequestRecord)]


def _is_timeout(exc: BaseException) -> bool:
    if isinstance(exc, (TimeoutError, socket.timeout, gevent.Timeout)):
        return True
    return isinstance(exc, ssl.SSLError) and "timed out" in str(exc)


def classify(status: int | None, error: BaseException | None) -> ErrorClass:
    """Map an outcome to its class; status wins over the exception that reports it.

    geventhttpclient (measured): a hung server gives ``RetriesExceeded`` wrapping a
    ``TimeoutError`` in ``.original``; refusals give ``ConnectionRefusedError``; a closed or
    reset connection gives ``HTTPConnectionClosed``; garbage gives ``HTTPParseError``;
    4xx/5xx come back as a response carrying a ``LocustBadStatusCode``.
    """
    if status:
        if status >= 500:
            return ErrorClass.HTTP_5XX
        if status >= 400:
            return ErrorClass.HTTP_4XX
    if error is None:
        return ErrorClass.OK
    original = getattr(error, "original", None)
    if _is_timeout(error) or (isinstance(original, BaseException) and _is_timeout(original)):
        return ErrorClass.TIMEOUT
    return ErrorClass.CONNECTION


def _epoch_text(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def record_row(record: RequestRecord) -> tuple[str | int, ...]:
    """The record as a CSV row in ``FIELDS`` order (timestamps to the microsecond)."""
    return (
        record.stream,
        record.name,
        record.phase,
        f"{record.offset:.6f}",
        _epoch_text(record.scheduled),
        _epoch_text(record.sent),
        _epoch_text(record.ended),
        "" if record.status is None else record.status,
        record.error_class,
        "true" if record.waited_for_slot else "false",
        record.correlation_id,
        record.user_id,
        record.job_id,
        record.bytes,
        record.error_detail,
    )


def unlink_failure(error: BaseException | None, depth: int = 5) -> None:
    """Drop the tracebacks of a recorded failure's exception and of those it wraps
    (geventhttpclient's ``RetriesExceeded.original``, ``__cause__``, ``__context__``), so
    that reference counting frees them instead of the cyclic GC."""
    while error is not None and depth > 0:
        error.__traceback__ = None
        inner = getattr(error, "original", None) or error.__cause__ or error.__context__
        error.__cause__ = error.__context__ = None
        error = inner if isinstance(inner, BaseException) else None
        depth -= 1


#: seconds between the generator's appends of its records to the CSV file: a reader of the
#: file while the load runs (the live view) sees requests that ended up to this long ago
FLUSH_INTERVAL_S = 1.0


class RecordWriter:
    """Appends records to a CSV file, writing the header only when the file is new or empty.

    Rows are formatted when added, one request at a time, so that a flush is a single
    C-level ``writerows``: a flush that formats a second's worth of rows at 1,000
    requests/s held the event loop for ~10 ms, and every request due meanwhile left late.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pending: list[tuple[str | int, ...]] = []
        self.written = 0

    def add(self, record: RequestRecord) -> None:
        self._pending.append(record_row(record))

    def flush(self) -> int:
        """Write what is pending; returns the number of rows written. Safe to call often."""
        if not self._pending:
            return 0
        batch, self._pending = self._pending, []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists() or self.path.stat().st_size == 0
        with self.path.open("a", newline="") as fh:
            writer = csv.writer(fh)
            if new:
                writer.writerow(FIELDS)
            writer.writerows(batch)
        self.written += len(batch)
        return len(batch)
