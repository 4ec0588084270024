"""``GET /ledger``: the users created since a time, with their jobs, read only and paginated.

offload reads an external target's email ledger either from its database or, when it has no
access to that database, from this endpoint (``ledger = "http://.../ledger"`` in the
manifest; docs/targets.md, "The ledger endpoint"). Every reference design serves it, so that
the HTTP form is tested against real designs. The page's models are the one definition of
the wire format: the designs write it, offload's reader (``offload/run/http_ledger.py``)
reads it. It is not part of the load: the load plan never calls it.

Pages are keyset-paginated on ``(created_at, id)``: ``next`` is the last user's position, so a
page never repeats or skips a user that existed when the previous page was read, and a large
run is read in bounded answers instead of one huge one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Annotated

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.engine import Engine

from targets.common.jobs import JobState
from targets.common.problems import ApiProblem
from targets.common.signup import validation_problem
from targets.common.store import job_events, jobs, users

#: the largest page a client may ask for (and the default): bounds one answer's size
MAX_LIMIT = 500
#: ``<created_at>_<id>``: the position after which the next page starts
CURSOR_PATTERN = r"^[0-9]{1,20}(\.[0-9]{1,20})?_[0-9a-f]{32}$"
_FINISHED = [state.value for state in JobState if state.finished]


class LedgerQuery(BaseModel):
    """The query string of ``GET /ledger``; anything else is refused (422, with the field)."""

    model_config = ConfigDict(extra="forbid")

    #: epoch seconds: users created at or after this time (the run's start)
    since: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    #: the previous page's ``next``; absent for the first page
    after: Annotated[str | None, Field(pattern=CURSOR_PATTERN)] = None
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = MAX_LIMIT

    def position(self) -> tuple[float, str] | None:
        """``after`` as ``(created_at, id)``."""
        if self.after is None:
            return None
        created_at, user_id = self.after.rsplit("_", 1)
        return float(created_at), user_id


class LedgerEvent(BaseModel):
    """One state transition of a job (a row of ``job_events``)."""

    seq: int
    state: JobState
    attempt: int
    at: float
    detail: str | None = None


class LedgerJob(BaseModel):
    """A welcome-email job (a row of ``jobs``) and its transitions, oldest first."""

    id: str
    state: JobState
    attempts: int
    correlation_id: str
    created_at: float
    updated_at: float
    last_error: str | None = None
    events: list[LedgerEvent] = Field(default_factory=list)


class LedgerUser(BaseModel):
    """A user owed one welcome email (a row of ``users``) and its jobs (none: sync designs)."""

    id: str
    email: str
    correlation_id: str
    created_at: float
    jobs: list[LedgerJob] = Field(default_factory=list)


class LedgerPage(BaseModel):
    """One answer of ``GET /ledger``."""

    users: list[LedgerUser]
    #: ``after`` for the next page; null on the last page
    next: str | None
    #: jobs of users created since ``since`` not yet delivered or dead-lettered, over the
    #: whole window (not this page): what the drain waits for
    unfinished_jobs: int


def read_ledger_page(engine: Engine, query: LedgerQuery) -> LedgerPage:
    """One page, in one read transaction (three selects: users, their jobs, their events)."""
    window = users.c.created_at >= query.since
    page = sa.select(users).where(window)
    position = query.position()
    if position is not None:
        created_at, user_id = position
        page = page.where(
            sa.or_(
                users.c.created_at > created_at,
                sa.and_(users.c.created_at == created_at, users.c.id > user_id),
            )
        )
    page = page.order_by(users.c.created_at, users.c.id).limit(query.limit + 1)
    with engine.connect() as conn:
        rows = conn.execute(page).mappings().all()
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        ids = [row["id"] for row in rows]
        job_rows = (
            conn.execute(sa.select(jobs).where(jobs.c.user_id.in_(ids)).order_by(jobs.c.created_at))
            .mappings()
            .all()
            if ids
            else []
        )
        job_ids = [row["id"] for row in job_rows]
        event_rows = (
            conn.execute(
                sa.select(job_events)
                .where(job_events.c.job_id.in_(job_ids))
                .order_by(job_events.c.seq)
            )
            .mappings()
            .all()
            if job_ids
            else []
        )
        unfinished = conn.execute(
            sa.select(sa.func.count())
            .select_from(jobs.join(users, jobs.c.user_id == users.c.id))
            .where(window, jobs.c.state.notin_(_FINISHED))
        ).scalar_one()
    events: dict[str, list[LedgerEvent]] = defaultdict(list)
    for row in event_rows:
        events[row["job_id"]].append(LedgerEvent.model_validate(dict(row)))
    user_jobs: dict[str, list[LedgerJob]] = defaultdict(list)
    for row in job_rows:
        user_jobs[row["user_id"]].append(
            LedgerJob.model_validate({**row, "events": events[row["id"]]})
        )
    listed = [LedgerUser.model_validate({**row, "jobs": user_jobs[row["id"]]}) for row in rows]
    last = listed[-1] if listed else None
    return LedgerPage(
        users=listed,
        next=f"{last.created_at!r}_{last.id}" if more and last is not None else None,
        unfinished_jobs=int(unfinished),
    )


def parse_ledger_query(args: Mapping[str, list[str]]) -> LedgerQuery:
    """The query string as the WSGI design receives it (every value of every name): a
    repeated or unknown parameter, or a bad value, is a 422 naming the field."""
    unknown = sorted(set(args) - set(LedgerQuery.model_fields))
    if unknown:
        allowed = ", ".join(LedgerQuery.model_fields)
        raise ApiProblem(
            422, "validation_failed", f"unknown query parameter(s) {unknown} (allowed: {allowed})"
        )
    repeated = sorted(name for name, values in args.items() if len(values) > 1)
    if repeated:
        raise ApiProblem(
            422, "validation_failed", f"query parameter(s) given more than once: {repeated}"
        )
    try:
        return LedgerQuery.model_validate({name: values[0] for name, values in args.items()})
    except ValidationError as exc:
        raise validation_problem(exc) from exc
