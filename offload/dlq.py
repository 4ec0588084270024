"""The async design's dead letters: read them without consuming them, and send them back.

Reading (``offload dlq show``) takes messages with ``basic_get`` and never acknowledges them;
closing the channel hands them back, and RabbitMQ puts unacknowledged messages of a classic
queue back in their original places. A reader killed half-way loses its connection, which has
the same effect: a peek cannot consume, reorder or lose anything.

Re-driving (``offload dlq replay``) does, for one job at a time::

    1. reset the job to queued (unless it was delivered) and add a job_events row; commit;
    2. publish a copy to the jobs exchange with x-attempt 1 (publisher-confirmed, mandatory);
    3. ack the dead letter.

The reset comes first and is committed because the worker skips any job whose recorded state
is finished: a copy that reached a worker while the job still read ``dead_lettered`` would be
acked and dropped. (Holding the reset's transaction open across the publish is not enough:
PostgreSQL's UPDATE filters on the last committed row, so the worker would not even wait.)

A crash at any point duplicates work and never loses a job. After 1: the job reads ``queued``
and its dead letter is still there; the next replay picks it up again (any state but
``delivered`` is replayed). After 2: the copy gets delivered, the dead letter stays behind as a
stale copy, and the next replay finds the job ``delivered`` and removes it. The provider dedupes
on the job id, so a duplicate attempt never sends a second email. When the broker refuses the
copy, the reset is undone (if no worker has started on the job meanwhile).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pika
import pika.exceptions
import sqlalchemy as sa
from pika.adapters.blocking_connection import BlockingChannel

from offload.errors import OffloadError, ProvisioningError
from offload.provisioning.amqp import check_loopback_amqp_url, quiet_pika
from offload.provisioning.broker import redact_url
from targets.async_api.topology import ROUTING_KEY, Topology
from targets.common.jobs import JobState, WelcomeEmailJob

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
#: the job_events detail of a replay, so a job's history shows where the extra attempt came from
REPLAY_DETAIL = "replayed from the dead-letter queue"
#: what the broker and the worker wrote about the previous life; a replayed copy starts afresh
_HISTORY_HEADERS = frozenset(
    {
        "x-death",
        "x-first-death-reason",
        "x-first-death-queue",
        "x-first-death-exchange",
        "x-last-death-reason",
        "x-last-death-queue",
        "x-last-death-exchange",
        "x-delivery-count",
        "x-last-error",
    }
)
#: outcomes of a replay that did what was asked
_DONE = frozenset({"replayed", "would_replay", "removed", "would_remove"})


class DeadLetterInputError(OffloadError):
    """The request cannot be carried out as given (URL, queue prefix, database); exit code 2."""

    exit_code = 2


class PublishRefused(Exception):
    """The broker did not confirm a replayed copy (nack, unroutable, or connection lost)."""


def resolve_amqp_url(url: str | None) -> str:
    """``url``, else ``AMQP_URL``, else the local broker; refused unless on a loopback host."""
    url = url or os.environ.get("AMQP_URL", "").strip() or DEFAULT_AMQP_URL
    try:
        check_loopback_amqp_url(url, origin="the AMQP URL")
    except ProvisioningError as exc:
        raise DeadLetterInputError(str(exc).replace(url, redact_url(url))) from exc
    return url


# -- one dead letter ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DeadLetter:
    """One message of the dead-letter queue, read but not acknowledged."""

    #: 1 = the oldest (the head of the queue)
    position: int
    job_id: str | None
    user_id: str | None
    email: str | None
    correlation_id: str | None
    #: the x-attempt header: the attempt that ended in the dead-letter queue
    attempts: int | None
    #: why the broker dead-lettered it: rejected (the worker gave up), delivery_limit (it kept
    #: crashing workers), expired, maxlen
    reason: str | None
    #: the queue it died in
    died_in: str | None
    died_at: datetime | None
    created_at: datetime | None
    #: the worker's error before the final attempt (x-last-error; absent after one attempt)
    last_error: str | None
    #: how often it was replayed before
    replays: int
    #: why the body is not a job (such a message is never replayed)
    malformed: str | None
    body: bytes = field(repr=False)
    properties: pika.BasicProperties = field(repr=False)
    delivery_tag: int = field(repr=False)

    def to_json(self, job: JobRecord | None = None) -> dict[str, Any]:
        return {
            "position": self.position,
            "job_id": self.job_id,
            "user_id": self.user_id,
            "email": self.email,
            "correlation_id": self.correlation_id,
            "attempts": self.attempts,
            "reason": self.reason,
            "died_in": self.died_in,
            "died_at": _iso(self.died_at),
            "created_at": _iso(self.created_at),
            "last_error": self.last_error,
            "replays": self.replays,
            "malformed": self.malformed,
            "job": job.to_json() if job else None,
        }


def read_dead_letter(
    position: int, method: Any, properties: pika.BasicProperties, body: bytes
) -> DeadLetter:
    """Everything the message says about its job and its death (x-death, most recent first)."""
    headers = properties.headers or {}
    deaths = headers.get("x-death")
    last_death = deaths[0] if isinstance(deaths, list) and deaths else {}
    last_death = last_death if isinstance(last_death, dict) else {}
    reason = (
        _text(last_death.get("reason"))
        or _text(headers.get("x-last-death-reason"))
        or _text(headers.get("x-first-death-reason"))
    )
    died_in = _text(last_death.get("queue")) or _text(headers.get("x-first-death-queue"))
    died_at = last_death.get("time")
    job: WelcomeEmailJob | None = None
    malformed = None
    try:
        job = WelcomeEmailJob.from_bytes(body)
    except ValueError as exc:  # JSON, UTF-8 and pydantic errors are all ValueErrors
        malformed = f"not a job: {str(exc).splitlines()[0][:120]}"
    created = job.created_at if job else properties.timestamp
    return DeadLetter(
        position=position,
        job_id=job.job_id if job else properties.message_id,
        user_id=job.user_id if job else None,
        email=job.email if job else None,
        correlation_id=job.correlation_id if job else properties.correlation_id,
        attempts=_int(headers.get("x-attempt")),
        reason=reason,
        died_in=died_in,
        died_at=died_at if isinstance(died_at, datetime) else None,
        created_at=datetime.fromtimestamp(created, UTC) if created else None,
        last_error=_text(headers.get("x-last-error")),
        replays=_int(headers.get("x-replays")) or 0,
        malformed=malformed,
        body=body,
        properties=properties,
        delivery_tag=method.delivery_tag,
    )


def replay_copy(letter: DeadLetter) -> pika.BasicProperties:
    """Properties of the replayed copy: the same job, attempt 1, its death history dropped."""
    original = letter.properties
    headers = {k: v for k, v in (original.headers or {}).items() if k not in _HISTORY_HEADERS}
    headers["x-attempt"] = 1
    headers["x-replays"] = letter.replays + 1
    return pika.BasicProperties(
        content_type=original.content_type,
        delivery_mode=pika.DeliveryMode.Persistent,
        message_id=original.message_id,
        correlation_id=original.correlation_id,
        type=original.type,
        timestamp=original.timestamp,
        headers=headers,
    )


# -- the queue ---------------------------------------------------------------------------------


class DeadLetterQueue:
    """One broker connection holding read-but-unacknowledged dead letters of one design.

    Closing it hands back every letter not removed. Reads stop at the depth seen on opening,
    so copies that die again while a replay runs are not read (and replayed) a second time.
    """

    def __init__(self, amqp_url: str, queue_prefix: str, *, timeout: float = 5.0) -> None:
        self.url = amqp_url
        self.topology = Topology(queue_prefix, (1.0,))
        self._connection = _connect(amqp_url, timeout)
        self._publisher: BlockingChannel | None = None
        try:
            self._reader = self._connection.channel()
            self.depth = self._passive_depth()
        except BaseException:
            self.close()
            raise

    @property
    def queue(self) -> str:
        return self.topology.dead_queue

    def _passive_depth(self) -> int:
        try:
            return self._reader.queue_declare(self.queue, passive=True).method.message_count
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code == 404:
                raise DeadLetterInputError(
                    f"the broker at {redact_url(self.url)} has no queue {self.queue!r}: check "
                    "--queue-prefix (the designs default to 'offload'; `offload up` uses "
                    "'offload.up.async')"
                ) from exc
            raise self._lost(exc) from exc
        except pika.exceptions.AMQPError as exc:
            raise self._lost(exc) from exc

    def letters(self, limit: int | None = None) -> Iterator[DeadLetter]:
        """Dead letters oldest first, each held unacknowledged until removed or closed."""
        bound = self.depth if limit is None else min(limit, self.depth)
        for position in range(1, bound + 1):
            try:
                method, properties, body = self._reader.basic_get(self.queue, auto_ack=False)
            except pika.exceptions.AMQPError as exc:
                raise self._lost(exc) from exc
            if method is None:  # someone else took the rest meanwhile
                return
            yield read_dead_letter(position, method, properties, body)

    def republish(self, letter: DeadLetter) -> None:
        """Publish a fresh copy to the jobs exchange; returns once the broker confirmed it."""
        try:
            if self._publisher is None:
                self._publisher = self._connection.channel()
                self._publisher.confirm_delivery()
            self._publisher.basic_publish(
                self.topology.jobs_exchange,
                ROUTING_KEY,
                letter.body,
                replay_copy(letter),
                mandatory=True,
            )
        except pika.exceptions.UnroutableError as exc:
            raise PublishRefused(
                f"no queue is bound to {self.topology.jobs_exchange} for {ROUTING_KEY!r}"
            ) from exc
        except pika.exceptions.NackError as exc:
            raise PublishRefused("the broker refused the copy (nack)") from exc
        except pika.exceptions.AMQPError as exc:
            raise PublishRefused(f"the copy's outcome is unknown: {_reason(exc)}") from exc

    def remove(self, letter: DeadLetter) -> None:
        """Acknowledge (delete) a dead letter."""
        try:
            self._reader.basic_ack(letter.delivery_tag)
        except pika.exceptions.AMQPError as exc:
            raise self._lost(exc) from exc

    def close(self) -> None:
        """Close the connection: the broker takes back every letter not removed."""
        with contextlib.suppress(pika.exceptions.AMQPError, OSError):
            if self._connection.is_open:
                self._connection.close()

    def __enter__(self) -> DeadLetterQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _lost(self, exc: BaseException) -> ProvisioningError:
        return ProvisioningError(
            f"lost the connection to the broker at {redact_url(self.url)}: {_reason(exc)} "
            "(unacknowledged dead letters went back to the queue)"
        )


def _connect(url: str, timeout: float) -> pika.BlockingConnection:
    try:
        params = pika.URLParameters(url)
    except Exception as exc:  # pika raises assorted errors for bad URLs
        raise DeadLetterInputError(f"not a usable AMQP URL {redact_url(url)}: {exc}") from exc
    params.socket_timeout = timeout
    params.stack_timeout = timeout
    params.blocked_connection_timeout = timeout * 2
    params.connection_attempts = 1
    params.heartbeat = 10
    params.client_properties = {"connection_name": "offload-dlq"}
    with quiet_pika():
        try:
            return pika.BlockingConnection(params)
        except pika.exceptions.ProbableAuthenticationError as exc:
            raise ProvisioningError(
                f"the broker at {redact_url(url)} refused the credentials: {_reason(exc)}"
            ) from exc
        except (pika.exceptions.AMQPError, OSError) as exc:
            raise ProvisioningError(
                f"the broker at {redact_url(url)} did not answer within {timeout:g} s "
                f"({_reason(exc)}); is it running? (set --amqp-url or AMQP_URL)"
            ) from exc


# -- the job states ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class JobRecord:
    """A job's row in the design's database, as far as the dead-letter queue cares."""

    state: str
    attempts: int
    last_error: str | None

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "attempts": self.attempts, "last_error": self.last_error}


class JobStates:
    """The ``jobs`` and ``job_events`` tables of the async design (SQLAlchemy Core)."""

    def __init__(self, database_url: str, schema: str | None = None) -> None:
        from sqlalchemy.engine import make_url

        from targets.common.store import make_engine, normalise_url

        try:
            url = make_url(normalise_url(database_url))
        except sa.exc.ArgumentError as exc:
            raise DeadLetterInputError(f"not a database URL: {exc}") from exc
        self.shown = url.render_as_string(hide_password=True)
        if url.drivername.startswith("sqlite"):
            path = Path(url.database or "")
            if not url.database or not path.is_file():
                # connecting would create an empty file and report every job as unknown
                raise DeadLetterInputError(f"no SQLite database at {self.shown}")
        self.engine = make_engine(database_url, schema)

    def lookup(self, job_ids: Collection[str]) -> dict[str, JobRecord]:
        from targets.common.store import jobs

        if not job_ids:
            return {}
        query = sa.select(jobs.c.id, jobs.c.state, jobs.c.attempts, jobs.c.last_error).where(
            jobs.c.id.in_(list(job_ids))
        )
        with self._errors(), self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return {
            row.id: JobRecord(state=row.state, attempts=row.attempts, last_error=row.last_error)
            for row in rows
        }

    def reset_to_queued(self, job_id: str) -> bool:
        """Mark a job queued again for its replay (committed); False if it was delivered."""
        from targets.common.store import jobs

        return self._move(
            job_id,
            jobs.c.state != JobState.DELIVERED.value,
            JobState.QUEUED,
            attempt=0,
            detail=REPLAY_DETAIL,
        )

    def undo_reset(self, job_id: str, attempt: int, reason: str) -> bool:
        """Back to dead_lettered after a refused replay, unless a worker took the job meanwhile."""
        from targets.common.store import jobs

        return self._move(
            job_id,
            jobs.c.state == JobState.QUEUED.value,
            JobState.DEAD_LETTERED,
            attempt=attempt,
            detail=f"replay failed: {reason}"[:500],
        )

    def _move(
        self, job_id: str, condition: Any, state: JobState, *, attempt: int, detail: str
    ) -> bool:
        """Compare-and-set the job's state and record the event, in one transaction."""
        from targets.common.store import job_events, jobs

        now = time.time()
        with self._errors(), self.engine.begin() as conn:
            changed = conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id)
                .where(condition)
                .values(state=state.value, updated_at=now)
            ).rowcount
            if changed == 1:
                conn.execute(
                    job_events.insert().values(
                        job_id=job_id, state=state.value, attempt=attempt, at=now, detail=detail
                    )
                )
        return changed == 1

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> JobStates:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sa.exc.SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc
            first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
            raise ProvisioningError(
                f"cannot use the jobs table at {self.shown}: {first} "
                "(is it the async design's database? set --db-schema for PostgreSQL)"
            ) from exc


