"""The user store both designs share: SQLite by default, PostgreSQL when configured.

SQLAlchemy Core keeps one code path for both databases. Each write is a short transaction of
its own: the designs never hold a transaction open across a call to the provider or the
broker (on SQLite that would serialise every signup behind the slowest email).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from targets.common.ids import new_id
from targets.common.jobs import JobState, WelcomeEmailJob
from targets.common.problems import ApiProblem
from targets.common.signup import SignupRequest

metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("display_name", sa.String(100), nullable=False),
    sa.Column("correlation_id", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.String(32), nullable=False, index=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("correlation_id", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("last_error", sa.String(500)),
)

job_events = sa.Table(
    "job_events",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(32), nullable=False, index=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("detail", sa.String(500)),
)


@dataclass(frozen=True, kw_only=True)
class User:
    id: str
    email: str
    display_name: str
    correlation_id: str
    created_at: float

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "display_name": self.display_name,
            "created_at": self.created_at,
        }


@dataclass(frozen=True, kw_only=True)
class Job:
    id: str
    user_id: str
    state: JobState
    attempts: int
    correlation_id: str
    created_at: float
    updated_at: float
    last_error: str | None

    def public(self) -> dict[str, Any]:
        return {
            "job_id": self.id,
            "user_id": self.user_id,
            "state": self.state.value,
            "attempts": self.attempts,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "last_error": self.last_error,
        }


def email_taken() -> ApiProblem:
    return ApiProblem(409, "email_taken", "a user with this email address already exists")


def make_engine(database_url: str, schema: str | None = None) -> Engine:
    """An engine tuned for many short transactions from several processes at once."""
    url = normalise_url(database_url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL lets readers and one writer proceed together across processes
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    connect_args: dict[str, Any] = {"connect_timeout": 5}
    if schema:
        connect_args["options"] = f"-csearch_path={schema}"
    return sa.create_engine(url, pool_size=10, max_overflow=20, connect_args=connect_args)


def normalise_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` and use the psycopg 3 driver for both."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_schema(engine: Engine) -> None:
    """Create the tables if missing (the harness calls this before starting any target)."""
    metadata.create_all(engine, checkfirst=True)


class UserStore:
    """Users, their welcome-email jobs and the jobs' state transitions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- users ---------------------------------------------------------------------------
    def create_user(self, signup: SignupRequest, correlation_id: str) -> User:
        user = self._new_user(signup, correlation_id)
        try:
            with self.engine.begin() as conn:
                conn.execute(_INSERT_USER, user.__dict__)
        except sa.exc.IntegrityError as exc:
            raise email_taken() from exc
        return user

    def create_user_with_job(self, signup: SignupRequest, correlation_id: str) -> tuple[User, Job]:
        """Store the user and its queued job in one transaction (both or neither)."""
        created = self.create_users_with_jobs([(signup, correlation_id)])[0]
        if created is None:
            raise email_taken()
        return created

    def create_users_with_jobs(
        self, signups: Sequence[tuple[SignupRequest, str]]
    ) -> list[tuple[User, Job] | None]:
        """:meth:`create_user_with_job` for several signups; ``None`` for a taken address.

        All in one transaction when none collides (the common case: one commit for a batch of
        concurrent signups); when one does, each signup again in a transaction of its own, so
        one taken address fails only its own signup.
        """
        return self._create_in_batch(signups, self._insert_users_and_jobs)

    def _create_in_batch(
        self,
        signups: Sequence[tuple[SignupRequest, str]],
        insert: Callable[[sa.Connection, Sequence[tuple[User, Job]]], None],
    ) -> list[tuple[User, Job] | None]:
        """One transaction for the batch; after a collision, one per signup (see
        :meth:`create_users_with_jobs`). ``insert`` writes the rows of the given pairs."""
        created = [self._new_user_and_job(signup, cid) for signup, cid in signups]
        try:
            with self.engine.begin() as conn:
                insert(conn, created)
            return list(created)
        except sa.exc.IntegrityError:
            if len(created) == 1:
                return [None]
        outcomes: list[tuple[User, Job] | None] = []
        for pair in created:
            try:
                with self.engine.begin() as conn:
                    insert(conn, [pair])
                outcomes.append(pair)
            except sa.exc.IntegrityError:
                outcomes.append(None)
        return outcomes

    @staticmethod
    def _insert_users_and_jobs(conn: sa.Connection, created: Sequence[tuple[User, Job]]) -> None:
        conn.execute(_INSERT_USER, [user.__dict__ for user, _ in created])
        conn.execute(
            _INSERT_JOB, [{**job.__dict__, "state": job.state.value} for _, job in created]
        )
        conn.execute(
            _INSERT_EVENT,
            [
                {
                    "job_id": job.id,
                    "state": job.state.value,
                    "attempt": 0,
                    "at": job.created_at,
                    "detail": None,
                }
                for _, job in created
            ],
        )

    def _new_user_and_job(self, signup: SignupRequest, correlation_id: str) -> tuple[User, Job]:
        user = self._new_user(signup, correlation_id)
        job = Job(
            id=new_id(),
            user_id=user.id,
            state=JobState.QUEUED,
            attempts=0,
            correlation_id=correlation_id,
            created_at=user.created_at,
            updated_at=user.created_at,
            last_error=None,
        )
        return user, job

    def discard_signup(self, user_id: str) -> None:
        """Undo a signup whose email could not be handed on, so the client can simply retry."""
        with self.engine.begin() as conn:
            job_ids = [
                row.id
                for row in conn.execute(sa.select(jobs.c.id).where(jobs.c.user_id == user_id))
            ]
            if job_ids:
                conn.execute(job_events.delete().where(job_events.c.job_id.in_(job_ids)))
                conn.execute(jobs.delete().where(jobs.c.id.in_(job_ids)))
            conn.execute(users.delete().where(users.c.id == user_id))

    def get_user(self, user_id: str) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.id == user_id)).mappings().first()
        return User(**row) if row else None

    # -- jobs ----------------------------------------------------------------------------
    def get_job(self, job_id: str) -> Job | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().first()
        return _job(row) if row else None

    def start_attempt(self, job_id: str, attempt: int) -> Job | None:
        """Mark the job as being sent; ``None`` when the job no longer exists (signup undone).

        A job already finished is returned unchanged, so a redelivered copy can be acked
        without sending the email again.
        """
        return self.start_attempts([(job_id, attempt)])[0]

    def start_attempts(self, attempts: Sequence[tuple[str, int]]) -> list[Job | None]:
        """:meth:`start_attempt` for several jobs in one transaction (a worker's batch)."""
        return self.record_job_steps(attempts, [])

    def record_job_steps(
        self, attempts: Sequence[tuple[str, int]], outcomes: Sequence[AttemptOutcome]
    ) -> list[Job | None]:
        """Attempts that start and outcomes of attempts that ended, in one transaction.

        Why one: a busy worker has jobs at both steps at once, and SQLite commits one writer
        at a time; a transaction (and a thread hop) per batch instead of two halves what each
        job pays in fixed costs. A job never has both steps in one batch (its outcome comes
        after the provider call its start allowed). Returns the jobs of ``attempts``, in order.
        """
        with self.engine.begin() as conn:
            started = self._start_attempts(conn, attempts) if attempts else []
            if outcomes:
                self._record_outcomes(conn, outcomes)
        return started

    @staticmethod
    def _start_attempts(
        conn: sa.Connection, attempts: Sequence[tuple[str, int]]
    ) -> list[Job | None]:
        """One UPDATE per attempt number in the batch (nearly always one) marks its unfinished
        jobs as sending and returns them; one SELECT reads the others (finished, or gone); one
        INSERT records the events. Every statement is built once, at import: building and
        hashing a statement per call cost more CPU than SQLite's own work for a small batch."""
        now = time.time()
        attempt_of = dict(attempts)
        ids_of: dict[int, list[str]] = {}
        for job_id, attempt in attempt_of.items():
            ids_of.setdefault(attempt, []).append(job_id)
        started: dict[str, Job] = {}
        for attempt, ids in ids_of.items():
            rows = conn.execute(_START_ATTEMPT, {"b_ids": ids, "b_attempt": attempt, "b_now": now})
            started.update((row["id"], _job(row)) for row in rows.mappings())
        others = [job_id for job_id in attempt_of if job_id not in started]
        found = (
            {row["id"]: _job(row) for row in conn.execute(_READ_JOBS, {"b_ids": others}).mappings()}
            if others
            else {}
        )
        if started:
            conn.execute(
                _INSERT_EVENT,
                [
                    {
                        "job_id": job_id,
                        "state": JobState.SENDING.value,
                        "attempt": attempt_of[job_id],
                        "at": now,
                        "detail": None,
                    }
                    for job_id in started
                ],
            )
        return [started.get(job_id) or found.get(job_id) for job_id, _ in attempts]

    def record_outcome(
        self, job_id: str, state: JobState, attempt: int, detail: str | None = None
    ) -> None:
        """Record where an attempt left the job (delivered, retrying or dead-lettered)."""
        self.record_outcomes([AttemptOutcome(job_id, state, attempt, detail)])

    def record_outcomes(self, outcomes: Sequence[AttemptOutcome]) -> None:
        """:meth:`record_outcome` for several jobs in one transaction (a worker's batch)."""
        if outcomes:
            self.record_job_steps([], outcomes)

    @staticmethod
    def _record_outcomes(conn: sa.Connection, outcomes: Sequence[AttemptOutcome]) -> None:
        now = time.time()
        rows = [
            {
                "b_id": o.job_id,
                "b_state": o.state.value,
                "b_attempts": o.attempt,
                "b_error": o.detail[:500] if o.detail else None,
            }
            for o in outcomes
        ]
        delivered = [row for row in rows if row["b_state"] == JobState.DELIVERED.value]
        failed = [row for row in rows if row["b_state"] != JobState.DELIVERED.value]
        if delivered:
            conn.execute(_RECORD_DELIVERED, [{**row, "b_now": now} for row in delivered])
        if failed:
            conn.execute(_RECORD_FAILED, [{**row, "b_now": now} for row in failed])
        conn.execute(
            _INSERT_EVENT,
            [
                {
                    "job_id": row["b_id"],
                    "state": row["b_state"],
                    "attempt": row["b_attempts"],
                    "at": now,
                    "detail": row["b_error"],
                }
                for row in rows
            ],
        )

    def unfinished_jobs(self) -> int:
        """Jobs not yet delivered or dead-lettered: zero means the async design has drained."""
        finished = [s.value for s in JobState if s.finished]
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count()).select_from(jobs).where(jobs.c.state.notin_(finished))
            ).scalar_one()

    @staticmethod
    def _new_user(signup: SignupRequest, correlation_id: str) -> User:
        return User(
            id=new_id(),
            email=signup.email,
            display_name=signup.display_name,
            correlation_id=correlation_id,
            created_at=time.time(),
        )


