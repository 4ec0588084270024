"""``dlq show`` and ``dlq replay``: peek at every dead letter, re-drive the chosen ones."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from offload.dlq.jobs import JobRecord, JobStates
from offload.dlq.letters import DeadLetter, DeadLetterInputError, PublishRefused
from offload.dlq.queue import DeadLetterQueue
from offload.errors import ProvisioningError
from offload.target.reference import JobState

#: outcomes of a replay that did what was asked
_DONE = frozenset({"replayed", "would_replay", "removed", "would_remove"})


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