# -- show and replay ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Peek:
    """What ``show`` saw: the first ``len(letters)`` of ``depth`` dead letters."""

    queue: str
    depth: int
    letters: list[DeadLetter]
    #: job id → its row, when a database was given
    jobs: dict[str, JobRecord] | None

    def to_json(self) -> dict[str, Any]:
        records = self.jobs or {}
        return {
            "queue": self.queue,
            "depth": self.depth,
            "shown": len(self.letters),
            "dead_letters": [
                letter.to_json(records.get(letter.job_id or "")) for letter in self.letters
            ],
        }


def peek_dead_letters(
    amqp_url: str, queue_prefix: str, *, limit: int | None = None, jobs: JobStates | None = None
) -> Peek:
    """Read up to ``limit`` dead letters, oldest first, and hand every one of them back."""
    with DeadLetterQueue(amqp_url, queue_prefix) as dlq:
        letters = list(dlq.letters(limit))
        queue, depth = dlq.queue, dlq.depth
    records = None
    if jobs is not None:
        records = jobs.lookup({letter.job_id for letter in letters if letter.job_id})
    return Peek(queue=queue, depth=depth, letters=letters, jobs=records)


@dataclass(frozen=True)
class ReplayOutcome:
    """What happened to one job (all dead letters of one job id are handled together)."""

    job_id: str
    #: replayed, would_replay, removed, would_remove, skipped, failed, not_found
    action: str
    detail: str = ""
    copies: int = 0

    @property
    def done(self) -> bool:
        return self.action in _DONE

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "action": self.action,
            "detail": self.detail,
            "copies": self.copies,
        }