@dataclass(frozen=True)
class AttemptOutcome:
    """Where one attempt left a job: what :meth:`UserStore.record_outcomes` writes."""

    job_id: str
    state: JobState
    attempt: int
    detail: str | None = None


# Statements of the hot paths, built once: SQLAlchemy caches a statement's compiled form, but
# building the statement and its cache key again on every call was most of a small batch's CPU.
_INSERT_USER = users.insert()
_INSERT_JOB = jobs.insert()
# (each caller of _INSERT_EVENT names every column, `detail` too: one compiled form for all)
_INSERT_EVENT = job_events.insert()
_READ_JOBS = sa.select(jobs).where(jobs.c.id.in_(sa.bindparam("b_ids", expanding=True)))
# an attempt starts only for a job not yet finished; the job comes back (RETURNING) for the
# worker to act on. The finished states are spelled out (not NOT IN), so only the ids expand.
_START_ATTEMPT = (
    jobs.update()
    .where(jobs.c.id.in_(sa.bindparam("b_ids", expanding=True)))
    .where(sa.and_(*(jobs.c.state != state.value for state in JobState if state.finished)))
    .values(
        state=JobState.SENDING.value,
        attempts=sa.bindparam("b_attempt"),
        updated_at=sa.bindparam("b_now"),
    )
    .returning(*jobs.c)
)
# executemany statements for record_outcomes: a delivered job keeps its last error
_RECORD_DELIVERED = (
    jobs.update()
    .where(jobs.c.id == sa.bindparam("b_id"))
    .values(
        state=sa.bindparam("b_state"),
        attempts=sa.bindparam("b_attempts"),
        updated_at=sa.bindparam("b_now"),
    )
)
_RECORD_FAILED = _RECORD_DELIVERED.values(last_error=sa.bindparam("b_error"))


