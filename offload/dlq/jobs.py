"""The jobs table as a replay sees it: read a job's state, reset it to queued, undo that."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from offload.dlq.letters import REPLAY_DETAIL, DeadLetterInputError
from offload.errors import ProvisioningError
from offload.target.reference import JobState, job_events, jobs, make_engine, normalise_url

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
        return self._move(
            job_id,
            jobs.c.state != JobState.DELIVERED.value,
            JobState.QUEUED,
            attempt=0,
            detail=REPLAY_DETAIL,
        )

    def undo_reset(self, job_id: str, attempt: int, reason: str) -> bool:
        """Back to dead_lettered after a refused replay, unless a worker took the job meanwhile."""
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