@dataclass(frozen=True)
class ReplayReport:
    queue: str
    depth: int
    dry_run: bool
    outcomes: list[ReplayOutcome]

    @property
    def ok(self) -> bool:
        """Something matched and every match was handled as asked."""
        return bool(self.outcomes) and all(outcome.done for outcome in self.outcomes)

    def counts(self) -> Counter[str]:
        return Counter(outcome.action for outcome in self.outcomes)

    def to_json(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "depth": self.depth,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "counts": dict(self.counts()),
            "outcomes": [outcome.to_json() for outcome in self.outcomes],
        }


def replay_dead_letters(
    amqp_url: str,
    queue_prefix: str,
    *,
    job_ids: Collection[str] | None,
    jobs: JobStates | None,
    dry_run: bool = False,
) -> ReplayReport:
    """Replay the dead letters of ``job_ids`` (``None``: all of them), oldest first.

    The job's recorded state decides (when ``jobs`` is given): ``delivered`` → its dead letters
    are stale copies and are removed; no row → skipped and left in the queue; any other state
    → replayed (``dead_lettered`` after a rejection, ``sending`` after the delivery limit,
    ``queued`` after an interrupted replay). ``jobs`` may be omitted only for a dry run (see
    the module docstring). The first broker or database failure stops the replay; what was
    not replayed stays in the queue.
    """
    if jobs is None and not dry_run:
        raise DeadLetterInputError(
            "replay needs the async design's database (--database-url, and --db-schema on "
            "PostgreSQL): the worker skips jobs recorded as dead_lettered, so a copy sent "
            "without resetting the job to queued would be dropped. --dry-run works without it."
        )
    wanted = None if job_ids is None else dict.fromkeys(job_ids)  # a set that keeps the order
    with DeadLetterQueue(amqp_url, queue_prefix) as dlq:
        groups: dict[str, list[DeadLetter]] = {}
        outcomes: list[ReplayOutcome] = []
        for letter in dlq.letters():
            job_id = letter.job_id or f"<no id at position {letter.position}>"
            if wanted is not None and job_id not in wanted:
                continue
            if letter.malformed:
                outcomes.append(
                    ReplayOutcome(job_id, "skipped", f"{letter.malformed}; left in the queue", 1)
                )
                continue
            groups.setdefault(job_id, []).append(letter)
        records = jobs.lookup(groups) if jobs is not None else {}
        stopped = False
        for job_id, copies in groups.items():
            if stopped:
                outcomes.append(
                    ReplayOutcome(job_id, "skipped", "not tried after the failure above", 0)
                )
                continue
            try:
                outcome = _replay_job(dlq, jobs, job_id, copies, records.get(job_id), dry_run)
            except ProvisioningError as exc:  # the database or the broker connection failed
                outcome = ReplayOutcome(job_id, "failed", str(exc), len(copies))
            outcomes.append(outcome)
            stopped = outcome.action == "failed"
        seen = {outcome.job_id for outcome in outcomes}
        for job_id in wanted or []:
            if job_id not in seen:
                outcomes.append(ReplayOutcome(job_id, "not_found", f"not in {dlq.queue}", 0))
        return ReplayReport(queue=dlq.queue, depth=dlq.depth, dry_run=dry_run, outcomes=outcomes)