def _job(row: Any) -> Job:
    return Job(**{**row, "state": JobState(row["state"])})


# -- the transactional outbox (the outbox design) ---------------------------------------------
# The outbox design writes each welcome-email job's message here in the signup's own
# transaction, instead of publishing it on the request path; its relay publishes the rows
# and marks them. Kept apart from UserStore's methods so the other designs are untouched.

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(32), nullable=False, unique=True),
    #: the message body exactly as it goes on the queue (WelcomeEmailJob.to_bytes)
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    #: set once the broker has confirmed the publish; NULL = still to publish
    sa.Column("published_at", sa.Float, index=True),
    sa.Column("publish_attempts", sa.Integer, nullable=False, default=0),
)


@dataclass(frozen=True)
class OutboxMessage:
    """One unpublished outbox row, as the relay reads it."""

    seq: int
    job_id: str
    payload: bytes


class OutboxStore(UserStore):
    """:class:`UserStore` plus the outbox: signups that write their job's message in the same
    transaction (user, job and message: all or none), and what the relay reads and marks."""

    def create_users_with_outbox(
        self,
        signups: Sequence[tuple[SignupRequest, str]],
        traceparents: Mapping[str, str] | None = None,
    ) -> list[tuple[User, Job] | None]:
        """:meth:`UserStore.create_users_with_jobs`, each job's message written to the outbox
        in the same transaction; ``None`` for a taken address. ``traceparents``: by email
        address, the trace each signup's message continues (tracing on); an address is
        stored at most once, so it names one signup."""
        parents = traceparents or {}
        return self._create_in_batch(
            signups, lambda conn, created: self._insert_with_outbox(conn, created, parents)
        )

    @classmethod
    def _insert_with_outbox(
        cls,
        conn: sa.Connection,
        created: Sequence[tuple[User, Job]],
        traceparents: Mapping[str, str],
    ) -> None:
        cls._insert_users_and_jobs(conn, created)
        conn.execute(
            outbox.insert(),
            [
                {
                    "job_id": job.id,
                    "payload": WelcomeEmailJob(
                        job_id=job.id,
                        user_id=user.id,
                        email=user.email,
                        correlation_id=job.correlation_id,
                        created_at=job.created_at,
                        traceparent=traceparents.get(user.email),
                    )
                    .to_bytes()
                    .decode(),
                    "created_at": job.created_at,
                    "publish_attempts": 0,
                }
                for user, job in created
            ],
        )

    def unpublished(self, limit: int) -> list[OutboxMessage]:
        """The oldest ``limit`` messages not yet confirmed by the broker, oldest first.

        No row lock: the design runs one relay. Several relays would each need a share of
        the rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, held while publishing).
        """
        query = (
            sa.select(outbox.c.seq, outbox.c.job_id, outbox.c.payload)
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.seq)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [
                OutboxMessage(row.seq, row.job_id, row.payload.encode())
                for row in conn.execute(query)
            ]

    def mark_published(self, seqs: Sequence[int]) -> None:
        """Record the broker's confirm of these messages (one transaction for the batch); a
        message with more than one attempt may have reached the queue more than once."""
        if not seqs:
            return
        with self.engine.begin() as conn:
            conn.execute(
                outbox.update()
                .where(outbox.c.seq.in_(list(seqs)))
                .values(published_at=time.time(), publish_attempts=outbox.c.publish_attempts + 1)
            )

    def count_failed_publishes(self, seqs: Sequence[int]) -> None:
        """Count an unconfirmed publish attempt of these messages (they stay unpublished)."""
        if not seqs:
            return
        with self.engine.begin() as conn:
            conn.execute(
                outbox.update()
                .where(outbox.c.seq.in_(list(seqs)))
                .values(publish_attempts=outbox.c.publish_attempts + 1)
            )

    def unpublished_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count())
                .select_from(outbox)
                .where(outbox.c.published_at.is_(None))
            ).scalar_one()