def _replay_job(
    dlq: DeadLetterQueue,
    jobs: JobStates | None,
    job_id: str,
    copies: list[DeadLetter],
    record: JobRecord | None,
    dry_run: bool,
) -> ReplayOutcome:
    count = len(copies)
    if jobs is not None:
        if record is None:
            return ReplayOutcome(
                job_id, "skipped", "no such job in the database; left in the queue", count
            )
        if record.state == JobState.DELIVERED:
            if dry_run:
                return ReplayOutcome(
                    job_id, "would_remove", "delivered already: a stale dead letter", count
                )
            detail = _remove_all(dlq, copies)
            return ReplayOutcome(job_id, "removed", f"delivered already; {detail}", count)
    if dry_run:
        state = f"the job is {record.state}" if record else ""
        return ReplayOutcome(job_id, "would_replay", state, count)
    assert jobs is not None and record is not None  # a real replay always has the database
    if not jobs.reset_to_queued(job_id):
        return ReplayOutcome(
            job_id,
            "skipped",
            "delivered meanwhile; the dead letter stays until the next replay",
            count,
        )
    try:
        dlq.republish(copies[0])
    except PublishRefused as exc:
        undone = jobs.undo_reset(job_id, record.attempts, str(exc))
        state = "dead_lettered" if undone else "as a worker left it"
        return ReplayOutcome(
            job_id, "failed", f"{exc}; the job stays {state} and in the queue", count
        )
    detail = "job reset to queued, copy confirmed by the broker"
    try:
        _remove_all(dlq, copies)
    except ProvisioningError as exc:
        detail += f"; the dead letter stays as a stale copy ({exc}), the next replay removes it"
    return ReplayOutcome(job_id, "replayed", detail, count)


def _remove_all(dlq: DeadLetterQueue, copies: list[DeadLetter]) -> str:
    for letter in copies:
        dlq.remove(letter)
    return "dead letter removed" if len(copies) == 1 else f"{len(copies)} dead letters removed"


# -- small helpers -----------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
